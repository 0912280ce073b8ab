// The node assembly: the one place where services are composed and started/stopped in order —
// identity → event log → SHHH → libp2p host → pubsub → acks → presence → bootstrap join → election → control API → ops.
import type { GossipsubOpts } from '@libp2p/gossipsub';
import { join } from 'node:path';
import { socketPath } from '../api/protocol.ts';
import { ApiServer } from '../api/server.ts';
import { RoleKeyring } from '../crypto/keyring.ts';
import { DecisionStore } from '../decisions/store.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import { ChorusDatastore } from '../dht/datastore.ts';
import { ElectionService } from '../election/service.ts';
import { TaskService } from '../tasks/service.ts';
import { DirectReplicas } from '../dht/direct.ts';
import { chorusValidators, type DhtContext } from '../dht/kad.ts';
import { EventLog } from '../eventlog/eventlog.ts';
import { Admission, type AdmittedPeer } from '../license/admission.ts';
import { LeaseKeeper, type LeaseStatus } from '../license/lease.ts';
import { resolveNodeLicense, type NodeLicense } from '../license/startup.ts';
import type { Logger } from '../log.ts';
import { createHost, lanDiscoveries, type ChorusLibp2p } from '../p2p/host.ts';
import { loadOrCreateIdentity, type Identity } from '../p2p/identity.ts';
import { BootstrapJoiner } from '../p2p/join.ts';
import { signerFor, verifyByAuthor } from '../p2p/signer.ts';
import { AckService } from '../pubsub/ack.ts';
import { DiscoveryDialer } from '../p2p/discovery-dial.ts';
import { PresenceHello } from '../pubsub/hello.ts';
import { Presence, type PeerPresence } from '../pubsub/presence.ts';
import { ChorusPubSub } from '../pubsub/pubsub.ts';
import { TOPICS } from '../pubsub/topics.ts';
import type { ReceivedMessage } from '../pubsub/pubsub.ts';
import { OpsService } from '../ops/service.ts';
import { applyReload, type ReloadResult } from '../ops/reload.ts';
import { Redactor } from '../shhh/redactor.ts';
import { buildInfo } from '../version.ts';
import { EventRecorder } from './recorder.ts';
import { controlRoutes } from './routes.ts';

export const EVENT_LOG_FILE = 'events.db';
export const DHT_FILE = 'dht.db';
export const KEYRING_FILE = 'keyring.json';
export const LEASE_FILE = 'lease.json';
/** Pause between meeting the first peer and announcing this node (lets the mesh form). */
const JOIN_ANNOUNCE_DELAY_MS = 100;
/** Raw topic carrying version hints of decisions ({subject, version, hash}) so reads know what is newest. */
export const DECISION_HINTS_TOPIC = 'CHORUS/decisions/v1';

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
}

export interface NodeStatus {
  peerId: string;
  version: string;
  role: string;
  expertise: string[];
  addresses: string[];
  topics: { topic: string; raw: boolean; family: string; peers: number }[];
  peers: number;
  startedAt: string;
  uptimeMs: number;
  dataDir: string;
  eventLog: { entries: number; headHash: string };
  api: { socket: string; tcp?: string };
  license: {
    id: string;
    licensee: string;
    clusterId: string;
    dev: boolean;
    expiresAt: string;
    file: string;
    lease?: LeaseStatus;
  };
  election?: ReturnType<ElectionService['summary']>;
  /** Base URL of the ops listener (/healthz, /readyz, /health, /metrics), when it runs. */
  ops?: string;
}

export interface PeerView extends Partial<Omit<PeerPresence, 'peerId'>> {
  peerId: string;
  connected: boolean;
  addresses: string[];
  latencyMs?: number;
  /** The license the peer proved (absent while unproven). */
  license?: Omit<AdmittedPeer, 'peerId'>;
}

export class ChorusNode {
  /** The running configuration (replaced by reload()). */
  config: ChorusConfig;
  readonly identity: Identity;
  readonly libp2p: ChorusLibp2p;
  readonly pubsub: ChorusPubSub;
  readonly acks: AckService;
  readonly presence: Presence;
  readonly hello: PresenceHello;
  readonly eventLog: EventLog;
  readonly recorder: EventRecorder;
  readonly decisions: DecisionStore;
  readonly keyring: RoleKeyring;
  readonly license: NodeLicense;
  readonly admission: Admission;
  readonly lease: LeaseKeeper | undefined;
  /** Resolves (with the reason) when the node had to stop on its own: the lease grace period ended. */
  readonly halted: Promise<string>;
  private readonly datastore: ChorusDatastore;
  private readonly joiner: BootstrapJoiner;
  /** Dials the peers mDNS finds (absent with mDNS off). */
  private readonly discovery: DiscoveryDialer | undefined;
  private api: ApiServer | undefined;
  election!: ElectionService;
  /** Tasks: committed on the consensus log, changed through the leader from any node. */
  tasks!: TaskService;
  /** Health checks, metrics and the ops listener (absent when ops is off for this node). */
  ops: OpsService | undefined;
  readonly redactor: Redactor;
  private readonly logger: Logger;
  private readonly startedAt = new Date();
  private stopping: Promise<void> | undefined;
  private capabilityTimer: NodeJS.Timeout | undefined;
  private announcedJoin = false;

  private constructor(parts: {
    config: ChorusConfig;
    identity: Identity;
    libp2p: ChorusLibp2p;
    pubsub: ChorusPubSub;
    acks: AckService;
    presence: Presence;
    hello: PresenceHello;
    eventLog: EventLog;
    recorder: EventRecorder;
    decisions: DecisionStore;
    keyring: RoleKeyring;
    license: NodeLicense;
    admission: Admission;
    lease: LeaseKeeper | undefined;
    halted: Promise<string>;
    datastore: ChorusDatastore;
    joiner: BootstrapJoiner;
    discovery: DiscoveryDialer | undefined;
    api: ApiServer | undefined;
    redactor: Redactor;
    logger: Logger;
  }) {
    this.config = parts.config;
    this.identity = parts.identity;
    this.libp2p = parts.libp2p;
    this.pubsub = parts.pubsub;
    this.acks = parts.acks;
    this.presence = parts.presence;
    this.hello = parts.hello;
    this.eventLog = parts.eventLog;
    this.recorder = parts.recorder;
    this.decisions = parts.decisions;
    this.keyring = parts.keyring;
    this.license = parts.license;
    this.admission = parts.admission;
    this.lease = parts.lease;
    this.halted = parts.halted;
    this.datastore = parts.datastore;
    this.joiner = parts.joiner;
    this.discovery = parts.discovery;
    this.api = parts.api;
    this.redactor = parts.redactor;
    this.logger = parts.logger;
  }

  static async start(opts: NodeOptions): Promise<ChorusNode> {
    const { config, logger } = opts;
    // fail-closed: no license, no identity, no log, no socket
    const license = opts.license ?? announceLicense(resolveNodeLicense(config), logger);
    const identity = await loadOrCreateIdentity(config.dataDir);
    if (identity.created)
      logger.info('created a new node identity', { peerId: identity.peerId.toString(), file: identity.file });
    const redactor = new Redactor({ rules: config.shhh.rules });
    const eventLog = EventLog.open(join(config.dataDir, EVENT_LOG_FILE), signerFor(identity.privateKey), {
      sync: config.eventLog.sync,
    });
    const recorder = new EventRecorder(eventLog, redactor, logger.child('eventlog'));
    const started: { stop: () => unknown }[] = [{ stop: () => eventLog.close() }];
    const halt = Promise.withResolvers<string>();
    try {
      let lease: LeaseKeeper | undefined;
      if (config.license.server) {
        lease = await LeaseKeeper.acquire({
          server: config.license.server,
          license: license.doc,
          peerId: identity.peerId.toString(),
          ttlMs: config.license.leaseTtlMs,
          gracePeriodMs: config.license.gracePeriodMs,
          stateFile: join(config.dataDir, LEASE_FILE),
          logger: logger.child('lease'),
          onExpired: (reason) => halt.resolve(reason),
        });
        const held = lease;
        started.push({ stop: () => held.release() });
      }
      const keyring = await RoleKeyring.open(config.keys.keyring || join(config.dataDir, KEYRING_FILE));
      const missing = Object.keys(config.keys.policy).filter((r) => !keyring.current(r));
      for (const role of missing) await keyring.ensureRole(role);
      if (missing.length) {
        logger.warn('generated role keys; give each node a keyring scoped to its role (chorus keys export)', {
          roles: missing,
          file: keyring.file,
        });
      }
      if (!keyring.holdsSecret(config.agent.role)) {
        logger.warn('this keyring holds no secret key for this node’s role: it can write decisions but not read them', {
          role: config.agent.role,
          file: keyring.file,
        });
      }
      const datastore = new ChorusDatastore(join(config.dataDir, DHT_FILE));
      started.push({ stop: () => datastore.close() });
      // the admission service needs the host, the host needs the validators: bound late through this holder
      const gate: { admission?: Admission } = {};
      const extraAdmit = opts.admit ?? (() => true);
      const validation: DhtContext = {
        verify: verifyByAuthor,
        isAdmitted: (author) => (gate.admission?.isAdmitted(author) ?? false) && extraAdmit(author),
        awaitAdmission: async (author) => {
          await gate.admission?.awaitAdmission(author);
        },
        datastore,
      };
      const dhtValidators = chorusValidators(validation);
      const libp2p = await createHost({
        datastore,
        dht: validation,
        privateKey: identity.privateKey,
        listen: config.p2p.listen,
        mdns: config.p2p.mdns,
        maxConnections: config.p2p.maxConnections,
        maxPeersPerIp: config.p2p.maxPeersPerIp,
        inboundPerSecond: config.p2p.inboundPerSecond,
        meshDegree: config.pubsub.meshDegree,
        gossip: opts.gossip,
        denyPeer: (peer) => gate.admission?.isDenied(peer) ?? false,
      });
      started.push({ stop: () => libp2p.stop() });
      const admission = new Admission({
        libp2p,
        signer: signerFor(identity.privateKey),
        license: license.doc,
        authorities: license.authorities,
        clusterId: license.clusterId,
        handshakeTimeoutMs: config.license.handshakeTimeoutMs,
        logger: logger.child('admission'),
      });
      gate.admission = admission;
      await admission.start();
      started.push({ stop: () => admission.stop() });
      const pubsub = new ChorusPubSub({
        gossip: libp2p.services.pubsub,
        selfId: libp2p.peerId,
        role: config.agent.role,
        hopLimit: config.pubsub.hopLimit,
        meshWaitMs: config.pubsub.meshWaitMs,
        logger: logger.child('pubsub'),
        redactor,
        recorder,
        admit: (author) => admission.isAdmitted(author) || admission.awaitAdmission(author),
      });
      pubsub.start();
      pubsub.joinRoleTopics(config.agent.role, config.agent.expertise, config.agent.reportsTo);
      started.push({ stop: () => pubsub.stop() });
      const acks = new AckService(libp2p, pubsub, logger.child('ack'));
      await acks.start();
      started.push({ stop: () => acks.stop() });
      const presence = new Presence({
        pubsub,
        logger: logger.child('presence'),
        intervalMs: config.pubsub.availabilityIntervalMs,
        capabilities: config.agent.capabilities,
        expertise: config.agent.expertise,
        maxTasks: config.agent.maxTasks,
        role: config.agent.role,
      });
      presence.start();
      started.push({ stop: () => presence.stop() });
      const hello = new PresenceHello({
        libp2p,
        presence,
        logger: logger.child('presence'),
        redactor,
        admit: (peer) => admission.isAdmitted(peer) || admission.awaitAdmission(peer),
        record: (kind, data) => recorder.record(kind, data),
      });
      await hello.start();
      started.push({ stop: () => hello.stop() });
      const direct = new DirectReplicas({
        libp2p,
        datastore,
        validate: (ns) => dhtValidators[ns as keyof typeof dhtValidators],
        logger: logger.child('dht'),
      });
      await direct.start();
      started.push({ stop: () => direct.stop() });
      const decisions = new DecisionStore({
        direct,
        libp2p,
        datastore,
        keyring,
        policy: config.keys.policy,
        role: config.agent.role,
        signer: signerFor(identity.privateKey),
        validation,
        replication: config.dht.replication,
        logger: logger.child('dht'),
        republishIntervalMs: config.dht.republishIntervalMs,
        timeoutMs: config.dht.timeoutMs,
        announce: (hint) => {
          void pubsub.publishRaw(DECISION_HINTS_TOPIC, hint, { signal: AbortSignal.timeout(1000) }).catch(() => {});
        },
      });
      validation.knownVersion = (subject) => decisions.knownVersion(subject);
      decisions.start();
      started.push({ stop: () => decisions.stop() });
      pubsub.join(DECISION_HINTS_TOPIC, { raw: true });
      pubsub.on('message', (m: ReceivedMessage) => {
        if (m.topic !== DECISION_HINTS_TOPIC) return;
        const hint = m.payload as { subject?: unknown; version?: unknown };
        if (typeof hint?.subject === 'string' && typeof hint.version === 'number') {
          decisions.noteVersion(hint.subject, hint.version);
        }
      });
      const joiner = new BootstrapJoiner({
        libp2p,
        bootstrap: config.p2p.bootstrap,
        staggerMs: config.p2p.joinStaggerMs,
        logger: logger.child('join'),
      });
      joiner.start();
      started.push({ stop: () => joiner.stop() });
      const lan = lanDiscoveries(libp2p);
      const discovered = lan
        ? new DiscoveryDialer({
            libp2p,
            source: lan,
            logger: logger.child('discovery'),
            maxConnections: config.p2p.maxConnections,
          })
        : undefined;
      discovered?.start();
      started.push({ stop: () => discovered?.stop() });
      const node: ChorusNode = new ChorusNode({
        config,
        identity,
        libp2p,
        pubsub,
        acks,
        presence,
        hello,
        eventLog,
        recorder,
        decisions,
        keyring,
        license,
        admission,
        lease,
        halted: halt.promise,
        datastore,
        joiner,
        discovery: discovered,
        api: undefined,
        redactor,
        logger,
      });
      const election = new ElectionService(
        {
          libp2p,
          config: config.election,
          dataDir: config.dataDir,
          logger: logger.child('election'),
          signer: signerFor(identity.privateKey),
          recorder,
          redactor,
          capabilities: () => presence.announcement().capabilities.length,
          admit: (peer) => admission.awaitAdmission(peer),
        },
        config.shhh.rules,
      );
      const tasks = new TaskService({
        election,
        self: libp2p.peerId.toString(),
        config: () => node.config.tasks,
        agent: () => ({
          name: node.config.agent.name,
          role: node.config.agent.role,
          expertise: node.config.agent.expertise,
          capabilities: node.config.agent.capabilities,
        }),
        publisher: {
          publish: (type, data, o) => pubsub.publish(type, data, { ...o, signal: AbortSignal.timeout(5000) }),
          hasSubscribers: (topic) => libp2p.services.pubsub.getSubscribers(topic).length > 0,
        },
        record: (kind, data) => recorder.record(kind, data),
        logger: logger.child('tasks'),
      });
      await election.start();
      started.push({ stop: () => election.stop() });
      node.election = election;
      tasks.start();
      started.push({ stop: () => tasks.stop() });
      node.tasks = tasks;
      if (opts.api !== false) {
        const api = new ApiServer({
          dataDir: config.dataDir,
          routes: controlRoutes(node),
          logger: logger.child('api'),
          tcp: { host: config.api.tcpHost, port: config.api.tcpPort, allowRemote: config.api.allowRemote },
        });
        await api.start();
        node.api = api;
        started.push({ stop: () => api.stop() });
      }
      if (opts.ops ?? opts.api !== false) {
        const ops = new OpsService(node, config.ops, logger.child('ops'));
        ops.metrics.setElectionSource(() => election.metrics());
        await ops.start();
        node.ops = ops;
      }
      node.wireEvents();
      void halt.promise.then((reason) => {
        logger.error('stopping: no valid lease', { reason });
        return node.stop();
      });
      recorder.record('node_started', {
        peer_id: libp2p.peerId.toString(),
        addresses: libp2p.getMultiaddrs().map(String),
        version: buildInfo().version,
        role: config.agent.role,
      });
      return node;
    } catch (err) {
      for (const s of started.reverse()) await Promise.resolve(s.stop()).catch(() => {});
      throw err;
    }
  }

  private wireEvents(): void {
    this.libp2p.addEventListener('peer:connect', (evt) => {
      this.recorder.record('peer_joined', { peer_id: evt.detail.toString() });
    });
    this.libp2p.addEventListener('peer:disconnect', (evt) => {
      this.recorder.record('peer_left', { peer_id: evt.detail.toString() });
    });
    // COOEE on join: a peer that joins the coordination topic gets a direct hello from this node (who
    // it is, what it can do); this node announces itself to the cluster with one broadcast when it
    // meets its first peer. Broadcasting to everyone on every join would cost N² deliveries as a
    // cluster forms (at 40 nodes in one process, most of the CPU while connecting).
    this.libp2p.services.pubsub.addEventListener('subscription-change', (evt) => {
      if (!evt.detail.subscriptions.some((s) => s.subscribe && s.topic === TOPICS.coordination)) return;
      void this.hello.greet(evt.detail.peerId.toString());
      if (this.announcedJoin) return;
      this.announcedJoin = true;
      this.capabilityTimer = setTimeout(() => {
        this.capabilityTimer = undefined;
        void this.presence.broadcastCapabilities();
        void this.presence.broadcastAvailability();
      }, JOIN_ANNOUNCE_DELAY_MS);
    });
    this.pubsub.on('dropped', ({ topic, reason }) => this.logger.debug('dropped a message', { topic, reason }));
  }

  get peerId(): string {
    return this.libp2p.peerId.toString();
  }

  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  status(): NodeStatus {
    const head = this.eventLog.head;
    return {
      peerId: this.peerId,
      version: buildInfo().version,
      role: this.config.agent.role,
      expertise: this.config.agent.expertise,
      addresses: this.addresses(),
      topics: this.pubsub.topics(),
      peers: this.libp2p.getPeers().length,
      startedAt: this.startedAt.toISOString(),
      uptimeMs: Date.now() - this.startedAt.getTime(),
      dataDir: this.config.dataDir,
      eventLog: { entries: head.seq, headHash: head.hash },
      api: {
        socket: socketPath(this.config.dataDir),
        tcp: this.api?.tcpAddress ? `${this.api.tcpAddress.host}:${this.api.tcpAddress.port}` : undefined,
      },
      license: {
        id: this.license.license.id,
        licensee: this.license.license.licensee,
        clusterId: this.license.clusterId,
        dev: this.license.license.dev,
        expiresAt: this.license.license.expiresAt,
        file: this.license.file,
        lease: this.lease?.status(),
      },
      election: this.election?.summary(),
      ops: this.ops?.url(),
    };
  }

  /**
   * Applies a new configuration (SIGHUP): reloadable keys take effect now, the others are reported as
   * needing a restart. Throws ConfigError, changing nothing, when the new configuration cannot work.
   */
  async reload(next: ChorusConfig): Promise<ReloadResult> {
    const targets = {
      logger: this.logger,
      redactor: this.redactor,
      libp2p: this.libp2p,
      pubsub: this.pubsub,
      presence: this.presence,
      joiner: this.joiner,
      decisions: this.decisions,
      ops: this.ops,
    };
    try {
      const { result, effective } = await applyReload(targets, this.config, next);
      this.config = effective;
      this.ops?.metrics.reloads.inc({ result: 'applied' });
      return result;
    } catch (err) {
      this.reloadRejected();
      throw err;
    }
  }

  /** Counts a reload refused before it reached the node (a config file that does not validate). */
  reloadRejected(): void {
    this.ops?.metrics.reloads.inc({ result: 'rejected' });
  }

  /** Connected peers joined with what they announced, with a fresh ping latency (bounded). */
  async peers(signal?: AbortSignal): Promise<PeerView[]> {
    const views = new Map<string, PeerView>();
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString();
      const view = views.get(id) ?? { peerId: id, connected: true, addresses: [] };
      view.addresses.push(conn.remoteAddr.toString());
      views.set(id, view);
    }
    for (const p of this.presence.peers()) {
      const view = views.get(p.peerId) ?? { peerId: p.peerId, connected: false, addresses: [] };
      views.set(p.peerId, { ...p, ...view });
    }
    const timeout = AbortSignal.timeout(2000);
    await Promise.all(
      [...views.values()]
        .filter((v) => v.connected)
        .map(async (v) => {
          const conn = this.libp2p.getConnections().find((c) => c.remotePeer.toString() === v.peerId);
          if (!conn) return;
          try {
            v.latencyMs = await this.libp2p.services.ping.ping(conn.remotePeer, {
              signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
            });
          } catch (err) {
            this.logger.debug('ping failed', { peer: v.peerId, error: describeError(err) });
          }
        }),
    );
    for (const v of views.values()) {
      const proven = this.admission.info(v.peerId);
      if (proven) {
        const { peerId: _p, ...license } = proven;
        v.license = license;
      }
    }
    return [...views.values()].sort((a, b) => a.peerId.localeCompare(b.peerId));
  }

  /** Graceful stop: unsubscribe, stop services, close connections, flush and close the log. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.capabilityTimer);
      this.tasks?.stop();
      await this.election?.stop().catch(() => {}); // a leader hands over first
      await this.ops?.close().catch(() => {});
      await this.api?.stop().catch(() => {});
      await this.joiner.stop();
      this.discovery?.stop();
      await this.hello.stop();
      this.presence.stop();
      await this.decisions.stop();
      await this.acks.stop().catch(() => {});
      await this.admission.stop().catch(() => {});
      this.pubsub.stop();
      await this.libp2p.stop();
      this.datastore.close();
      await this.lease?.release();
      this.recorder.record('node_stopped', { peer_id: this.peerId, uptime_ms: Date.now() - this.startedAt.getTime() });
      this.recorder.flush();
      this.eventLog.close();
    })();
    return this.stopping;
  }
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
