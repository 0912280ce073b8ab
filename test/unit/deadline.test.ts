// Tests for src/core/deadline.ts: the work's signal aborts with AbortSignal.timeout's TimeoutError when the time
// runs out, and with the caller's reason when the caller aborts (also before the work starts); once the work has
// settled, neither the timer nor the caller reaches its signal any more.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mock, test } from 'node:test';
import { withDeadline } from '../../src/core/deadline.ts';

/** Work that ends when its signal aborts, rejecting with the signal's reason. */
const untilAborted = async (signal: AbortSignal): Promise<never> => {
  if (!signal.aborted) await once(signal, 'abort');
  throw signal.reason;
};

test('the time running out aborts the work with a TimeoutError DOMException, like AbortSignal.timeout', async () => {
  const err = await withDeadline(5, untilAborted).catch((e: unknown) => e);
  assert.ok(err instanceof DOMException);
  assert.equal(err.name, 'TimeoutError');
  const native = await untilAborted(AbortSignal.timeout(1)).catch((e: unknown) => e);
  assert.equal((native as DOMException).message, err.message);
});

test("the caller's signal aborts the work with its reason, also when it was aborted before", async () => {
  const caller = new AbortController();
  const reason = new Error('caller gave up');
  const running = withDeadline(60_000, untilAborted, caller.signal);
  caller.abort(reason);
  await assert.rejects(running, (err) => err === reason);
  await assert.rejects(withDeadline(60_000, untilAborted, caller.signal), (err) => err === reason);
});

test('after the work settles, neither its timer nor the caller aborts its signal', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const caller = new AbortController();
  let seen: AbortSignal | undefined;
  const value = await withDeadline(
    100,
    async (signal) => {
      seen = signal;
      return 42;
    },
    caller.signal,
  );
  assert.equal(value, 42);
  t.mock.timers.tick(1000);
  caller.abort(new Error('late'));
  assert.equal(seen?.aborted, false);

  let failed: AbortSignal | undefined;
  await assert.rejects(
    withDeadline(100, async (signal) => {
      failed = signal;
      throw new Error('work failed');
    }),
    /work failed/,
  );
  t.mock.timers.tick(1000);
  assert.equal(failed?.aborted, false);
});
