// The kept latest copy: a node that read a decision from its replicas answers the next read of it from the
// record it kept (verified, author admitted) while that is as new as any version it heard of; a newer version
// heard of sends the read to the network again, and the fresh read before a write always goes there. A read
// answered without the network makes no deadline signal.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { latestKey } from '../../src/core/decisions/record.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress, subjectKey } from '../../src/core/ucxl/address.ts';
import { heard, startCluster, stopAll } from '../helpers/cluster.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Counts the reader's network reads: one-hop replica reads and kad-dht lookups. */
function countReads(node: ChorusNode): () => number {
  let reads = 0;
  const replicas = node.decisions.replicas;
  assert.ok(replicas);
  const getFrom = replicas.getFrom.bind(replicas);
  replicas.getFrom = (...args) => {
    reads++;
    return getFrom(...args);
  };
  const dht = node.libp2p.services.dht;
  const get = dht.get.bind(dht);
  dht.get = (...args) => {
    reads++;
    return get(...args);
  };
  return () => reads;
}

describe('the kept latest copy of a read', () => {
  const keyring = join(mkdtempSync(join(tmpdir(), 'chorus-keys-')), 'keyring.json');
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(5, { config: () => ({ keys: { keyring } }) });
  });
  after(() => stopAll(nodes));

  test('a second read is answered without the network; a newer version heard of, and a fresh read, ask it', async () => {
    const writer = nodes[0] as ChorusNode;
    const address = parseAddress('ucxl://alice:developer@chorus:kept/*^/adr.md');
    const subject = subjectKey(address);
    await writer.decisions.put(address, text('v1'));
    // a reader that holds no copy itself (replication 3 of 5 nodes)
    const holds = await Promise.all(nodes.map((n) => n.decisions.localRecord(latestKey(subject))));
    const reader = nodes.find((n, i) => n !== writer && !holds[i]);
    assert.ok(reader, 'a node without a copy');
    const reads = countReads(reader);

    assert.equal(str((await reader.decisions.get(address)).content), 'v1');
    const first = reads();
    assert.ok(first > 0, 'the first read asks the network');
    // the deadline (a timer and a composite signal) is made only when the network is asked
    let deadlines = 0;
    const operationSignal = reader.decisions.operationSignal.bind(reader.decisions);
    reader.decisions.operationSignal = (signal) => {
      deadlines++;
      return operationSignal(signal);
    };
    assert.equal(str((await reader.decisions.get(address)).content), 'v1');
    assert.equal(reads(), first, 'the second read is answered from the kept copy');
    assert.equal(deadlines, 0, 'a read answered from the kept copy makes no deadline');

    // a newer version is written elsewhere: its hint reaches the reader, whose next read asks the network
    await writer.decisions.put(address, text('v2'));
    await heard(reader, subject, 2);
    assert.equal(str((await reader.decisions.get(address)).content), 'v2');
    const second = reads();
    assert.ok(second > first, 'a newer version heard of sends the read to the network');
    assert.equal(deadlines, 1);
    assert.equal(str((await reader.decisions.get(address)).content), 'v2');
    assert.equal(reads(), second);

    // a write reads the latest version fresh from the network first, kept copy or not
    const receipt = await reader.decisions.put(address, text('v3'));
    assert.equal(receipt.version, 3);
    assert.ok(reads() > second, 'the read before a write goes to the network');
  });
});
