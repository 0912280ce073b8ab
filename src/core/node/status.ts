// What a node says about itself and its peers (`chorus status`, `chorus peers`): computed from the
// components bag, so the API routes and the ChorusNode facade share one definition.
import { socketPath } from '../api/protocol.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import type { ElectionService } from '../election/service.ts';
import type { EventLog } from '../eventlog/eventlog.ts';
import type { UnresponsivePeers } from '../dht/unresponsive.ts';
import type { Admission, AdmittedPeer } from '../license/admission.ts';
import type { LeaseKeeper, LeaseStatus } from '../license/lease.ts';
import type { NodeLicense } from '../license/startup.ts';
import type { Logger } from '../log.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import { peerAddresses } from '../p2p/peer-addresses.ts';
import type { PeerPresence, Presence } from '../pubsub/presence.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import { buildInfo } from '../version.ts';

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
  /** DHT writes and reads pass this peer over: it stopped answering their requests (until it answers again). */
  passedOver?: boolean;
}

/** The parts of a node its status is made of. */
export interface StatusComponents {
  config: ChorusConfig;
  startedAt: Date;
  libp2p: ChorusLibp2p;
  pubsub: Pick<ChorusPubSub, 'topics'>;
  eventLog: Pick<EventLog, 'head'>;
  license: NodeLicense;
  lease: Pick<LeaseKeeper, 'status'> | undefined;
  election: Pick<ElectionService, 'summary'> | undefined;
  /** The control API's TCP listener and the ops listener, when they run. */
  apiTcp: () => { host: string; port: number } | undefined;
  opsUrl: () => string | undefined;
}

export function nodeStatus(c: StatusComponents): NodeStatus {
  const head = c.eventLog.head;
  const tcp = c.apiTcp();
  return {
    peerId: c.libp2p.peerId.toString(),
    version: buildInfo().version,
    role: c.config.agent.role,
    expertise: c.config.agent.expertise,
    addresses: c.libp2p.getMultiaddrs().map(String),
    topics: c.pubsub.topics(),
    peers: c.libp2p.getPeers().length,
    startedAt: c.startedAt.toISOString(),
    uptimeMs: Date.now() - c.startedAt.getTime(),
    dataDir: c.config.dataDir,
    eventLog: { entries: head.seq, headHash: head.hash },
    api: { socket: socketPath(c.config.dataDir), tcp: tcp ? `${tcp.host}:${tcp.port}` : undefined },
    license: {
      id: c.license.license.id,
      licensee: c.license.license.licensee,
      clusterId: c.license.clusterId,
      dev: c.license.license.dev,
      expiresAt: c.license.license.expiresAt,
      file: c.license.file,
      lease: c.lease?.status(),
    },
    election: c.election?.summary(),
    ops: c.opsUrl(),
  };
}

/** Connected peers joined with what they announced, with a fresh ping latency (bounded). */
export async function nodePeers(
  c: {
    libp2p: ChorusLibp2p;
    presence: Pick<Presence, 'peers'>;
    admission: Pick<Admission, 'info'>;
    logger: Logger;
    /** The one-hop DHT, which knows the peers it passes over (absent without a DHT). */
    replicas?: { unresponsive: Pick<UnresponsivePeers, 'passedOver'> };
  },
  signal?: AbortSignal,
): Promise<PeerView[]> {
  const views = new Map<string, PeerView>();
  for (const conn of c.libp2p.getConnections()) {
    const id = conn.remotePeer.toString();
    // what the peer announced (dialable), not an inbound connection's ephemeral port
    if (!views.has(id)) views.set(id, { peerId: id, connected: true, addresses: [] });
    (views.get(id) as PeerView).addresses = await peerAddresses(c.libp2p, conn.remotePeer);
  }
  for (const p of c.presence.peers()) {
    const view = views.get(p.peerId) ?? { peerId: p.peerId, connected: false, addresses: [] };
    views.set(p.peerId, { ...p, ...view });
  }
  const timeout = AbortSignal.timeout(2000);
  await Promise.all(
    [...views.values()]
      .filter((v) => v.connected)
      .map(async (v) => {
        const conn = c.libp2p.getConnections().find((k) => k.remotePeer.toString() === v.peerId);
        if (!conn) return;
        try {
          v.latencyMs = await c.libp2p.services.ping.ping(conn.remotePeer, {
            signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          });
        } catch (err) {
          c.logger.debug('ping failed', { peer: v.peerId, error: describeError(err) });
        }
      }),
  );
  for (const v of views.values()) {
    if (c.replicas?.unresponsive.passedOver(v.peerId)) v.passedOver = true;
    const proven = c.admission.info(v.peerId);
    if (proven) {
      const { peerId: _p, ...license } = proven;
      v.license = license;
    }
  }
  // code-unit order, as sort() orders strings (localeCompare would load ICU's collation tables: ~2 MB of RSS)
  return [...views.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
}
