// The components bag (js-libp2p's model): everything a running node is made of, in one object that
// the node assembly fills as it starts services. Services and route groups never take the node: each
// declares the narrow interface it uses (OpsComponents, DecisionComponents, RouteComponents …), and
// this bag satisfies them all. `config` is replaced in place on SIGHUP, so readers see the running one.
import type { ApiServer } from '../api/server.ts';
import type { ChorusConfig } from '../config/schema.ts';
import type { RoleKeyring } from '../crypto/keyring.ts';
import type { DecisionStore } from '../decisions/store.ts';
import type { ChorusDatastore } from '../dht/datastore.ts';
import type { DirectReplicas } from '../dht/direct.ts';
import type { RecordNamespaces } from '../dht/namespaces.ts';
import type { ElectionService } from '../election/service.ts';
import type { EventLog } from '../eventlog/eventlog.ts';
import type { HapPortal } from '../hap/portal.ts';
import type { Admission } from '../license/admission.ts';
import type { LeaseKeeper } from '../license/lease.ts';
import type { NodeLicense } from '../license/startup.ts';
import type { Logger } from '../log.ts';
import type { OpsService } from '../ops/service.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import type { Identity } from '../p2p/identity.ts';
import type { BootstrapJoiner } from '../p2p/join.ts';
import type { Signer } from '../p2p/signer.ts';
import type { AckService } from '../pubsub/ack.ts';
import type { PresenceHello } from '../pubsub/hello.ts';
import type { Presence } from '../pubsub/presence.ts';
import type { ProposalService } from '../proposals/service.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import type { Redactor } from '../shhh/redactor.ts';
import type { TaskService } from '../tasks/service.ts';
import type { EventRecorder } from './recorder.ts';

export interface NodeComponents {
  /** The running configuration (replaced by a reload). */
  config: ChorusConfig;
  logger: Logger;
  startedAt: Date;
  identity: Identity;
  signer: Signer;
  license: NodeLicense;
  lease: LeaseKeeper | undefined;
  redactor: Redactor;
  eventLog: EventLog;
  recorder: EventRecorder;
  keyring: RoleKeyring;
  datastore: ChorusDatastore;
  namespaces: RecordNamespaces;
  libp2p: ChorusLibp2p;
  admission: Admission;
  pubsub: ChorusPubSub;
  acks: AckService;
  presence: Presence;
  hello: PresenceHello;
  replicas: DirectReplicas;
  decisions: DecisionStore;
  joiner: BootstrapJoiner;
  election: ElectionService;
  tasks: TaskService;
  /** The portal: its sessions and its gate on the API's TCP listener. */
  hap: HapPortal;
  /** Decision voting: proposals and signed votes on the consensus log. */
  proposals: ProposalService;
  /** Absent when the control API is off (in-process test clusters). */
  api: ApiServer | undefined;
  /** Absent when ops is off for this node. */
  ops: OpsService | undefined;
}
