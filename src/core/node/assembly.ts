// The network core every node is built on, for the daemon and for one-shot `publish --join` alike
// (one assembly, two profiles): the libp2p host (its DHT validating through the record namespaces),
// license admission at its gate, signed pubsub and delivery receipts — started in that order through
// the caller's lifecycle.
import type { GossipsubOpts } from '@libp2p/gossipsub';
import type { PrivateKey } from '@libp2p/interface';
import type { Datastore } from 'interface-datastore';
import type { ChorusConfig } from '../config/schema.ts';
import { chorusDht } from '../dht/kad.ts';
import type { RecordNamespaces } from '../dht/namespaces.ts';
import { Admission } from '../license/admission.ts';
import type { NodeCertificate } from '../license/certificate.ts';
import type { NodeLicense } from '../license/startup.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../log.ts';
import { createHost, startHost, type ChorusLibp2p } from '../p2p/host.ts';
import { signerFor } from '../p2p/signer.ts';
import { AckService } from '../pubsub/ack.ts';
import { ChorusPubSub, type MessageRecorder } from '../pubsub/pubsub.ts';
import type { Redactor } from '../shhh/redactor.ts';

/** How a node meets the network: what differs between a daemon and a one-shot publisher. */
export interface NetworkProfile {
  listen: string[];
  mdns: boolean;
  maxConnections: number;
  maxPeersPerIp: number;
  inboundPerSecond: number;
  meshWaitMs: number;
  gossip?: Partial<GossipsubOpts>;
  /** Subscribe to the static topics and this node's role topics at start (a daemon does; a one-shot does not). */
  joinTopics: boolean;
}

/** A daemon: the configured listeners, limits and topics. */
export function daemonProfile(config: ChorusConfig, gossip?: Partial<GossipsubOpts>): NetworkProfile {
  return {
    listen: config.p2p.listen,
    mdns: config.p2p.mdns,
    maxConnections: config.p2p.maxConnections,
    maxPeersPerIp: config.p2p.maxPeersPerIp,
    inboundPerSecond: config.p2p.inboundPerSecond,
    meshWaitMs: config.pubsub.meshWaitMs,
    gossip,
    joinTopics: true,
  };
}

/** One-shot publishing: loopback listener, no mDNS, a fast heartbeat, no topics of its own. */
export function oneShotProfile(timeoutMs: number): NetworkProfile {
  return {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    maxConnections: 64,
    maxPeersPerIp: 64,
    inboundPerSecond: 64,
    meshWaitMs: timeoutMs,
    gossip: { heartbeatInterval: 200 },
    joinTopics: false,
  };
}

export interface NetworkOptions {
  config: ChorusConfig;
  logger: Logger;
  license: NodeLicense;
  /** The certificate this node proves (for its own peer ID, from license.credentialFor). */
  credential: NodeCertificate;
  privateKey: PrivateKey;
  profile: NetworkProfile;
  namespaces: RecordNamespaces;
  redactor: Redactor;
  /** Persistent store for DHT and provider records (in memory when absent). */
  datastore?: Datastore;
  /** The event log's writer (none for a one-shot). */
  recorder?: MessageRecorder;
}

export interface NetworkParts {
  libp2p: ChorusLibp2p;
  admission: Admission;
  pubsub: ChorusPubSub;
  acks: AckService;
}

/** Builds and starts (through `life`) the host, admission, pubsub and receipts. */
export async function startNetwork(life: Lifecycle, o: NetworkOptions): Promise<NetworkParts> {
  const { config, logger, license, profile } = o;
  // built unstarted: admission (which needs the host) exists before the first connection reaches the gate
  const libp2p = await createHost({
    start: false,
    datastore: o.datastore,
    dht: chorusDht(o.namespaces, { clientMode: false }),
    privateKey: o.privateKey,
    listen: profile.listen,
    mdns: profile.mdns,
    maxConnections: profile.maxConnections,
    maxPeersPerIp: profile.maxPeersPerIp,
    inboundPerSecond: profile.inboundPerSecond,
    meshDegree: config.pubsub.meshDegree,
    gossip: profile.gossip,
    denyPeer: (peer) => admission.isDenied(peer),
  });
  const admission = new Admission({
    libp2p,
    signer: signerFor(o.privateKey),
    credential: o.credential,
    authorities: license.authorities,
    clusterId: license.clusterId,
    handshakeTimeoutMs: config.license.handshakeTimeoutMs,
    logger: logger.child('admission'),
  });
  const pubsub = new ChorusPubSub({
    gossip: libp2p.services.pubsub,
    selfId: libp2p.peerId,
    role: config.agent.role,
    hopLimit: config.pubsub.hopLimit,
    meshWaitMs: profile.meshWaitMs,
    logger: logger.child('pubsub'),
    redactor: o.redactor,
    recorder: o.recorder,
    admit: (author) => admission.isAdmitted(author) || admission.awaitAdmission(author),
  });
  const acks = new AckService(libp2p, pubsub, logger.child('ack'));
  await life.start('libp2p', { start: () => startHost(libp2p), stop: () => libp2p.stop() });
  await life.start('admission', admission);
  if (profile.joinTopics) {
    await life.start('pubsub', {
      start: () => {
        pubsub.start();
        pubsub.joinRoleTopics(config.agent.role, config.agent.expertise, config.agent.reportsTo);
      },
      stop: () => pubsub.stop(),
    });
  }
  await life.start('acks', acks);
  return { libp2p, admission, pubsub, acks };
}
