// A listen address that cannot be bound is a one-line usage error naming the address, the reason and
// the setting to change (not libp2p's paragraph about its own options).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.ts';
import { startNode } from '../helpers/cluster.ts';

test('a node whose listen port is taken fails with LISTEN_FAILED naming the address', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const err = await startNode({ p2p: { listen: [`/ip4/127.0.0.1/tcp/${port}`] } }).then(
      async (node) => {
        await node.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.equal(err.code, 'LISTEN_FAILED');
    assert.match(err.message, new RegExp(`^cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port} \\(listen EADDRINUSE`));
    assert.match(err.message, /set p2p\.listen \(--listen\)/);
    assert.ok(!err.message.includes('\n'), 'one line');
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});
