// Delivery tracking of one benchmark phase: which receiver got which message (first receipts,
// duplicates, strays), latencies, and the in-flight count that the publishing window waits on.

interface Waiter {
  below: number;
  resolve: () => void;
}

/** Per-phase bookkeeping: which receiver got which message, duplicates, latencies, and the in-flight count. */
export class DeliveryTracker {
  readonly capacity: number;
  readonly receivers: number;
  readonly latencies: number[] = [];
  readonly nodeLatencies: number[] = [];
  sent = 0;
  failed = 0;
  expected = 0;
  delivered = 0;
  duplicates = 0;
  unexpected = 0;
  /** Messages sent and not yet received by all their receivers. */
  pending = 0;
  /** Messages received by all their receivers. */
  complete = 0;
  firstSendAt = 0;
  lastSendAt = 0;
  lastDeliveryAt = 0;
  readonly #publisher: Int16Array;
  readonly #remaining: Int32Array;
  readonly #seen: Uint8Array;
  readonly #state: Uint8Array; // 0 unsent, 1 sent, 2 failed
  #waiters: Waiter[] = [];

  constructor(capacity: number, receivers: number) {
    this.capacity = capacity;
    this.receivers = receivers;
    this.#publisher = new Int16Array(capacity);
    this.#remaining = new Int32Array(capacity);
    this.#seen = new Uint8Array(capacity * receivers);
    this.#state = new Uint8Array(capacity);
  }

  /** Message `id` is about to be published; `publisherReceiver` is the publisher's receiver index or -1. */
  send(id: number, publisherReceiver: number, now: number): void {
    const fanout = this.receivers - (publisherReceiver >= 0 ? 1 : 0);
    this.#publisher[id] = publisherReceiver;
    this.#remaining[id] = fanout;
    this.#state[id] = 1;
    this.sent++;
    this.expected += fanout;
    this.pending++;
    if (this.sent === 1) this.firstSendAt = now;
    this.lastSendAt = now;
  }

  /** The publish of `id` failed: it no longer counts as sent or expected. */
  fail(id: number): void {
    if (this.#state[id] !== 1) return;
    const fanout = this.receivers - (this.#publisher[id]! >= 0 ? 1 : 0);
    const got = fanout - this.#remaining[id]!;
    this.#state[id] = 2;
    this.failed++;
    this.sent--;
    this.expected -= fanout;
    this.delivered -= got;
    if (this.#remaining[id]! > 0) this.#settle();
    this.#remaining[id] = 0;
  }

  /** Receiver `receiver` got message `id`; latencies in ms. */
  receive(id: number, receiver: number, latencyMs: number, now: number, nodeLatencyMs?: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity || this.#state[id] !== 1) {
      this.unexpected++;
      return;
    }
    if (this.#publisher[id] === receiver || receiver < 0 || receiver >= this.receivers) {
      this.unexpected++;
      return;
    }
    const slot = id * this.receivers + receiver;
    if (this.#seen[slot]) {
      this.duplicates++;
      return;
    }
    this.#seen[slot] = 1;
    this.delivered++;
    this.latencies.push(latencyMs);
    if (nodeLatencyMs !== undefined) this.nodeLatencies.push(nodeLatencyMs);
    this.lastDeliveryAt = now;
    if (--this.#remaining[id]! === 0) {
      this.complete++;
      this.#settle();
    }
  }

  #settle(): void {
    this.pending--;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (this.pending < w.below) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** Resolves when fewer than `below` messages are pending, or when the signal aborts. */
  whenPendingBelow(below: number, signal?: AbortSignal): Promise<void> {
    if (this.pending < below || signal?.aborted) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const onAbort = (): void => resolve();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#waiters.push({
      below,
      resolve: () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
    });
    return promise;
  }

  /** True when every sent message reached all its receivers within `ms`; false at the deadline or on abort. */
  async drain(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.pending === 0) return true;
    const timeout = AbortSignal.timeout(Math.max(0, Math.ceil(ms)));
    await this.whenPendingBelow(1, signal ? AbortSignal.any([signal, timeout]) : timeout);
    return this.pending === 0;
  }
}
