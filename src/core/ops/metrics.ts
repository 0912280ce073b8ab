// The node's Prometheus metrics (prom-client, one registry per node so in-process clusters never mix
// series). Counters are fed by events of the services (pubsub, SHHH, DHT); gauges read live state when
// scraped. Election and lease metrics come from provider functions that later subsystems set; until a
// provider is set those metrics are absent from the output (never a made-up value). docs/metrics.md
// documents every series.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

/** What the election subsystem reports (see setElectionSource). */
export interface ElectionSnapshot {
  term: number;
  /** e.g. "leader", "follower", "candidate". */
  state: string;
  /** Leader changes this node has observed since it started. */
  leaderChanges: number;
}

/** What the licensing subsystem reports (see setLeaseSource). */
export interface LeaseSnapshot {
  /** e.g. "valid", "grace", "expired", "missing". */
  state: string;
  /** Seconds of grace left; omitted when not in a grace period. */
  graceRemainingSeconds?: number;
}

/** Live facts the gauges read at scrape time. */
export interface MetricsProbe {
  peers(): string[];
  connections(): { direction: 'inbound' | 'outbound' }[];
  eventLogEntries(): number;
  eventLogBytes(): number;
  dhtRecords(): Promise<{ latest: number; versions: number }>;
  /** Peers that writes and reads pass over now: a request to them got no answer, and none has since. */
  unresponsivePeers(): number;
}

export type PeerLicenseSource = (peerId: string) => string;

export const DHT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ChorusMetrics {
  readonly registry = new Registry();
  private probe: MetricsProbe | undefined;
  private peerLicense: PeerLicenseSource | undefined;
  private electionSource: (() => ElectionSnapshot | undefined) | undefined;
  private leaseSource: (() => LeaseSnapshot | undefined) | undefined;
  /** Subjects whose last replication fell short, with how many holders were missing. */
  private readonly deficits = new Map<string, number>();

  readonly pubsubMessages: Counter<'direction' | 'family' | 'type'>;
  readonly publishErrors: Counter<'family' | 'reason'>;
  readonly pubsubDropped: Counter<'family'>;
  readonly redactions: Counter<'rule'>;
  readonly eventLogRateLimited: Counter;
  readonly dhtDuration: Histogram<'op'>;
  readonly dhtErrors: Counter<'op' | 'code'>;
  readonly underReplicated: Counter;
  readonly checkStatus: Gauge<'check' | 'critical'>;
  readonly checkDuration: Gauge<'check'>;
  readonly ready: Gauge;
  readonly reloads: Counter<'result'>;
  private readonly election: Metric[];
  private readonly lease: Metric[];

  constructor(info: { version: string; peerId: string }) {
    const registers = [this.registry];
    new Gauge({
      name: 'chorus_info',
      help: 'Build and identity of this node (always 1).',
      labelNames: ['version', 'peer_id'],
      registers,
    }).set({ version: info.version, peer_id: info.peerId }, 1);
    // prom-client calls collect() with `this` bound to the metric, so the collectors reach the node's state here
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    new Gauge({
      name: 'chorus_peers',
      help: 'Connected peers, by license state ("unknown" until licensing reports it).',
      labelNames: ['license'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const p of self.probe?.peers() ?? []) {
          const state = self.peerLicense?.(p) ?? 'unknown';
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        if (counts.size === 0) this.set({ license: 'unknown' }, 0);
        for (const [license, n] of counts) this.set({ license }, n);
      },
    });
    new Gauge({
      name: 'chorus_connections',
      help: 'Open libp2p connections, by direction.',
      labelNames: ['direction'],
      registers,
      collect() {
        const conns = self.probe?.connections() ?? [];
        for (const direction of ['inbound', 'outbound'] as const) {
          this.set({ direction }, conns.filter((c) => c.direction === direction).length);
        }
      },
    });
    this.pubsubMessages = new Counter({
      name: 'chorus_pubsub_messages_total',
      help: 'PubSub messages delivered to this node (in) or published by it (out), by topic family and message type ("raw" for raw topics).',
      labelNames: ['direction', 'family', 'type'],
      registers,
    });
    this.publishErrors = new Counter({
      name: 'chorus_pubsub_publish_errors_total',
      help: 'Publishes that failed, by topic family and reason (NO_SUBSCRIBERS, SHHH_DENIED, …).',
      labelNames: ['family', 'reason'],
      registers,
    });
    this.pubsubDropped = new Counter({
      name: 'chorus_pubsub_dropped_total',
      help: 'Received messages rejected as malformed, forged or over the hop limit, by topic family.',
      labelNames: ['family'],
      registers,
    });
    this.redactions = new Counter({
      name: 'chorus_shhh_redactions_total',
      help: 'Secrets SHHH redacted from outbound messages, by rule.',
      labelNames: ['rule'],
      registers,
    });
    this.eventLogRateLimited = new Counter({
      name: 'chorus_eventlog_rate_limited_total',
      help: 'Received messages counted instead of logged (their peer went over eventLog.peerRateLimit), added when each window ends.',
      registers,
    });
    this.dhtDuration = new Histogram({
      name: 'chorus_dht_op_duration_seconds',
      help: 'Latency of successful decision-store operations (put, get, resolve, history), in seconds.',
      labelNames: ['op'],
      buckets: DHT_BUCKETS,
      registers,
    });
    this.dhtErrors = new Counter({
      name: 'chorus_dht_op_errors_total',
      help: 'Failed decision-store operations, by operation and error code.',
      labelNames: ['op', 'code'],
      registers,
    });
    this.underReplicated = new Counter({
      name: 'chorus_dht_under_replicated_total',
      help: 'Writes and re-replications that reached fewer holders than dht.replication.',
      registers,
    });
    new Gauge({
      name: 'chorus_dht_replication_deficit',
      help: 'Decision subjects whose last write or re-replication reached fewer holders than dht.replication.',
      registers,
      collect() {
        this.set(self.deficits.size);
      },
    });
    new Gauge({
      name: 'chorus_dht_replication_missing_holders',
      help: 'Sum over those subjects of the holders still missing.',
      registers,
      collect() {
        this.set([...self.deficits.values()].reduce((a, b) => a + b, 0));
      },
    });
    new Gauge({
      name: 'chorus_dht_unresponsive_peers',
      help: 'Peers that writes and reads pass over now, asking the next-closest peer instead: a request to them got no answer, and none has since.',
      registers,
      collect() {
        this.set(self.probe?.unresponsivePeers() ?? 0);
      },
    });
    new Gauge({
      name: 'chorus_dht_records',
      help: 'Decision records held in the local DHT store, by kind (latest pointers, immutable versions).',
      labelNames: ['kind'],
      registers,
      async collect() {
        const held = (await self.probe?.dhtRecords()) ?? { latest: 0, versions: 0 };
        this.set({ kind: 'latest' }, held.latest);
        this.set({ kind: 'version' }, held.versions);
      },
    });
    new Gauge({
      name: 'chorus_eventlog_entries',
      help: 'Entries in the signed event log.',
      registers,
      collect() {
        this.set(self.probe?.eventLogEntries() ?? 0);
      },
    });
    new Gauge({
      name: 'chorus_eventlog_bytes',
      help: 'Size of the event log on disk (database and write-ahead log), in bytes.',
      registers,
      collect() {
        this.set(self.probe?.eventLogBytes() ?? 0);
      },
    });
    this.checkStatus = new Gauge({
      name: 'chorus_health_check_status',
      help: 'Last result of each health check: 1 passed, 0 failed, -1 not run yet.',
      labelNames: ['check', 'critical'],
      registers,
    });
    this.checkDuration = new Gauge({
      name: 'chorus_health_check_duration_seconds',
      help: 'Duration of the last run of each health check, in seconds.',
      labelNames: ['check'],
      registers,
    });
    this.ready = new Gauge({ name: 'chorus_ready', help: '1 when /readyz answers 200, else 0.', registers });
    this.reloads = new Counter({
      name: 'chorus_config_reloads_total',
      help: 'Configuration reloads (SIGHUP), by result (applied, rejected).',
      labelNames: ['result'],
      registers,
    });
    // Election and lease series: defined now, registered only once a provider is set.
    this.election = [
      new Gauge({
        name: 'chorus_election_term',
        help: 'Current election term as this node sees it.',
        registers: [],
        collect() {
          const s = self.electionSource?.();
          if (s) this.set(s.term);
        },
      }),
      new Counter({
        name: 'chorus_election_leader_changes_total',
        help: 'Leader changes this node observed since it started.',
        registers: [],
        collect() {
          const s = self.electionSource?.();
          if (!s) return;
          this.reset();
          this.inc(s.leaderChanges);
        },
      }),
      new Gauge({
        name: 'chorus_election_state',
        help: 'This node’s election state: 1 for the current state label.',
        labelNames: ['state'],
        registers: [],
        collect() {
          this.reset();
          this.set({ state: self.electionSource?.()?.state ?? 'unknown' }, 1);
        },
      }),
    ];
    this.lease = [
      new Gauge({
        name: 'chorus_license_lease_state',
        help: 'This node’s license lease state: 1 for the current state label.',
        labelNames: ['state'],
        registers: [],
        collect() {
          this.reset();
          this.set({ state: self.leaseSource?.()?.state ?? 'unknown' }, 1);
        },
      }),
      new Gauge({
        name: 'chorus_license_grace_remaining_seconds',
        help: 'Seconds left in the lease grace period (0 outside a grace period).',
        registers: [],
        collect() {
          const s = self.leaseSource?.();
          if (s) this.set(s.graceRemainingSeconds ?? 0);
        },
      }),
    ];
  }

  private processMetrics = false;

  /** Adds prom-client's process and Node.js metrics (once; they run an event-loop delay monitor). */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Connects the scrape-time gauges to the node. */
  setProbe(probe: MetricsProbe): void {
    this.probe = probe;
  }

  /** Licensing reports each connected peer's license state (label of chorus_peers). */
  setPeerLicenseSource(fn: PeerLicenseSource | undefined): void {
    this.peerLicense = fn;
  }

  /** The election subsystem reports term, state and leader changes; the election series appear once set. */
  setElectionSource(fn: (() => ElectionSnapshot | undefined) | undefined): void {
    this.electionSource = fn;
    this.toggle(this.election, fn !== undefined);
  }

  /** Licensing reports the lease state; the lease series appear once set. */
  setLeaseSource(fn: (() => LeaseSnapshot | undefined) | undefined): void {
    this.leaseSource = fn;
    this.toggle(this.lease, fn !== undefined);
  }

  electionSnapshot(): ElectionSnapshot | undefined {
    return this.electionSource?.();
  }

  leaseSnapshot(): LeaseSnapshot | undefined {
    return this.leaseSource?.();
  }

  /** A write or re-replication of a subject reached `holders` of `want`. */
  noteReplication(subject: string, holders: number, want: number): void {
    if (holders >= want) {
      this.deficits.delete(subject);
      return;
    }
    this.underReplicated.inc();
    this.deficits.set(subject, want - holders);
  }

  private toggle(metrics: Metric[], on: boolean): void {
    for (const m of metrics) {
      const name = (m as unknown as { name: string }).name;
      const present = this.registry.getSingleMetric(name) !== undefined;
      if (on && !present) this.registry.registerMetric(m);
      if (!on && present) this.registry.removeSingleMetric(name);
    }
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
