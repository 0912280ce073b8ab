// The control API's routes, composed in one place: the node's own group (status, peers, license) and
// the group each feature folder contributes (pubsub, decisions, election, tasks, event log, ops, the
// portal). A new feature adds its group here, from its own folder's routes.ts.
import type { Route } from '../api/server.ts';
import { decisionRoutes, type DecisionRouteComponents } from '../decisions/routes.ts';
import { electionRoutes } from '../election/routes.ts';
import type { ElectionService } from '../election/service.ts';
import { hapRoutes, type HapRouteComponents } from '../hap/routes.ts';
import type { Admission, AdmittedPeer } from '../license/admission.ts';
import { opsRoutes } from '../ops/routes.ts';
import type { OpsService } from '../ops/service.ts';
import { ClientTopics } from '../pubsub/client-topics.ts';
import { proposalRoutes, type ProposalRouteComponents } from '../proposals/routes.ts';
import { pubsubRoutes } from '../pubsub/routes.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import { agentRoutes, type AgentRouteDeps } from '../agent/routes.ts';
import { taskRoutes } from '../tasks/routes.ts';
import type { TaskService } from '../tasks/service.ts';
import { parseAddress, requireDecisionPath } from '../ucxl/address.ts';
import { logRoutes, type LogRouteComponents } from './log-routes.ts';
import type { NodeStatus, PeerView } from './status.ts';

/** What `GET /v1/license` answers: this node's license and lease, and the peers that proved theirs. */
export interface LicenseInfo {
  license: NodeStatus['license'];
  admitted: AdmittedPeer[];
  refused: number;
}

/** The node facade's own queries. */
export interface NodeQueries {
  status(): NodeStatus;
  peers(signal?: AbortSignal): Promise<PeerView[]>;
}

/** The node's own group: status, peers and the license view. */
export function nodeRoutes(node: NodeQueries, c: { admission: Admission }): Record<string, Route> {
  return {
    'GET /v1/status': async () => node.status(),
    'GET /v1/peers': async ({ signal }) => node.peers(signal),
    'GET /v1/license': async (): Promise<LicenseInfo> => {
      const status = node.status();
      return {
        license: status.license,
        admitted: c.admission.admitted().filter((p) => p.peerId !== status.peerId),
        refused: c.admission.refusedCount,
      };
    },
  };
}

/** The parts of a node the route groups use (the components bag satisfies it). */
export interface RouteComponents
  extends DecisionRouteComponents, LogRouteComponents, HapRouteComponents, ProposalRouteComponents {
  admission: Admission;
  pubsub: ChorusPubSub;
  election: ElectionService;
  tasks: TaskService;
  presence: AgentRouteDeps['presence'] & HapRouteComponents['presence'];
  redactor: AgentRouteDeps['redactor'] & HapRouteComponents['redactor'];
  recorder: { record(kind: string, data: unknown): void };
  ops: OpsService | undefined;
  config: DecisionRouteComponents['config'] & LogRouteComponents['config'] & { agent: { role: string } };
}

/** Every route the control API serves. */
export function controlRoutes(node: NodeQueries, c: RouteComponents): Record<string, Route> {
  const clientTopics = new ClientTopics(c.pubsub); // topics joined for subscribe clients and portal rooms
  return {
    ...decisionRoutes(c),
    ...proposalRoutes(c),
    ...electionRoutes(c),
    ...opsRoutes(c),
    ...pubsubRoutes(c, clientTopics),
    ...logRoutes(c),
    ...taskRoutes({
      tasks: c.tasks,
      role: () => c.config.agent.role,
      writeResult: (address, content, roles, signal) =>
        c.decisions.put(requireDecisionPath(parseAddress(address), address), content, {
          roles,
          contentType: 'text/markdown',
          signal,
        }),
    }),
    ...hapRoutes(c, {
      topics: clientTopics,
      peers: (signal) => node.peers(signal),
      sources: {
        proposal: (send) => {
          const listener = (p: unknown): void => send(p);
          c.proposals.on('proposal', listener);
          return () => c.proposals.off('proposal', listener);
        },
      },
    }),
    ...agentRoutes({ presence: c.presence, redactor: c.redactor, record: (k, d) => c.recorder.record(k, d) }),
    ...nodeRoutes(node, c),
  };
}
