// The health-check registry and runner: named checks (critical ones gate readiness) run on an interval,
// each with a timeout, and their last result (status, when, how long, error) is kept for /health and
// /readyz. Subsystems register their own checks (licensing adds "licensed", elections may add more).
import { EventEmitter } from 'node:events';
import { describeError } from '../errors.ts';

export type CheckStatus = 'pass' | 'fail' | 'pending';

export interface HealthCheck {
  name: string;
  /** A failing critical check turns /readyz red. */
  critical: boolean;
  /** Runs the check; resolves with an optional detail line, throws (or rejects) when it fails. */
  run(signal: AbortSignal): Promise<string | void>;
  /** Overrides the monitor's timeout for this check. */
  timeoutMs?: number;
}

export interface CheckResult {
  name: string;
  critical: boolean;
  status: CheckStatus;
  /** ISO time the last run finished (absent before the first run). */
  lastRun?: string;
  durationMs?: number;
  error?: string;
  detail?: string;
  /** Consecutive failed runs. */
  failures: number;
}

export interface HealthReport {
  ready: boolean;
  /** One line per failing or not-yet-run critical check. */
  reasons: string[];
  checks: CheckResult[];
}

export interface MonitorOptions {
  intervalMs: number;
  timeoutMs: number;
}

export class HealthMonitor extends EventEmitter<{ result: [CheckResult] }> {
  private opts: MonitorOptions;
  private readonly checks = new Map<string, HealthCheck>();
  private readonly results = new Map<string, CheckResult>();
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private controller = new AbortController();

  constructor(opts: MonitorOptions) {
    super();
    this.opts = { ...opts };
  }

  /** Adds (or replaces) a check; it first runs on the next round. */
  register(check: HealthCheck): void {
    this.checks.set(check.name, check);
    this.results.set(check.name, { name: check.name, critical: check.critical, status: 'pending', failures: 0 });
  }

  unregister(name: string): void {
    this.checks.delete(name);
    this.results.delete(name);
  }

  /** Runs every check now and then on the interval (again after a stop: the ops listener moved). */
  start(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController();
    void this.runAll();
    this.schedule();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.controller.abort();
  }

  /** New interval and timeout (SIGHUP); the schedule restarts with the new interval. */
  configure(opts: MonitorOptions): void {
    const changed = opts.intervalMs !== this.opts.intervalMs;
    this.opts = { ...opts };
    if (changed && this.timer) this.schedule();
  }

  private schedule(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.runAll(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Runs every check now (a check still running from the last round is not started twice). */
  async runAll(): Promise<void> {
    await Promise.all([...this.checks.values()].map((c) => this.runOne(c)));
  }

  private runOne(check: HealthCheck): Promise<void> {
    const inFlight = this.running.get(check.name);
    if (inFlight) return inFlight;
    const run = this.execute(check).finally(() => this.running.delete(check.name));
    this.running.set(check.name, run);
    return run;
  }

  private async execute(check: HealthCheck): Promise<void> {
    if (this.controller.signal.aborted) return;
    const timeoutMs = check.timeoutMs ?? this.opts.timeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([deadline, this.controller.signal]);
    const started = performance.now();
    let status: CheckStatus = 'pass';
    let error: string | undefined;
    let detail: string | undefined;
    try {
      const timedOut = new Promise<never>((_, reject) => {
        signal.addEventListener('abort', () => reject(new Error(`timed out after ${timeoutMs} ms`)), { once: true });
      });
      detail = (await Promise.race([check.run(signal), timedOut])) ?? undefined;
    } catch (err) {
      status = 'fail';
      error = deadline.aborted ? `timed out after ${timeoutMs} ms` : describeError(err);
    }
    if (this.controller.signal.aborted || !this.checks.has(check.name)) return;
    const previous = this.results.get(check.name);
    const result: CheckResult = {
      name: check.name,
      critical: check.critical,
      status,
      lastRun: new Date().toISOString(),
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      ...(error ? { error } : {}),
      ...(detail ? { detail } : {}),
      failures: status === 'fail' ? (previous?.failures ?? 0) + 1 : 0,
    };
    this.results.set(check.name, result);
    this.emit('result', result);
  }

  report(): HealthReport {
    const checks = [...this.results.values()].map((r) => ({ ...r }));
    const reasons = checks
      .filter((c) => c.critical && c.status !== 'pass')
      .map((c) => (c.status === 'pending' ? `${c.name}: not run yet` : `${c.name}: ${c.error ?? 'failed'}`));
    return { ready: reasons.length === 0 && checks.length > 0, reasons, checks };
  }
}
