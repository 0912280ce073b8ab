// One node per data dir: a second node started on the data dir of a running one is refused before it opens anything
// there or goes on the network with the first one's identity (its stores, its election state, its peer id).
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { ChorusError } from '../../src/core/errors.ts';
import { startWithConfig, testConfig } from '../helpers/cluster.ts';

test('a second node on a running node’s data dir is refused before it listens on the network', async () => {
  const config = testConfig();
  const first = await startWithConfig(config, {}, undefined, { api: true });
  // the second would listen on a port that is taken: it fails that way only if it got as far as the network
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = taken.address() as AddressInfo;
    const second = { ...config, p2p: { ...config.p2p, listen: [`/ip4/127.0.0.1/tcp/${port}`] } };
    await assert.rejects(startWithConfig(second, {}, undefined, { api: true }), (err: ChorusError) => {
      assert.equal(err.code, 'ALREADY_RUNNING', String(err));
      assert.match(err.message, /another chorus node is already running with data dir/);
      return true;
    });
    assert.equal(first.status().peerId, first.peerId, 'the first node still runs');
  } finally {
    taken.close();
    await first.stop();
  }
});
