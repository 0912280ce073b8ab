// The one deadline-polling helper of the tests, for conditions that have no event to await (a lease
// state, a peer count, records on other nodes, a daemon's API): probe on an interval until it yields.
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `probe` every `intervalMs` until it returns a value other than undefined/false; throws after
 * `timeoutMs` (the deadline is what bounds the wait, not the interval).
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await delay(intervalMs);
  }
}
