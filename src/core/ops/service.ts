// The ops service of a node: its metrics (fed by the services' events), the health monitor with the
// built-in checks, the probe echo responder and the ops HTTP listener. Composed by the node assembly;
// reconfigured on SIGHUP. Other features add their checks (`addCheck`) and metric sources.
import { statSync } from 'node:fs';
import type { ChorusConfig } from '../config/schema.ts';
import type { DirectReplicas } from '../dht/direct.ts';
import type { DecisionStore } from '../decisions/store.ts';
import type { EventLog } from '../eventlog/eventlog.ts';
import type { Logger } from '../log.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import type { Signer } from '../p2p/signer.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import { topicFamily } from '../pubsub/topics.ts';
import { buildInfo } from '../version.ts';
import { HealthMonitor, type CheckResult, type HealthCheck, type HealthReport } from './checks.ts';
import { OpsHttpServer } from './http.ts';
import { ChorusMetrics } from './metrics.ts';
import { dhtCheck, peersCheck, pubsubCheck, startEchoResponder } from './probes.ts';

export type OpsConfig = ChorusConfig['ops'];

/** The parts of a node the ops service observes (the node's components bag satisfies it). */
export interface OpsComponents {
  /** The running configuration (read live: SIGHUP may replace it). */
  config: Pick<ChorusConfig, 'p2p'>;
  libp2p: ChorusLibp2p;
  pubsub: ChorusPubSub;
  signer: Signer;
  replicas: DirectReplicas | undefined;
  decisions: Pick<DecisionStore, 'heldRecordCount' | 'on' | 'off'>;
  eventLog: Pick<EventLog, 'head' | 'file'>;
  recorder: { observe(fn: (kind: string, data: unknown) => void): () => void };
  startedAt: Date;
}

/** Everything `chorus status --watch` shows beyond the node status. */
export interface OpsSummary {
  health: HealthReport;
  dhtRecords: { latest: number; versions: number };
  election?: { term: number; state: string; leaderChanges: number };
  lease?: { state: string; graceRemainingSeconds?: number };
  ops?: { host: string; port: number };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export class OpsService {
  readonly metrics: ChorusMetrics;
  readonly health: HealthMonitor;
  private readonly node: OpsComponents;
  private readonly logger: Logger;
  private config: OpsConfig;
  private readonly http: OpsHttpServer;
  private readonly unwire: (() => void)[] = [];
  private readonly unwireAlways: (() => void)[] = [];
  private running = false;

  constructor(node: OpsComponents, config: OpsConfig, logger: Logger) {
    this.node = node;
    this.config = config;
    this.logger = logger;
    const peerId = node.libp2p.peerId.toString();
    this.metrics = new ChorusMetrics({ version: buildInfo().version, peerId });
    this.health = new HealthMonitor({ intervalMs: config.checkIntervalMs, timeoutMs: config.checkTimeoutMs });
    this.http = new OpsHttpServer({
      health: () => this.health.report(),
      metrics: async () => ({ contentType: this.metrics.contentType(), text: await this.metrics.text() }),
      about: () => ({ peerId, version: buildInfo().version, uptimeMs: Date.now() - node.startedAt.getTime() }),
    });
    const { libp2p, pubsub } = node;
    this.addCheck(peersCheck(libp2p, () => node.config.p2p.bootstrap));
    this.addCheck(pubsubCheck(pubsub, libp2p));
    this.addCheck(dhtCheck(libp2p, node.signer, node.replicas));
  }

  /** Adds a health check (a feature's own: the license, later tasks); it reports -1 until it first runs. */
  addCheck(check: HealthCheck): void {
    this.health.register(check);
    this.metrics.checkStatus.set({ check: check.name, critical: String(check.critical) }, -1);
  }

  /** Starts the HTTP listener, the echo responder and the checks, when ops.enabled (else nothing runs). */
  async start(): Promise<void> {
    if (!this.config.enabled || this.running) return;
    await this.http.start(this.config.host, this.config.port, this.config.allowRemote);
    if (this.unwireAlways.length === 0) {
      // wired on first start only: a node started with ops off pays nothing per message
      this.metrics.collectProcessMetrics();
      this.wireMetrics();
    }
    this.unwire.push(startEchoResponder(this.node.pubsub));
    this.health.start();
    this.running = true;
    this.logger.info('ops endpoints listening', { url: this.url() });
  }

  async stop(): Promise<void> {
    this.health.stop();
    for (const off of this.unwire.splice(0)) off();
    await this.http.stop();
    this.running = false;
  }

  /** True while the checks and the listener run (ops.enabled; a reload can change it). */
  get enabled(): boolean {
    return this.running;
  }

  url(): string | undefined {
    const a = this.http.address;
    return a ? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : undefined;
  }

  address(): { host: string; port: number } | undefined {
    return this.http.address;
  }

  /** Applies changed ops settings: listener moved, enabled/disabled, new check schedule. */
  async reconfigure(next: OpsConfig): Promise<void> {
    const prev = this.config;
    this.health.configure({ intervalMs: next.checkIntervalMs, timeoutMs: next.checkTimeoutMs });
    const listenerChanged =
      prev.enabled !== next.enabled ||
      prev.host !== next.host ||
      prev.port !== next.port ||
      prev.allowRemote !== next.allowRemote;
    if (!listenerChanged) {
      this.config = next;
      return;
    }
    await this.stop();
    this.config = next;
    try {
      await this.start();
    } catch (err) {
      // the new listener cannot start (port taken, remote host not allowed): keep the old one
      this.config = prev;
      await this.start();
      throw err;
    }
  }

  async summary(): Promise<OpsSummary> {
    const a = this.http.address;
    return {
      health: this.health.report(),
      dhtRecords: await this.node.decisions.heldRecordCount(),
      election: this.metrics.electionSnapshot(),
      lease: this.metrics.leaseSnapshot(),
      ...(a ? { ops: a } : {}),
    };
  }

  private wireMetrics(): void {
    const { metrics, node } = this;
    metrics.setProbe({
      peers: () => node.libp2p.getPeers().map(String),
      connections: () => node.libp2p.getConnections().map((c) => ({ direction: c.direction })),
      eventLogEntries: () => node.eventLog.head.seq,
      eventLogBytes: () => fileSize(node.eventLog.file) + fileSize(`${node.eventLog.file}-wal`),
      dhtRecords: () => node.decisions.heldRecordCount(),
      unresponsivePeers: () => node.replicas?.unresponsive.size ?? 0,
    });
    const off = node.recorder.observe((kind, data) => {
      const d = (data ?? {}) as { topic?: unknown; message_type?: unknown; direction?: unknown; rule?: unknown };
      const family = typeof d.topic === 'string' ? topicFamily(d.topic) : 'custom';
      if (kind === 'message_out' && typeof d.message_type === 'string') {
        metrics.pubsubMessages.inc({ direction: 'out', family, type: d.message_type });
      } else if (kind === 'raw_message' && (d.direction === 'in' || d.direction === 'out')) {
        metrics.pubsubMessages.inc({ direction: d.direction, family, type: 'raw' });
      } else if (d.direction === 'in' && typeof d.message_type === 'string') {
        metrics.pubsubMessages.inc({ direction: 'in', family, type: d.message_type });
      } else if (kind === 'shhh_redaction' && typeof d.rule === 'string') {
        metrics.redactions.inc({ rule: d.rule });
      } else if (kind === 'rate_limited') {
        metrics.eventLogRateLimited.inc((data as { dropped?: number }).dropped ?? 0);
      }
    });
    this.unwireAlways.push(off);
    const onPublishError = ({ topic, code }: { topic: string; code: string }): void =>
      metrics.publishErrors.inc({ family: topic ? topicFamily(topic) : 'custom', reason: code });
    const onDropped = ({ topic }: { topic: string }): void => metrics.pubsubDropped.inc({ family: topicFamily(topic) });
    node.pubsub.on('publishError', onPublishError);
    node.pubsub.on('dropped', onDropped);
    const onOp = ({ op, ms, ok, code }: { op: string; ms: number; ok: boolean; code?: string }): void => {
      if (ok) metrics.dhtDuration.observe({ op }, ms / 1000);
      else metrics.dhtErrors.inc({ op, code: code ?? 'ERROR' });
    };
    const onReplication = ({ subject, holders, want }: { subject: string; holders: number; want: number }): void =>
      metrics.noteReplication(subject, holders, want);
    node.decisions.on('op', onOp);
    node.decisions.on('replication', onReplication);
    const onResult = (r: CheckResult): void => {
      metrics.checkStatus.set({ check: r.name, critical: String(r.critical) }, r.status === 'pass' ? 1 : 0);
      if (r.durationMs !== undefined) metrics.checkDuration.set({ check: r.name }, r.durationMs / 1000);
      metrics.ready.set(this.health.report().ready ? 1 : 0);
    };
    this.health.on('result', onResult);
    this.unwireAlways.push(() => {
      node.pubsub.off('publishError', onPublishError);
      node.pubsub.off('dropped', onDropped);
      node.decisions.off('op', onOp);
      node.decisions.off('replication', onReplication);
      this.health.off('result', onResult);
    });
  }

  /** Detaches the metrics from the node's services (node stop). */
  async close(): Promise<void> {
    await this.stop();
    for (const off of this.unwireAlways.splice(0)) off();
  }
}
