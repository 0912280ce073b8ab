// The control API routes a node serves to its client verbs: status, peers, publish, subscribe (and
// the decision and ops routes of their own modules).
import type { PublishRequest } from '../api/protocol.ts';
import type { Route } from '../api/server.ts';
import { UsageError } from '../errors.ts';
import type { ReceivedMessage } from '../pubsub/pubsub.ts';
import { STATIC_TOPICS } from '../pubsub/topics.ts';
import { opsRoutes } from '../ops/routes.ts';
import { decisionRoutes } from './decision-routes.ts';
import { electionRoutes } from './election-routes.ts';
import { taskRoutes } from '../tasks/routes.ts';
import { agentRoutes } from '../agent/routes.ts';
import { parseAddress } from '../ucxl/address.ts';
import type { ChorusNode, NodeStatus } from './node.ts';
import type { AdmittedPeer } from '../license/admission.ts';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, field: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new UsageError(`${field} must be a list of strings`);
  return v;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`${field} must be a string`);
  return v;
}

/** Validates a publish request body (it comes from outside the process). */
export function parsePublishRequest(body: unknown): PublishRequest {
  if (!isRecord(body)) throw new UsageError('publish body must be a JSON object');
  return {
    type: optionalString(body.type, 'type'),
    topic: optionalString(body.topic, 'topic'),
    raw: body.raw === true,
    data: body.data ?? {},
    fromRole: optionalString(body.fromRole, 'fromRole'),
    toRoles: stringList(body.toRoles, 'toRoles'),
    requiredExpertise: stringList(body.requiredExpertise, 'requiredExpertise'),
    projectId: optionalString(body.projectId, 'projectId'),
    priority: optionalString(body.priority, 'priority'),
    threadId: optionalString(body.threadId, 'threadId'),
  };
}

/** Publishes a validated request through a node's pubsub (shared by the API and one-shot --join mode). */
export async function publishRequest(
  node: Pick<ChorusNode, 'pubsub'>,
  req: PublishRequest,
  opts: { ack?: boolean; signal?: AbortSignal } = {},
) {
  if (req.raw) {
    if (!req.topic) throw new UsageError('a raw publish needs a topic');
    node.pubsub.join(req.topic, { raw: true });
    return node.pubsub.publishRaw(req.topic, req.data, { signal: opts.signal });
  }
  if (!req.type) throw new UsageError('publish needs a message type (or --raw with a topic)');
  if (!isRecord(req.data)) throw new UsageError('message data must be a JSON object');
  return node.pubsub.publish(req.type, req.data, { ...req, ack: opts.ack, signal: opts.signal });
}

/** What `GET /v1/license` answers: this node's license and lease, and the peers that proved theirs. */
export interface LicenseInfo {
  license: NodeStatus['license'];
  admitted: AdmittedPeer[];
  refused: number;
}

export function controlRoutes(node: ChorusNode): Record<string, Route> {
  /** Topics joined on behalf of subscribe clients, with how many clients still want each. */
  const clientTopics = new Map<string, number>();
  return {
    ...decisionRoutes(node),
    ...electionRoutes(node),
    ...opsRoutes(node),
    ...taskRoutes({
      tasks: node.tasks,
      role: () => node.config.agent.role,
      writeResult: async (address, content, roles, signal) =>
        node.decisions.put(parseAddress(address), content, { roles, contentType: 'text/markdown', signal }),
    }),
    ...agentRoutes({ presence: node.presence, redactor: node.redactor, record: (k, d) => node.recorder.record(k, d) }),
    'GET /v1/status': async () => node.status(),
    'GET /v1/peers': async ({ signal }) => node.peers(signal),
    'GET /v1/license': async (): Promise<LicenseInfo> => ({
      license: node.status().license,
      admitted: node.admission.admitted().filter((p) => p.peerId !== node.peerId),
      refused: node.admission.refusedCount,
    }),
    'POST /v1/publish': async ({ body, signal }) => publishRequest(node, parsePublishRequest(await body()), { signal }),
    'GET /v1/subscribe': async ({ url, res, signal }) => {
      const topics = url.searchParams.getAll('topic');
      const raw = url.searchParams.get('raw') === 'true';
      if (topics.length === 0) throw new UsageError('subscribe needs at least one topic');
      const joinedHere: string[] = [];
      const before = new Set(node.pubsub.topics().map((t) => t.topic));
      for (const t of new Set(topics)) {
        node.pubsub.join(t, raw ? { raw: true } : {});
        if (!before.has(t) || clientTopics.has(t)) {
          joinedHere.push(t);
          clientTopics.set(t, (clientTopics.get(t) ?? 0) + 1);
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ subscribed: topics })}\n`);
      const wanted = new Set(topics);
      const onMessage = (m: ReceivedMessage): void => {
        if (wanted.has(m.topic)) res.write(`${JSON.stringify(m)}\n`);
      };
      node.pubsub.on('message', onMessage);
      await new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      node.pubsub.off('message', onMessage);
      for (const t of joinedHere) {
        const left = (clientTopics.get(t) ?? 1) - 1;
        if (left > 0) clientTopics.set(t, left);
        else {
          clientTopics.delete(t);
          if (!STATIC_TOPICS.includes(t)) node.pubsub.leave(t);
        }
      }
      res.end();
      return undefined;
    },
  };
}
