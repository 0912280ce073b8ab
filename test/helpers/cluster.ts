// In-process clusters of real chorus nodes on loopback TCP, for multi-node tests.
import type { GossipsubOpts } from '@libp2p/gossipsub';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/core/config/load.ts';
import type { ChorusConfig } from '../../src/core/config/schema.ts';
import { createLogger, silentLogger, type Logger } from '../../src/core/log.ts';
import { ChorusNode } from '../../src/core/node/node.ts';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { Admission } from '../../src/core/license/admission.ts';
import { resolveNodeLicense } from '../../src/core/license/startup.ts';
import { chorusDht } from '../../src/core/dht/kad.ts';
import { RecordNamespaces } from '../../src/core/dht/namespaces.ts';
import { createHost, type ChorusLibp2p } from '../../src/core/p2p/host.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { TOPICS } from '../../src/core/pubsub/topics.ts';

export interface ClusterOptions {
  roles?: string[];
  hopLimit?: number;
  config?: (i: number) => Record<string, unknown>;
  admit?: (author: string) => boolean;
  /** Run the ops service (health checks, metrics, ops listener on an ephemeral port) on every node. */
  ops?: boolean;
}

/** Every in-process test node belongs to one dev cluster (one dev authority per test process). */
export const TEST_DEV_AUTHORITY = join(mkdtempSync(join(tmpdir(), 'chorus-authority-')), 'dev-authority.key');

export function testConfig(overrides: Record<string, unknown> = {}): ChorusConfig {
  const dataDir = mkdtempSync(join(tmpdir(), 'chorus-node-'));
  const base = {
    dataDir,
    license: { dev: true, devAuthority: TEST_DEV_AUTHORITY },
    p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
    pubsub: { meshWaitMs: 5000 },
    // ephemeral: many nodes share the host; ops only runs where a test asks for it (startWithConfig)
    ops: { port: 0 },
  };
  return validateConfig(deepMerge(base, overrides));
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      typeof v === 'object' && v && !Array.isArray(v) && typeof cur === 'object' && cur && !Array.isArray(cur)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

const logger = process.env.CHORUS_TEST_LOG
  ? createLogger({ level: 'debug', format: 'text', sink: (l) => process.stderr.write(`${l}\n`) })
  : silentLogger;

export const FAST_GOSSIP = { heartbeatInterval: 100 };

export async function startNode(
  overrides: Record<string, unknown> = {},
  gossip: Partial<GossipsubOpts> = {},
  admit?: (author: string) => boolean,
  extra: { ops?: boolean; logger?: Logger } = {},
): Promise<ChorusNode> {
  return startWithConfig(testConfig(overrides), gossip, admit, extra);
}

/** Starts (or restarts, with the same data dir) a node from a full config; `api` serves the control socket. */
export async function startWithConfig(
  config: ChorusConfig,
  gossip: Partial<GossipsubOpts> = {},
  admit?: (author: string) => boolean,
  extra: { ops?: boolean; logger?: Logger; api?: boolean } = {},
): Promise<ChorusNode> {
  return ChorusNode.start({
    config,
    logger: extra.logger ?? logger,
    api: extra.api ?? false,
    ops: extra.ops ?? false,
    gossip: { ...FAST_GOSSIP, ...gossip },
    admit,
  });
}

/** Resolves when every node can reach `want` (default: all the other) subscribers of `topic`. */
export async function waitForMesh(
  nodes: ChorusNode[],
  topic: string = TOPICS.coordination,
  want = nodes.length - 1,
): Promise<void> {
  await Promise.all(nodes.map((n) => n.pubsub.waitForSubscribers(topic, undefined, 30_000, want)));
}

/** Starts n nodes and connects them in a full mesh (each dials every earlier node). */
export async function startCluster(n: number, opts: ClusterOptions = {}): Promise<ChorusNode[]> {
  const nodes: ChorusNode[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const role = opts.roles?.[i % opts.roles.length] ?? 'developer';
      nodes.push(
        await startNode(
          deepMerge(
            { agent: { role }, pubsub: { hopLimit: opts.hopLimit ?? 3, meshWaitMs: 5000 } },
            opts.config?.(i) ?? {},
          ),
          {},
          opts.admit,
          { ops: opts.ops },
        ),
      );
    }
    await connectAll(nodes);
  } catch (err) {
    await stopAll(nodes); // a half-started cluster must not keep the test process alive
    throw err;
  }
  return nodes;
}

/** Dials every pair and waits for the pubsub mesh. */
export async function connectAll(nodes: ChorusNode[]): Promise<void> {
  for (let i = 1; i < nodes.length; i++) {
    for (let j = 0; j < i; j++) await nodes[i]?.libp2p.dial((nodes[j] as ChorusNode).libp2p.getMultiaddrs()[0]!);
  }
  await waitForMesh(nodes);
}

/** Resolves when a node has heard (from a write it stored, a version hint, or a read) of `version` of a subject. */
export function heard(node: ChorusNode, subject: string, version: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if ((node.decisions.knownVersion(subject) ?? 0) < version) return;
      node.decisions.off('version', check);
      resolve();
    };
    node.decisions.on('version', check);
    check();
  });
}

export async function stopAll(nodes: ChorusNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
}

/** Election timers for in-process clusters (short, but with room for a busy 2-core machine). */
export const FAST_ELECTION = { heartbeatMs: 100, electionTimeoutMinMs: 600, electionTimeoutMaxMs: 1200 };

/** Cuts the election links between groups of nodes (both directions); nodes in one group still talk. */
export function cutElection(groups: ChorusNode[][]): void {
  for (const group of groups) {
    const ids = new Set(group.map((n) => n.peerId));
    for (const n of group) n.election.transport.reachable = (peer) => ids.has(peer);
  }
}

/** Restores every election link. */
export function healElection(nodes: ChorusNode[]): void {
  for (const n of nodes) n.election.transport.reachable = () => true;
}

/** A crash as far as the election can tell (no hand-over), then the node stops. */
export async function killNode(node: ChorusNode): Promise<void> {
  await node.election.halt();
  await node.stop();
}

/** Resolves with the leader once exactly one of `nodes` leads and all of them follow it. */
export function electionAgreed(nodes: ChorusNode[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): string | undefined => {
      const leaders = nodes.filter((n) => n.election.raft.state === 'leader');
      if (leaders.length !== 1) return undefined;
      const id = (leaders[0] as ChorusNode).peerId;
      return nodes.every((n) => n.election.raft.leader === id) ? id : undefined;
    };
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      for (const n of nodes) n.election.off('change', on);
      fn();
    };
    const on = (): void => {
      const id = check();
      if (id) done(() => resolve(id));
    };
    const timer = setTimeout(
      () =>
        done(() =>
          reject(
            new Error(
              `no agreed leader within ${timeoutMs} ms: ${nodes.map((n) => `${n.election.raft.state}/${n.election.raft.term}→${n.election.raft.leader?.slice(-6)}`).join(' ')}`,
            ),
          ),
        ),
      timeoutMs,
    );
    for (const n of nodes) n.election.on('change', on);
    on();
  });
}

export interface PlainHost {
  host: ChorusLibp2p;
  privateKey: PrivateKey;
  /** Present when the host proves a license of the test dev cluster. */
  admission?: Admission;
  stop(): Promise<void>;
}

/** `count` unlicensed bare hosts (see plainHost). */
export function plainHosts(count: number): Promise<PlainHost[]> {
  return Promise.all(Array.from({ length: count }, () => plainHost({ licensed: false })));
}

/**
 * A bare libp2p host on the chorus protocols (no ChorusNode around it), for attack tests: without a
 * license it is what an unlicensed node looks like; with one it is a licensed peer misbehaving.
 */
export async function plainHost(opts: {
  licensed: boolean;
  /** With a license: false makes it a relay that checks nobody (a misbehaving licensed peer). */
  enforce?: boolean;
  gossip?: Partial<GossipsubOpts>;
  /** The host's key (a fresh one when absent): lets a test know peer ids before hosts start. */
  privateKey?: PrivateKey;
  /** Peers this host refuses to connect with, in either direction (to shape a topology). */
  denyPeer?: (peerId: string) => boolean;
}): Promise<PlainHost> {
  const privateKey = opts.privateKey ?? (await generateKeyPair('Ed25519'));
  const host = await createHost({
    dht: chorusDht(new RecordNamespaces(), { clientMode: false }),
    privateKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    maxConnections: 10,
    maxPeersPerIp: 10,
    inboundPerSecond: 10,
    gossip: { heartbeatInterval: 100, ...opts.gossip },
    denyPeer: opts.denyPeer,
  });
  let admission: Admission | undefined;
  if (opts.licensed) {
    const license = resolveNodeLicense(testConfig());
    admission = new Admission({
      libp2p: host,
      signer: signerFor(privateKey),
      credential: license.credentialFor(host.peerId.toString()),
      authorities: license.authorities,
      clusterId: license.clusterId,
      handshakeTimeoutMs: 5000,
      logger,
      enforce: opts.enforce,
    });
    await admission.start();
  }
  return {
    host,
    privateKey,
    admission,
    stop: async () => {
      await admission?.stop();
      await host.stop();
    },
  };
}
