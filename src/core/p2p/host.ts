// Builds the libp2p host: TCP + Noise + Yamux, identify, ping, GossipSub (signed, strictly verified),
// the Kademlia DHT (its service given by the caller: the dht layer builds it) and optional mDNS, with connection limits that are enforced (total, per remote IP, inbound rate).
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { Identify } from '@libp2p/identify';
import type { Libp2p, MultiaddrConnection, PeerDiscovery, PrivateKey } from '@libp2p/interface';
import type { KadDHT, kadDHT } from '@libp2p/kad-dht';
import type { Datastore } from 'interface-datastore';
import { mdns } from '@libp2p/mdns';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { createHash } from 'node:crypto';
import { forwardAfterIDontWant } from './gossip-forwards.ts';
import { readGossipFromEvents } from './gossip-reads.ts';
import { keepGossipStreamsOpen } from './gossip-streams.ts';
import { coalesceGossipWrites } from './gossip-writes.ts';
import { cacheEd25519KeyObjects } from './key-objects.ts';
import { installQuietEmptyReads } from './length-prefix-reads.ts';
import { libp2pLogger } from './libp2p-logger.ts';
import { coalesceSocketWrites } from './socket-writes.ts';
import { keepNoUnscoredDeliveries } from './unscored-deliveries.ts';
import { installHalfWindowUpdates } from './yamux-window.ts';
import { UsageError } from '../errors.ts';

export type ChorusServices = { identify: Identify; ping: Ping; pubsub: GossipSub; dht: KadDHT };
export type ChorusLibp2p = Libp2p<ChorusServices>;

export interface HostOptions {
  privateKey: PrivateKey;
  listen: string[];
  mdns: boolean;
  maxConnections: number;
  maxPeersPerIp: number;
  inboundPerSecond: number;
  /** GossipSub mesh degree D (default 4). */
  meshDegree?: number;
  /** Overrides for GossipSub (tests shorten the heartbeat). */
  gossip?: Partial<GossipsubOpts>;
  /** Persistent store for DHT records and provider records (in memory when absent). */
  datastore?: Datastore;
  /** The DHT service (chorusDht from the dht layer: protocol, record namespaces, client or server mode). */
  dht: ReturnType<typeof kadDHT>;
  /** Build the host without starting it (the node's lifecycle starts it); default: started. */
  start?: boolean;
  /** Peers refused at the gate (admission failed recently). */
  denyPeer?: (peerId: string) => boolean;
}

const LOOPBACK_IPS = ['127.0.0.1', '::1'];

/** Remote IP of a multiaddr string like /ip4/1.2.3.4/tcp/5 (undefined for other shapes). */
export function remoteIp(addr: string): string | undefined {
  const m = /^\/ip[46]\/([^/]+)\//.exec(addr);
  return m?.[1];
}

function fastMessageId(msg: { from?: Uint8Array; seqno?: Uint8Array; data?: Uint8Array }): string {
  if (msg.from && msg.seqno) {
    return `${Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')}/${Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('hex')}`;
  }
  return createHash('sha256')
    .update(msg.data ?? new Uint8Array())
    .digest('base64');
}

/**
 * GossipSub's message-id strings, which only key its caches (seen messages, IHAVE and IDONTWANT checks, scores):
 * the same unpadded base64 as the library's default, from Node's native encoder. The default goes through
 * multiformats' JavaScript base64 for every id of every IHAVE, IDONTWANT and message, ~4.6 % of a node's CPU
 * when it relays 1 KiB messages (in-process pubsub bench profile).
 */
export function messageIdString(id: Uint8Array): string {
  const padded = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('base64');
  let end = padded.length;
  while (end > 0 && padded.charCodeAt(end - 1) === 61 /* = */) end--;
  return end === padded.length ? padded : padded.slice(0, end);
}

/** Mesh sizes derived from the degree D. */
export function meshOptions(d: number): Partial<GossipsubOpts> {
  return { D: d, Dlo: Math.max(1, d - 1), Dhi: 2 * d, Dout: Math.min(2, Math.floor(d / 2)) };
}

/** GossipSub options: every message signed and verified; IP-colocation scoring kept, except for loopback. */
export function gossipOptions(overrides: Partial<GossipsubOpts> = {}): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: 'StrictSign',
    emitSelf: false,
    allowPublishToZeroTopicPeers: false,
    floodPublish: true,
    // Recognise copies of a message before checking its signature again: under StrictSign the id is
    // author + sequence number, and the cache only learns ids of messages whose signature verified.
    fastMsgIdFn: fastMessageId,
    msgIdToStrFn: messageIdString,
    // A receiver tells its mesh peers it has a message (IDONTWANT, one small control message each) and its
    // forwards wait for theirs (gossip-forwards.ts): flood publish has already reached every peer connected to
    // the publisher, so the relayed copies it skips were duplicates. Smaller messages are relayed at once.
    idontwantMinDataSize: 512,
    // The IDONTWANT ids taken from a mesh peer per heartbeat. With the library's 512 the rest were dropped and their
    // messages relayed anyway from ~500 msg/s on a topic, which a chorus cluster reaches (~1,900 msg/s across 5
    // processes in `bench pubsub`). A peer outside every mesh keeps the library's 512 (gossip-forwards.ts).
    idontwantMaxMessages: 4096,
    scoreParams: {
      // Many nodes behind one address (a loopback test cluster, a NATed rack) must not be scored as a
      // Sybil attack; everyone else keeps the default colocation penalty.
      IPColocationFactorWhitelist: new Set(LOOPBACK_IPS),
    },
    ...overrides,
  };
}

/** The limits a running host can change (SIGHUP), by host. */
const liveLimits = new WeakMap<ChorusLibp2p, { maxPeersPerIp: number }>();
const lanPeers = new WeakMap<ChorusLibp2p, EventTarget>();

/**
 * The peers mDNS found on the LAN, as 'peer' events (CustomEvent<PeerInfo>); undefined when mDNS is
 * off. (libp2p's own 'peer:discovery' fires for every peer new to the peer store, however it was
 * learnt: an inbound connection, a DHT answer.)
 */
export function lanDiscoveries(node: ChorusLibp2p): EventTarget | undefined {
  return lanPeers.get(node);
}

/** mDNS discovery whose 'peer' events are also re-dispatched on `relay`. */
function relayMdns(relay: EventTarget): (components: Parameters<ReturnType<typeof mdns>>[0]) => PeerDiscovery {
  const factory = mdns({ interval: 10_000 });
  return (components) => {
    const discovery = factory(components);
    discovery.addEventListener('peer', (evt) => relay.dispatchEvent(new CustomEvent('peer', { detail: evt.detail })));
    return discovery;
  };
}

/** Applies new connection limits to a running host. */
export function setConnectionLimits(
  node: ChorusLibp2p,
  limits: { maxConnections: number; maxPeersPerIp: number },
): void {
  const live = liveLimits.get(node);
  if (live) live.maxPeersPerIp = limits.maxPeersPerIp;
  // libp2p keeps its connection manager among its components; it has a setter for the cap
  const cm = (node as unknown as { components?: { connectionManager?: { setMaxConnections?: (n: number) => void } } })
    .components?.connectionManager;
  cm?.setMaxConnections?.(limits.maxConnections);
}

/**
 * libp2p's start failure for listen addresses names its own option (transportManager.faultTolerance)
 * and wraps the reasons in a paragraph; operators need the address, the reason and chorus' setting.
 */
async function listenOrExplain<T>(starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (err) {
    if ((err as Error | undefined)?.name !== 'UnsupportedListenAddressesError') throw err;
    const reasons = [...(err as Error).message.matchAll(/^\s+(\/\S+): (.+)$/gm)].map(
      ([, addr, why]) => `${addr} (${(why ?? '').replace(/^Error: /, '')})`,
    );
    throw new UsageError(
      `cannot listen on ${reasons.join(', ') || 'the configured addresses'}: set p2p.listen (--listen), e.g. /ip4/0.0.0.0/tcp/0 for any free port`,
      'LISTEN_FAILED',
      err,
    );
  }
}

/** Starts a host built with `start: false`; a listen address that cannot be bound is one clear UsageError. */
export async function startHost(node: ChorusLibp2p): Promise<void> {
  await listenOrExplain(Promise.resolve(node.start()));
}

export async function createHost(opts: HostOptions): Promise<ChorusLibp2p> {
  cacheEd25519KeyObjects();
  installHalfWindowUpdates();
  installQuietEmptyReads();
  const live = { maxPeersPerIp: opts.maxPeersPerIp };
  // built unstarted: the gater (which counts the node's connections) is only asked once it listens
  const connectionsFrom = (ip: string): number =>
    node.getConnections().filter((c) => remoteIp(c.remoteAddr.toString()) === ip).length;

  const lan = new EventTarget();
  const node: ChorusLibp2p = await createLibp2p({
    privateKey: opts.privateKey,
    start: false,
    logger: libp2pLogger,
    ...(opts.datastore ? { datastore: opts.datastore } : {}),
    addresses: { listen: opts.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: opts.mdns ? [relayMdns(lan)] : [],
    connectionManager: {
      maxConnections: opts.maxConnections,
      inboundConnectionThreshold: opts.inboundPerSecond,
      maxIncomingPendingConnections: Math.max(10, opts.inboundPerSecond),
    },
    // no libp2p connection monitor: it opens a ping stream on every connection every 10 s (most of an idle
    // cluster's CPU when many nodes share a process) and chorus uses neither its round-trip times nor its
    // verdicts — under load a ping can take seconds and dropping the connection then only makes it worse. Closed
    // sockets still end connections at once, yamux keep-alives catch silent peers, `chorus status` pings itself.
    connectionMonitor: { enabled: false },
    connectionGater: {
      denyInboundConnection: (maConn: MultiaddrConnection) => {
        const ip = remoteIp(maConn.remoteAddr.toString());
        return ip !== undefined && connectionsFrom(ip) >= live.maxPeersPerIp;
      },
      // loopback and private addresses are the point on a LAN; never filter them out
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => opts.denyPeer?.(peer.toString()) ?? false,
      denyInboundEncryptedConnection: (peer) => opts.denyPeer?.(peer.toString()) ?? false,
      denyOutboundEncryptedConnection: (peer) => opts.denyPeer?.(peer.toString()) ?? false,
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub(gossipOptions({ ...meshOptions(opts.meshDegree ?? 4), ...opts.gossip })),
      dht: opts.dht,
    },
  });
  coalesceGossipWrites(node.services.pubsub);
  keepNoUnscoredDeliveries(node.services.pubsub);
  readGossipFromEvents(node.services.pubsub);
  forwardAfterIDontWant(node.services.pubsub);
  keepGossipStreamsOpen(node.services.pubsub, (peer) => node.getConnections(peer));
  node.addEventListener('connection:open', (evt) => coalesceSocketWrites((evt.detail as { maConn?: unknown }).maConn));
  liveLimits.set(node, live);
  if (opts.mdns) lanPeers.set(node, lan);
  if (opts.start ?? true) await startHost(node);
  return node;
}
