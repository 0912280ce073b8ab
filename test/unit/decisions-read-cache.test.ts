// The plaintext cache of decrypted decisions (src/core/decisions/read-cache.ts): a repeated read of the
// same record does not decrypt again; another record, another role or other keys miss; the bounds hold;
// and on a node, a second GET of a decision is a hit while a role change forgets what the old role read.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { PlaintextCache } from '../../src/core/decisions/read-cache.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { startNode, stopAll } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

const text = (s: string) => new TextEncoder().encode(s);
const dev = { role: 'developer', identities: ['AGE-SECRET-KEY-1DEV'] };

/** A decrypt function that counts its calls. */
function counted(plaintext: Uint8Array): { decrypt: () => Promise<Uint8Array>; calls: () => number } {
  let calls = 0;
  return {
    decrypt: async () => {
      calls++;
      return plaintext;
    },
    calls: () => calls,
  };
}

describe('PlaintextCache', () => {
  test('a second read of the same record does not decrypt again, and gets its own copy', async () => {
    const cache = new PlaintextCache();
    const d = counted(text('secret'));
    const first = await cache.read('a'.repeat(64), dev, d.decrypt);
    first[0] = 0; // a caller changing its bytes changes nothing kept
    const second = await cache.read('a'.repeat(64), dev, d.decrypt);
    assert.equal(d.calls(), 1);
    assert.equal(new TextDecoder().decode(second), 'secret');
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
  });

  test('another record, another role or other identities miss; a new reader empties the cache', async () => {
    const cache = new PlaintextCache();
    const d = counted(text('x'));
    await cache.read('a'.repeat(64), dev, d.decrypt);
    await cache.read('b'.repeat(64), dev, d.decrypt);
    assert.equal(d.calls(), 2);
    assert.equal(cache.size, 2);
    await cache.read('a'.repeat(64), { ...dev, role: 'architect' }, d.decrypt);
    assert.equal(d.calls(), 3);
    assert.equal(cache.size, 1); // the developer's plaintexts are gone
    await cache.read('a'.repeat(64), { ...dev, identities: ['AGE-SECRET-KEY-1NEW', ...dev.identities] }, d.decrypt);
    assert.equal(d.calls(), 4);
  });

  test('a failed decryption is not kept', async () => {
    const cache = new PlaintextCache();
    let calls = 0;
    const fail = async (): Promise<Uint8Array> => {
      calls++;
      throw new Error('not a recipient');
    };
    await assert.rejects(cache.read('a'.repeat(64), dev, fail), /not a recipient/);
    await assert.rejects(cache.read('a'.repeat(64), dev, fail), /not a recipient/);
    assert.equal(calls, 2);
  });

  test('bounded by entries and by bytes, least recently used out first', async () => {
    const cache = new PlaintextCache({ maxEntries: 3, maxBytes: 100 });
    const small = counted(new Uint8Array(10));
    for (const h of ['1', '2', '3']) await cache.read(h, dev, small.decrypt);
    await cache.read('1', dev, small.decrypt); // 1 is now the most recent
    await cache.read('4', dev, small.decrypt); // 2 goes
    assert.equal(cache.size, 3);
    assert.equal(small.calls(), 4);
    await cache.read('1', dev, small.decrypt);
    assert.equal(small.calls(), 4);
    await cache.read('2', dev, small.decrypt);
    assert.equal(small.calls(), 5);
    const big = counted(new Uint8Array(60));
    await cache.read('big1', dev, big.decrypt);
    await cache.read('big2', dev, big.decrypt);
    assert.ok(cache.byteLength <= 100, `${cache.byteLength} bytes kept`);
    assert.equal(cache.size, 1);
    await cache.read('huge', dev, counted(new Uint8Array(101)).decrypt);
    assert.equal(cache.size, 1); // over the byte bound on its own: never kept
  });
});

describe('the store reads through the plaintext cache', () => {
  const nodes: ChorusNode[] = [];
  after(() => stopAll(nodes));

  test('a writer reads its write without decrypting; a second GET does not decrypt again; a role change forgets the plaintexts', async () => {
    const lone = await startNode({ dht: { timeoutMs: 3000 } });
    nodes.push(lone);
    await until('the lone node leads its cluster of one', async () => lone.election.soleVoter());
    const address = parseAddress('ucxl://alice:developer@solo:cache/*^/adr.md');
    const cache = lone.decisions.plaintexts;
    lone.decisions.readAheadQueue.stop(); // only the write and the reads below touch the cache
    await lone.decisions.put(address, text('kept plain'));
    // the writer kept the plaintext it wrote: its own read decrypts nothing
    assert.equal(cache.misses, 1, 'the write filled the cache (its one miss)');
    assert.equal(new TextDecoder().decode((await lone.decisions.get(address)).content), 'kept plain');
    assert.equal(cache.misses, 1, 'the read hit it');
    cache.clear();
    assert.equal(new TextDecoder().decode((await lone.decisions.get(address)).content), 'kept plain');
    assert.equal(new TextDecoder().decode((await lone.decisions.get(address)).content), 'kept plain');
    assert.equal(cache.misses, 2, 'one decryption, then a hit');
    lone.decisions.configure({ role: 'nobody-role' });
    assert.equal(cache.size, 0);
    // the new role holds no key for this decision: the read fails rather than being served what the old role read
    await assert.rejects(lone.decisions.get(address), /not a recipient|cannot decrypt|no secret/i);
  });
});
