// The pubsub health check (src/core/ops/probes.ts) when its deadline passes while the ping is still being
// published: it fails with the publish's error and leaves no promise rejected without a handler (the test runner
// fails a whole file for one, as a fresh-clone CI run of ops.test.ts once did on a loaded machine).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pubsubCheck } from '../../src/core/ops/probes.ts';

test('a pubsub check whose deadline passes while it publishes fails with that error, leaving nothing unhandled', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // a publish that waits until its signal aborts (a mesh too busy to take the ping in time)
    const pubsub = Object.assign(new EventEmitter(), {
      selfId: 'self',
      publishRaw: (_topic: string, _payload: unknown, o: { signal: AbortSignal }) =>
        new Promise((_, reject) => {
          o.signal.addEventListener('abort', () => reject(new Error('publish aborted')), { once: true });
        }),
    });
    const libp2p = { services: { pubsub: { getSubscribers: () => ['peer-a'] } } };
    const check = pubsubCheck(pubsub as never, libp2p as never);
    const deadline = new AbortController();
    const run = check.run(deadline.signal);
    deadline.abort();
    await assert.rejects(run, /publish aborted/);
    // an unhandled rejection is reported once the microtasks have run
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
