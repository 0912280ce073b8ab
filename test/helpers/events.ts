// Awaiting events in tests: resolve on the first event that matches, reject after a deadline.
import type { EventEmitter } from 'node:events';

export function nextEvent<T>(
  emitter: EventEmitter<Record<string, unknown[]>> | EventEmitter,
  name: string,
  match: (value: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  const e = emitter as EventEmitter;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      e.off(name, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${name}"`));
    }, timeoutMs);
    function on(value: T): void {
      if (!match(value)) return;
      clearTimeout(timer);
      e.off(name, on);
      resolve(value);
    }
    e.on(name, on);
  });
}

/** Resolves when `check` holds, re-evaluating on each event of `target` (an EventTarget). */
export function until(target: EventTarget, event: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const timer = setTimeout(() => {
      target.removeEventListener(event, on);
      reject(new Error(`condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    function on(): void {
      if (!check()) return;
      clearTimeout(timer);
      target.removeEventListener(event, on);
      resolve();
    }
    target.addEventListener(event, on);
  });
}
