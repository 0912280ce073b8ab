// GossipSub's signature checks on a worker thread, while a node receives many messages and its process has a
// core to spare. Every GossipSub message carries an Ed25519 signature that each receiver checks (StrictSign):
// ~0.23 ms of CPU on the development VM, the largest single cost of a delivery, and all of it on the event
// loop. While checks arrive at a steady rate (at least `startPerSecond` a second) and the event loop is busy,
// they go to one worker thread in batches (those of one turn of the event loop); after `idleMs` below
// `stopPerSecond` the worker is stopped again, so a quiet node does not keep a second V8 isolate in memory.
// A loop with room to spare keeps its checks: a hand-off to the worker only adds a thread's wake-up to each
// delivery, and starting one (a second V8 isolate, a few MB of fresh memory) takes CPU from the deliveries.
// Only signatures over pubsub messages take this path (key-objects.ts hands over those whose signed bytes
// start with "libp2p-pubsub:", the prefix only GossipSub signs and checks, and it awaits the answer); every
// other check stays synchronous. A worker that fails or exits sends the checks it held back to the event loop:
// a signature is never taken as valid without node:crypto having verified it.
import { availableParallelism, cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { loopShareSampler } from '../loop-load.ts';

/** The worker: verifies each packed [key 32 | signature 64 | length u32 | data] and answers 1 or 0 per item. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
function keyObject(raw) {
  const id = raw.toString('latin1');
  let key = keys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    if (keys.size >= 4096) keys.clear();
    keys.set(id, key);
  }
  return key;
}
parentPort.on('message', ({ id, count, packed }) => {
  const bytes = Buffer.from(packed);
  const results = new Uint8Array(count);
  for (let i = 0, at = 0; i < count; i++) {
    const key = bytes.subarray(at, at + 32);
    const sig = bytes.subarray(at + 32, at + 96);
    const length = bytes.readUInt32BE(at + 96);
    const data = bytes.subarray(at + 100, at + 100 + length);
    at += 100 + length;
    try {
      results[i] = verify(null, data, keyObject(key), sig) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id, results }, [results.buffer]);
});
`;

const KEY_BYTES = 32;
/** Checks per message to the worker: it answers batch by batch, so the first answers need not wait for the last. */
const BATCH = 32;
const SIGNATURE_BYTES = 64;
const ITEM_HEADER = KEY_BYTES + SIGNATURE_BYTES + 4;

interface Check {
  key: Uint8Array;
  data: Uint8Array;
  sig: Uint8Array;
  resolve: (valid: boolean) => void;
}

export interface SignatureOffloadOptions {
  /** The same check on the event loop: used when there is no worker, and for the checks of a failed one. */
  verifyInline: (key: Uint8Array, data: Uint8Array, sig: Uint8Array) => boolean;
  /** Checks a second that start the worker (default 200: ~5 % of a core spent verifying). */
  startPerSecond?: number;
  /** Below this many checks a second the worker idles (default 50). */
  stopPerSecond?: number;
  /** How long the worker idles before it is stopped (default 30 s). */
  idleMs?: number;
  /** The window the rate is measured over (default 1 s). */
  windowMs?: number;
  /**
   * Cores the machine left idle over the last window (default: from os.cpus()). The worker starts only with at
   * least one idle core and stops after three windows with less than a quarter of one: on a machine whose cores
   * are all busy (several node processes on two cores), a hand-off to one more thread only waits to be scheduled.
   */
  idleCores?: () => number;
  /**
   * The share of the last window the event loop spent running code, 0–1 (default: loopShareSampler, Node's
   * event-loop utilization since the last call; 1 where the runtime does not measure it). The worker starts only at
   * `startUtilization` or more: below that, the loop verifies without falling behind.
   */
  loopUtilization?: () => number;
  /** The event loop's share of a window from which the worker starts (default 0.5). */
  startUtilization?: number;
}

/** Cores idle since the last call, from the machine's CPU times. */
function machineIdle(): () => number {
  const sample = (): { idle: number; total: number } => {
    let idle = 0;
    let total = 0;
    for (const { times } of cpus()) {
      idle += times.idle;
      total += times.user + times.nice + times.sys + times.irq + times.idle;
    }
    return { idle, total };
  };
  let last = sample();
  return () => {
    const now = sample();
    const total = now.total - last.total;
    const idle = total > 0 ? ((now.idle - last.idle) / total) * cpus().length : 0;
    last = now;
    return idle;
  };
}

export class SignatureOffload {
  private readonly opts: Required<SignatureOffloadOptions>;
  private worker: Worker | undefined;
  /** A worker failed to start or crashed: checks stay on the event loop for the life of the process. */
  private broken = false;
  private queued: Check[] = [];
  /**
   * Checks waiting for the worker, by signature: the copies of a message that arrive from several peers while the
   * first copy's check is out (GossipSub learns its id only once the check is done) share that check.
   */
  private readonly pending = new Map<string, { check: Check; outcome: Promise<boolean> }>();
  private readonly inFlight = new Map<number, Check[]>();
  private nextId = 1;
  private windowStart = Date.now();
  private windowCount = 0;
  private busyAt = 0;
  /** Consecutive windows in which the machine had no core to spare while the worker ran. */
  private crowded = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Checks the worker answered, over the life of this offload. */
  offloaded = 0;

  constructor(opts: SignatureOffloadOptions) {
    this.opts = {
      startPerSecond: 200,
      stopPerSecond: 50,
      idleMs: 30_000,
      windowMs: 1000,
      idleCores: machineIdle(),
      loopUtilization: loopShareSampler(),
      startUtilization: 0.5,
      ...opts,
    };
  }

  /** Whether the worker is running now. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Takes one check of a pubsub signature: a promise of its outcome when it goes to the worker, undefined when
   * the caller is to verify it on the event loop (no worker now, or a key or signature of an unexpected size).
   */
  verify(key: Uint8Array, data: Uint8Array, sig: Uint8Array): Promise<boolean> | undefined {
    this.count();
    if (!this.worker || key.byteLength !== KEY_BYTES || sig.byteLength !== SIGNATURE_BYTES) return undefined;
    const id = Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('latin1');
    const same = this.pending.get(id);
    if (same && equalBytes(same.check.key, key) && equalBytes(same.check.data, data)) return same.outcome;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    // copies: the caller's bytes may be views into buffers it reuses, and a copy compared later must meet the
    // bytes this check was made for
    const check: Check = {
      key: new Uint8Array(key),
      data: new Uint8Array(data),
      sig: new Uint8Array(sig),
      resolve: (valid) => {
        if (this.pending.get(id)?.check === check) this.pending.delete(id);
        resolve(valid);
      },
    };
    if (!same) this.pending.set(id, { check, outcome: promise });
    this.queued.push(check);
    if (this.queued.length === 1) queueMicrotask(() => this.flush());
    return promise;
  }

  /** Stops the worker; checks it still held are verified on the event loop. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.crowded = 0;
    this.retire();
    await worker?.terminate();
  }

  /**
   * Counts a check in the current window; starts the worker, or marks it busy, by the last window's rate. The
   * window's rate and idle cores are averages: after a burst and a pause, they describe two different moments. The
   * event loop's share covers that case (a pause longer than the window's length keeps it under half), and a window
   * that lasted more than twice its length starts nothing whatever it measured.
   */
  private count(): void {
    const now = Date.now();
    this.windowCount++;
    const elapsed = now - this.windowStart;
    if (elapsed < this.opts.windowMs) return;
    const perSecond = (this.windowCount * 1000) / Math.max(1, elapsed);
    this.windowStart = now;
    this.windowCount = 0;
    const idle = this.opts.idleCores();
    const utilization = this.opts.loopUtilization();
    if (perSecond >= this.opts.stopPerSecond) this.busyAt = now;
    if (this.worker) {
      this.crowded = idle < 0.25 ? this.crowded + 1 : 0;
      if (this.crowded >= 3) void this.stop();
      return;
    }
    const steady = this.opts.windowMs === 0 || elapsed <= 2 * this.opts.windowMs;
    if (this.broken || !steady || perSecond < this.opts.startPerSecond || idle < 1) return;
    if (utilization >= this.opts.startUtilization) this.start();
  }

  private start(): void {
    if (availableParallelism() < 2) {
      this.broken = true; // no core to spare: a worker would only add its hand-offs
      return;
    }
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    } catch {
      this.broken = true;
      return;
    }
    worker.unref();
    worker.on('message', ({ id, results }: { id: number; results: Uint8Array }) => {
      const checks = this.inFlight.get(id);
      this.inFlight.delete(id);
      this.offloaded += checks?.length ?? 0;
      checks?.forEach((c, i) => c.resolve(results[i] === 1));
    });
    worker.on('error', () => {
      this.broken = true;
      if (this.worker === worker) this.retire();
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.retire();
    });
    this.worker = worker;
    this.busyAt = Date.now();
    this.idleTimer = setInterval(() => {
      if (Date.now() - this.busyAt > this.opts.idleMs) void this.stop();
    }, this.opts.idleMs);
    this.idleTimer.unref();
  }

  /** Forgets the worker: what was queued for it or sent to it is verified here. */
  private retire(): void {
    clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    this.worker = undefined;
    const pending = [...this.queued, ...[...this.inFlight.values()].flat()];
    this.queued = [];
    this.inFlight.clear();
    for (const c of pending) c.resolve(this.checkInline(c));
  }

  private checkInline(c: Check): boolean {
    try {
      return this.opts.verifyInline(c.key, c.data, c.sig);
    } catch {
      return false;
    }
  }

  /** Sends the checks queued this turn to the worker, packed into one transferred buffer. */
  private flush(): void {
    const checks = this.queued;
    this.queued = [];
    if (checks.length === 0) return;
    if (!this.worker) {
      for (const c of checks) c.resolve(this.checkInline(c));
      return;
    }
    for (let from = 0; from < checks.length; from += BATCH) this.send(this.worker, checks.slice(from, from + BATCH));
  }

  private send(worker: Worker, checks: Check[]): void {
    const packed = Buffer.allocUnsafeSlow(checks.reduce((n, c) => n + ITEM_HEADER + c.data.byteLength, 0));
    let at = 0;
    for (const c of checks) {
      packed.set(c.key, at);
      packed.set(c.sig, at + KEY_BYTES);
      packed.writeUInt32BE(c.data.byteLength, at + KEY_BYTES + SIGNATURE_BYTES);
      packed.set(c.data, at + ITEM_HEADER);
      at += ITEM_HEADER + c.data.byteLength;
    }
    const id = this.nextId++;
    this.inFlight.set(id, checks);
    worker.postMessage({ id, count: checks.length, packed: packed.buffer }, [packed.buffer]);
  }
}

/** Compares without reading `.buffer`, which makes V8 move a small array's bytes off its heap (a 32-byte key). */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** The process's offload of pubsub signature checks, or undefined on a single core. */
export function defaultSignatureOffload(
  verifyInline: SignatureOffloadOptions['verifyInline'],
): SignatureOffload | undefined {
  return availableParallelism() > 1 ? new SignatureOffload({ verifyInline }) : undefined;
}
