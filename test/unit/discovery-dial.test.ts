// Dialling discovered peers: a new peer is dialled once, a connected one or this node never, a peer
// that could not be dialled is left alone for a while, and nothing is dialled at the connection limit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { silentLogger } from '../../src/core/log.ts';
import { DiscoveryDialer } from '../../src/core/p2p/discovery-dial.ts';
import { freePort } from '../helpers/daemon.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';

describe('DiscoveryDialer', () => {
  let hosts: PlainHost[] = [];
  before(async () => {
    hosts = await plainHosts(3);
  });
  after(() => Promise.all(hosts.map((h) => h.stop())));

  const info = (h: PlainHost) => ({ id: h.host.peerId, multiaddrs: h.host.getMultiaddrs() });

  test('dials a discovered peer once; never itself or a connected peer', async () => {
    const [a, b] = hosts as [PlainHost, PlainHost];
    const dialer = new DiscoveryDialer({ libp2p: a.host, logger: silentLogger, maxConnections: 10 });
    assert.equal(await dialer.consider(info(a)), false, 'not itself');
    assert.equal(await dialer.consider(info(b)), true);
    assert.equal(a.host.getConnections(b.host.peerId).length > 0, true);
    assert.equal(await dialer.consider(info(b)), false, 'already connected');
    dialer.stop();
  });

  test('a peer that could not be dialled is not dialled again before retryAfterMs', async () => {
    const [a] = hosts as [PlainHost];
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    const dead = { id: ghost, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${await freePort()}`)] };
    let dials = 0;
    const counting = new Proxy(a.host, {
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
    const dialer = new DiscoveryDialer({
      libp2p: counting,
      logger: silentLogger,
      maxConnections: 10,
      retryAfterMs: 60_000,
    });
    assert.equal(await dialer.consider(dead), false);
    assert.equal(await dialer.consider(dead), false);
    assert.equal(dials, 1, 'the second announcement is not dialled');
    const retrying = new DiscoveryDialer({
      libp2p: counting,
      logger: silentLogger,
      maxConnections: 10,
      retryAfterMs: 0,
    });
    assert.equal(await retrying.consider(dead), false);
    assert.equal(dials, 2, 'with no retry delay it is dialled again');
    dialer.stop();
    retrying.stop();
  });

  test('nothing is dialled at the connection limit', async () => {
    const [a, , c] = hosts as [PlainHost, PlainHost, PlainHost];
    const open = a.host.getConnections().length;
    assert.ok(open >= 1);
    const dialer = new DiscoveryDialer({ libp2p: a.host, logger: silentLogger, maxConnections: open });
    assert.equal(await dialer.consider(info(c)), false);
    assert.equal(a.host.getConnections(c.host.peerId).length, 0);
    dialer.stop();
  });
});
