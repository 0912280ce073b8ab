// The node assembly: the one place where a daemon's services are composed, started in order through
// one lifecycle and stopped in reverse — stores (identity, event log, lease, keyring, DHT datastore) →
// network core (assembly.ts: host, admission, pubsub, receipts) → presence → replicas → decisions →
// probe records → bootstrap join and mDNS dialling → control API (with the portal's gate) → ops → election. Each service takes
// the narrow part of the components bag it uses; ChorusNode is the facade callers and tests hold.
// Size: the one place every service is composed and started in order — it grows by a few lines with each
// feature, and splitting it would scatter the start order that the lifecycle depends on.
import type { GossipsubOpts } from '@libp2p/gossipsub';
import { ApiServer } from '../api/server.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { RoleKeyring } from '../crypto/keyring.ts';
import { dataFile, keyringPath } from '../datadir.ts';
import { DecisionService } from '../decisions/service.ts';
import type { DecisionStore } from '../decisions/store.ts';
import { ChorusDatastore } from '../dht/datastore.ts';
import { DirectReplicas } from '../dht/direct.ts';
import { RecordNamespaces } from '../dht/namespaces.ts';
import { ElectionService } from '../election/service.ts';
import { EventLog, retentionPolicy } from '../eventlog/eventlog.ts';
import { HapPortal } from '../hap/portal.ts';
import { peerRateLimit } from '../eventlog/ratelimit.ts';
import type { Admission } from '../license/admission.ts';
import { LeaseKeeper } from '../license/lease.ts';
import { licenseCheck, wireLicenseMetrics } from '../license/ops.ts';
import { resolveNodeLicense, type NodeLicense } from '../license/startup.ts';
import { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../log.ts';
import { probeNamespace } from '../ops/probe-record.ts';
import { applyReload, type ReloadResult } from '../ops/reload.ts';
import { OpsService } from '../ops/service.ts';
import { DiscoveryDialer } from '../p2p/discovery-dial.ts';
import { lanDiscoveries, type ChorusLibp2p } from '../p2p/host.ts';
import { loadOrCreateIdentity, type Identity } from '../p2p/identity.ts';
import { BootstrapJoiner } from '../p2p/join.ts';
import { peerProspects } from '../p2p/prospects.ts';
import { signerFor, verifyByAuthor } from '../p2p/signer.ts';
import type { AckService } from '../pubsub/ack.ts';
import { PresenceHello } from '../pubsub/hello.ts';
import { ProposalService } from '../proposals/service.ts';
import { Presence } from '../pubsub/presence.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import { TOPICS } from '../pubsub/topics.ts';
import { Redactor } from '../shhh/redactor.ts';
import { TaskService } from '../tasks/service.ts';
import { buildInfo } from '../version.ts';
import { daemonProfile, startNetwork } from './assembly.ts';
import { refuseIfRunning, takeDataDirLock } from '../data-dir-lock.ts';
import type { NodeComponents } from './components.ts';
import { checkNodeStores } from './integrity.ts';
import { EventRecorder } from './recorder.ts';
import { controlRoutes } from './routes.ts';
import { nodePeers, nodeStatus, type NodeStatus, type PeerView } from './status.ts';

export type { NodeStatus, PeerView } from './status.ts';
export { DECISION_HINTS_TOPIC } from '../decisions/service.ts';

/** Pause between meeting the first peer and announcing this node (lets the mesh form). */
const JOIN_ANNOUNCE_DELAY_MS = 100;

export interface NodeOptions {
  config: ChorusConfig;
  logger: Logger;
  /** Serve the control API (default true). In-process test clusters switch it off. */
  api?: boolean;
  /** GossipSub overrides (tests use a short heartbeat). */
  gossip?: Partial<GossipsubOpts>;
  /** The license, when the caller already resolved it (chorus node checks it before anything else). */
  license?: NodeLicense;
  /** An extra admission rule for record authors, on top of the license check (tests refuse chosen authors). */
  admit?: (author: string) => boolean;
  /** Run health checks, metrics and the ops listener when ops.enabled (default: when the API is served). */
  ops?: boolean;
  /** Move damaged stores aside and start them fresh where that is safe (`chorus node --repair`). */
  repair?: boolean;
}

export class ChorusNode {
  /** Resolves (with the reason) when the node had to stop on its own: the lease grace period ended. */
  readonly halted: Promise<string>;
  private readonly c: NodeComponents;
  private readonly life: Lifecycle;

  private constructor(components: NodeComponents, life: Lifecycle, halted: Promise<string>) {
    this.c = components;
    this.life = life;
    this.halted = halted;
  }

  static async start(opts: NodeOptions): Promise<ChorusNode> {
    const { config, logger } = opts;
    // a node already running on this data dir is refused before anything of its is opened here: its stores, its
    // election state and its identity on the network (the socket it answers on is how a node is found); the
    // data dir's lock, held until the node stops, refuses one that has not bound its socket yet
    if (opts.api !== false) await refuseIfRunning(config.dataDir);
    // fail-closed: no license, no identity, no log, no socket (and no lock file)
    const license = opts.license ?? announceLicense(resolveNodeLicense(config), logger);
    const lock = opts.api !== false ? takeDataDirLock(config.dataDir) : undefined;
    const life = new Lifecycle((name, error) => logger.debug('service stop failed', { service: name, error }));
    if (lock) life.adopt('data-dir lock', () => lock.release()); // stopped last
    const halt = Promise.withResolvers<string>();
    // a start that fails stops what it started, the lock last
    const node = await Lifecycle.assemble(life, async () => {
      checkNodeStores(config, { repair: opts.repair, logger }); // damaged stores are named before any is opened
      const identity = await loadOrCreateIdentity(config.dataDir);
      if (identity.created)
        logger.info('created a new node identity', { peerId: identity.peerId.toString(), file: identity.file });
      const c = await assemble(life, opts, license, identity, halt.resolve);
      return new ChorusNode(c, life, halt.promise);
    });
    void halt.promise.then((reason) => {
      logger.error('stopping: no valid lease', { reason });
      return node.stop();
    });
    return node;
  }

  // ---- the facade: what commands and tests use -------------------------------------------------

  /** The running configuration (replaced by reload()). */
  get config(): ChorusConfig {
    return this.c.config;
  }
  get identity(): Identity {
    return this.c.identity;
  }
  get libp2p(): ChorusLibp2p {
    return this.c.libp2p;
  }
  get pubsub(): ChorusPubSub {
    return this.c.pubsub;
  }
  get acks(): AckService {
    return this.c.acks;
  }
  get presence(): Presence {
    return this.c.presence;
  }
  get hello(): PresenceHello {
    return this.c.hello;
  }
  get eventLog(): EventLog {
    return this.c.eventLog;
  }
  get recorder(): EventRecorder {
    return this.c.recorder;
  }
  get decisions(): DecisionStore {
    return this.c.decisions;
  }
  /** The DHT's datastore (records and provider records under /dht/, on disk). */
  get datastore(): ChorusDatastore {
    return this.c.datastore;
  }
  get keyring(): RoleKeyring {
    return this.c.keyring;
  }
  get license(): NodeLicense {
    return this.c.license;
  }
  get admission(): Admission {
    return this.c.admission;
  }
  get lease(): LeaseKeeper | undefined {
    return this.c.lease;
  }
  get election(): ElectionService {
    return this.c.election;
  }
  /** Tasks: committed on the consensus log, changed through the leader from any node. */
  get tasks(): TaskService {
    return this.c.tasks;
  }
  /** Decision voting: proposals and votes signed by their node, committed on the consensus log. */
  get proposals(): ProposalService {
    return this.c.proposals;
  }
  /** Health checks, metrics and the ops listener (absent when ops is off for this node). */
  get ops(): OpsService | undefined {
    return this.c.ops;
  }
  get peerId(): string {
    return this.c.libp2p.peerId.toString();
  }

  addresses(): string[] {
    return this.c.libp2p.getMultiaddrs().map(String);
  }

  status(): NodeStatus {
    return nodeStatus({
      ...this.c,
      apiTcp: () => this.c.api?.tcpAddress,
      opsUrl: () => this.c.ops?.url(),
    });
  }

  /** Connected peers joined with what they announced, with a fresh ping latency (bounded). */
  peers(signal?: AbortSignal): Promise<PeerView[]> {
    return nodePeers(this.c, signal);
  }

  /**
   * Applies a new configuration (SIGHUP): reloadable keys take effect now, the others are reported as
   * needing a restart. Throws ConfigError, changing nothing, when the new configuration cannot work.
   */
  async reload(next: ChorusConfig): Promise<ReloadResult> {
    try {
      const { result, effective } = await applyReload(this.c, this.c.config, next);
      this.c.config = effective;
      this.c.ops?.metrics.reloads.inc({ result: 'applied' });
      return result;
    } catch (err) {
      this.reloadRejected();
      throw err;
    }
  }

  /** Counts a reload refused before it reached the node (a config file that does not validate). */
  reloadRejected(): void {
    this.c.ops?.metrics.reloads.inc({ result: 'rejected' });
  }

  /** Graceful stop: every service in reverse start order (a leader hands over first; the log closes last). */
  stop(): Promise<void> {
    return this.life.stop();
  }
}

/** Starts a daemon's services through `life` and returns the components bag they make up. */
async function assemble(
  life: Lifecycle,
  opts: NodeOptions,
  license: NodeLicense,
  identity: Identity,
  onLeaseExpired: (reason: string) => void,
): Promise<NodeComponents> {
  const { config, logger } = opts;
  const startedAt = new Date();
  const signer = signerFor(identity.privateKey);
  // the certificate this node proves: made on the spot (dev, licensee key) or the enrolled one, for this key only
  const credential = license.credentialFor(identity.peerId.toString());
  const redactor = new Redactor({ rules: config.shhh.rules });
  const eventLog = EventLog.open(dataFile(config.dataDir, 'eventLog'), signer, {
    sync: config.eventLog.sync,
    retention: { policy: retentionPolicy(config.eventLog), verify: verifyByAuthor, logger: logger.child('eventlog') },
  });
  const recorder = new EventRecorder(eventLog, redactor, logger.child('eventlog'), peerRateLimit(config.eventLog));
  let running = false; // a node that never finished starting logs no node_stopped
  life.adopt('event log', () => {
    if (running) {
      recorder.record('node_stopped', { peer_id: signer.author, uptime_ms: Date.now() - startedAt.getTime() });
      recorder.flush();
    }
    eventLog.close();
  });
  let lease: LeaseKeeper | undefined;
  if (config.license.server) {
    const held = await LeaseKeeper.acquire({
      server: config.license.server,
      serverKey: config.license.serverKey,
      credential,
      signer,
      ttlMs: config.license.leaseTtlMs,
      gracePeriodMs: config.license.gracePeriodMs,
      stateFile: dataFile(config.dataDir, 'lease'),
      logger: logger.child('lease'),
      onExpired: onLeaseExpired,
    });
    lease = held;
    life.adopt('lease', () => held.release());
  }
  const keyring = await openKeyring(config, license, logger);
  const datastore = new ChorusDatastore(dataFile(config.dataDir, 'dht'));
  life.adopt('datastore', () => datastore.close());
  const namespaces = new RecordNamespaces();
  const { libp2p, admission, pubsub, acks } = await startNetwork(life, {
    config,
    logger,
    license,
    credential,
    privateKey: identity.privateKey,
    profile: daemonProfile(config, opts.gossip),
    namespaces,
    redactor,
    datastore,
    recorder,
  });
  const presence = await life.start(
    'presence',
    new Presence({
      pubsub,
      logger: logger.child('presence'),
      intervalMs: config.pubsub.availabilityIntervalMs,
      capabilities: config.agent.capabilities,
      expertise: config.agent.expertise,
      maxTasks: config.agent.maxTasks,
      role: config.agent.role,
    }),
  );
  const hello = await life.start(
    'hello',
    new PresenceHello({
      libp2p,
      presence,
      logger: logger.child('presence'),
      redactor,
      admit: (peer) => admission.isAdmitted(peer) || admission.awaitAdmission(peer),
      record: (kind, data) => recorder.record(kind, data),
    }),
  );
  const replicas = await life.start(
    'replicas',
    new DirectReplicas({ libp2p, datastore, namespaces, logger: logger.child('dht') }),
  );
  const extraAdmit = opts.admit ?? (() => true);
  // the election starts after the decisions (it needs the node running); a lone node's writes ask it later
  const cluster: { election?: ElectionService } = {};
  const decisions = await life.start(
    'decisions',
    new DecisionService({
      libp2p,
      datastore,
      namespaces,
      replicas,
      pubsub,
      keyring,
      signer,
      logger: logger.child('dht'),
      soleMember: () => cluster.election?.soleVoter() ?? false,
      members: () => cluster.election?.members() ?? [],
      authors: {
        verify: verifyByAuthor,
        isAdmitted: (author) => admission.isAdmitted(author) && extraAdmit(author),
        awaitAdmission: (author) => admission.awaitAdmission(author),
      },
      settings: {
        policy: config.keys.policy,
        role: config.agent.role,
        replication: config.dht.replication,
        republishIntervalMs: config.dht.republishIntervalMs,
        timeoutMs: config.dht.timeoutMs,
      },
    }),
  );
  await life.start('probe records', namespaces.service(probeNamespace));
  const joiner = await life.start(
    'bootstrap join',
    new BootstrapJoiner({
      libp2p,
      bootstrap: config.p2p.bootstrap,
      staggerMs: config.p2p.joinStaggerMs,
      logger: logger.child('join'),
    }),
  );
  const lan = lanDiscoveries(libp2p);
  if (lan) {
    await life.start(
      'mDNS dialling',
      new DiscoveryDialer({
        libp2p,
        source: lan,
        logger: logger.child('discovery'),
        maxConnections: config.p2p.maxConnections,
      }),
    );
  }
  pubsub.setPeerProspects(
    peerProspects({ libp2p, dialling: () => joiner.dialling(), graceMs: config.pubsub.meshWaitMs }),
  );
  const election = new ElectionService(
    {
      libp2p,
      config: config.election,
      dataDir: config.dataDir,
      logger: logger.child('election'),
      signer,
      recorder,
      redactor,
      capabilities: () => presence.announcement().capabilities.length,
      admit: (peer) => admission.awaitAdmission(peer),
    },
    config.shhh.rules,
  );
  cluster.election = election;
  const tasks = new TaskService({
    election,
    self: identity.peerId.toString(),
    config: () => c.config.tasks,
    agent: () => ({
      name: c.config.agent.name,
      role: c.config.agent.role,
      expertise: c.config.agent.expertise,
      capabilities: c.config.agent.capabilities,
    }),
    publisher: {
      publish: (type, data, o) => pubsub.publish(type, data, { ...o, signal: AbortSignal.timeout(5000) }),
      hasSubscribers: (topic) => libp2p.services.pubsub.getSubscribers(topic).length > 0,
    },
    record: (kind, data) => recorder.record(kind, data),
    logger: logger.child('tasks'),
  });
  const votes = { election, signer, decisions: decisions.store, recorder, logger: logger.child('votes') };
  const proposals = new ProposalService({ ...votes, config: () => c.config });
  const c: NodeComponents = {
    config,
    logger,
    startedAt,
    identity,
    signer,
    license,
    lease,
    redactor,
    eventLog,
    recorder,
    keyring,
    datastore,
    namespaces,
    libp2p,
    admission,
    pubsub,
    acks,
    presence,
    hello,
    replicas,
    decisions: decisions.store,
    joiner,
    election,
    tasks,
    hap: new HapPortal({ tcp: () => c.api?.tcpAddress }),
    proposals,
    api: undefined,
    ops: undefined,
  };
  await life.start('node events', nodeEvents(c));
  if (opts.api !== false) {
    const queries = {
      status: () => nodeStatus({ ...c, apiTcp: () => c.api?.tcpAddress, opsUrl: () => c.ops?.url() }),
      peers: (signal?: AbortSignal) => nodePeers(c, signal),
    };
    c.api = await life.start(
      'control API',
      new ApiServer({
        dataDir: config.dataDir,
        routes: controlRoutes(queries, c),
        logger: logger.child('api'),
        tcp: { host: config.api.tcpHost, port: config.api.tcpPort, allowRemote: config.api.allowRemote },
        gate: c.hap.gate,
      }),
    );
  }
  if (opts.ops ?? opts.api !== false) {
    const ops = new OpsService(c, config.ops, logger.child('ops'));
    ops.addCheck(licenseCheck(c));
    wireLicenseMetrics(ops.metrics, c);
    ops.metrics.setElectionSource(() => election.metrics());
    await life.start('ops', { start: () => ops.start(), stop: () => ops.close() });
    c.ops = ops;
  }
  // started last, so stopped first: a leader hands over while everything else still runs
  await life.start('election', election);
  await life.start('tasks', tasks); // after the election (its state machine is restored there); stopped first
  await life.start('proposals', proposals); // likewise
  recorder.record('node_started', {
    peer_id: signer.author,
    addresses: libp2p.getMultiaddrs().map(String),
    version: buildInfo().version,
    role: config.agent.role,
  });
  running = true;
  return c;
}

async function openKeyring(config: ChorusConfig, license: NodeLicense, logger: Logger): Promise<RoleKeyring> {
  const keyring = await RoleKeyring.open(keyringPath(config));
  // dev nodes of one dev authority share its role keys; other nodes generate what is missing
  const keys = await keyring.ensureRoles(Object.keys(config.keys.policy), license.devRoleKey);
  if (keys.generated.length) {
    logger.warn('generated role keys; give each node a keyring scoped to its role (chorus keys export)', {
      roles: keys.generated,
      file: keyring.file,
    });
  }
  if (keys.derived.length) {
    logger.info('took the dev cluster’s role keys (derived from the dev authority)', { roles: keys.derived });
  }
  if (!keyring.holdsSecret(config.agent.role)) {
    logger.warn('this keyring holds no secret key for this node’s role: it can write decisions but not read them', {
      role: config.agent.role,
      file: keyring.file,
    });
  }
  return keyring;
}

/**
 * The node's own event wiring: peers joining and leaving go to the event log, and COOEE on join — a
 * peer that joins the coordination topic gets a direct hello from this node, and this node announces
 * itself to the cluster with one broadcast when it meets its first peer. (Broadcasting on every join
 * would cost N² deliveries as a cluster forms: at 40 nodes in one process, most of the CPU.)
 */
function nodeEvents(c: NodeComponents): { start(): void; stop(): void } {
  let announcedJoin = false;
  let capabilityTimer: NodeJS.Timeout | undefined;
  return {
    start: () => {
      c.libp2p.addEventListener('peer:connect', (evt) => {
        c.recorder.record('peer_joined', { peer_id: evt.detail.toString() });
      });
      c.libp2p.addEventListener('peer:disconnect', (evt) => {
        c.recorder.record('peer_left', { peer_id: evt.detail.toString() });
      });
      c.libp2p.services.pubsub.addEventListener('subscription-change', (evt) => {
        if (!evt.detail.subscriptions.some((s) => s.subscribe && s.topic === TOPICS.coordination)) return;
        void c.hello.greet(evt.detail.peerId.toString());
        if (announcedJoin) return;
        announcedJoin = true;
        capabilityTimer = setTimeout(() => {
          capabilityTimer = undefined;
          void c.presence.broadcastCapabilities();
          void c.presence.broadcastAvailability();
        }, JOIN_ANNOUNCE_DELAY_MS);
      });
      c.pubsub.on('dropped', ({ topic, reason }) => c.logger.debug('dropped a message', { topic, reason }));
    },
    stop: () => clearTimeout(capabilityTimer),
  };
}

/** Says once what --dev created; returns the license. */
export function announceLicense(license: NodeLicense, logger: Logger): NodeLicense {
  if (license.created.authority) {
    logger.warn('created a development license authority (dev mode)', { file: license.created.authority });
  }
  if (license.created.license) {
    logger.warn('issued a development license for this node (dev mode)', {
      file: license.created.license,
      cluster: license.clusterId,
    });
  }
  return license;
}
