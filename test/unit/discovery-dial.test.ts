// Dialling the peers mDNS finds: a discovered peer is dialled once, a connected one or this node
// never; of two nodes that found each other the one with the larger ID lets the other dial; a peer
// that could not be dialled is left alone for a while; nothing is dialled at the connection limit.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { silentLogger } from '../../src/core/log.ts';
import type { ChorusLibp2p } from '../../src/core/p2p/host.ts';
import { DiscoveryDialer } from '../../src/core/p2p/discovery-dial.ts';
import { freePort } from '../helpers/daemon.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/events.ts';

/** The host, with its dial calls counted. */
function counted(host: ChorusLibp2p): { libp2p: ChorusLibp2p; dials: () => number } {
  let dials = 0;
  const libp2p = new Proxy(host, {
    get: (target, key) => {
      if (key === 'dial') {
        return (...args: Parameters<typeof target.dial>) => {
          dials++;
          return target.dial(...args);
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { libp2p, dials: () => dials };
}

const info = (h: PlainHost) => ({ id: h.host.peerId, multiaddrs: h.host.getMultiaddrs() });

/** Two fresh hosts, ordered by peer ID. */
async function pair(): Promise<{ smaller: PlainHost; larger: PlainHost; all: PlainHost[] }> {
  const all = await plainHosts(2);
  const [x, y] = all as [PlainHost, PlainHost];
  const xFirst = x.host.peerId.toString() < y.host.peerId.toString();
  return { smaller: xFirst ? x : y, larger: xFirst ? y : x, all };
}

describe('DiscoveryDialer', () => {
  const started: PlainHost[] = [];
  after(() => Promise.all(started.map((h) => h.stop())));
  const fresh = async (): ReturnType<typeof pair> => {
    const p = await pair();
    started.push(...p.all);
    return p;
  };
  const options = (libp2p: ChorusLibp2p) => ({
    libp2p,
    source: new EventTarget(),
    logger: silentLogger,
    maxConnections: 10,
  });

  test('a peer announced by the source is dialled; never this node or a connected peer', async () => {
    const { smaller, larger } = await fresh();
    const source = new EventTarget();
    const dialer = new DiscoveryDialer({ ...options(smaller.host), source });
    dialer.start();
    const isConnected = (): boolean => smaller.host.getConnections(larger.host.peerId).length > 0;
    const connected = until(smaller.host as unknown as EventTarget, 'peer:connect', isConnected);
    source.dispatchEvent(new CustomEvent('peer', { detail: info(larger) }));
    await connected;
    assert.equal(await dialer.consider(info(smaller)), false, 'not itself');
    assert.equal(await dialer.consider(info(larger)), false, 'already connected');
    dialer.stop();
  });

  test('of two nodes that found each other, the one with the larger ID lets the other dial', async () => {
    const { smaller, larger } = await fresh();
    const { libp2p, dials } = counted(larger.host);
    const dialer = new DiscoveryDialer({ ...options(libp2p), yieldMs: 60_000 });
    const considering = dialer.consider(info(smaller));
    await smaller.host.dial(larger.host.getMultiaddrs()[0]!);
    assert.equal(await considering, false, 'connected by the other side, without waiting out yieldMs');
    assert.equal(dials(), 0);
    dialer.stop();
  });

  test('the larger ID dials after yieldMs when the other side never does', async () => {
    const { smaller, larger } = await fresh();
    const { libp2p, dials } = counted(larger.host);
    const dialer = new DiscoveryDialer({ ...options(libp2p), yieldMs: 0 });
    assert.equal(await dialer.consider(info(smaller)), true);
    assert.equal(dials(), 1);
    dialer.stop();
  });

  test('a peer that could not be dialled is not dialled again before retryAfterMs', async () => {
    const { smaller } = await fresh();
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    const dead = { id: ghost, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${await freePort()}`)] };
    const { libp2p, dials } = counted(smaller.host);
    const dialer = new DiscoveryDialer({ ...options(libp2p), retryAfterMs: 60_000, yieldMs: 0 });
    assert.equal(await dialer.consider(dead), false);
    assert.equal(await dialer.consider(dead), false);
    assert.equal(dials(), 1, 'the second announcement is not dialled');
    const retrying = new DiscoveryDialer({ ...options(libp2p), retryAfterMs: 0, yieldMs: 0 });
    assert.equal(await retrying.consider(dead), false);
    assert.equal(dials(), 2, 'with no retry delay it is dialled again');
    dialer.stop();
    retrying.stop();
  });

  test('nothing is dialled at the connection limit', async () => {
    const { smaller, larger } = await fresh();
    const { libp2p, dials } = counted(smaller.host);
    const dialer = new DiscoveryDialer({ ...options(libp2p), maxConnections: 0, yieldMs: 0 });
    assert.equal(await dialer.consider(info(larger)), false);
    assert.equal(dials(), 0);
    dialer.stop();
  });
});
