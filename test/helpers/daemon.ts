// Long-running processes of the built binary (daemons, subscribers) for end-to-end cluster tests: a
// minimal environment (PATH, HOME, NO_COLOR), output captured as it arrives, waits with deadlines
// instead of sleeps, and a registry so every child is killed even when a test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeStatus } from '../../src/core/node/node.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { BINARY, runProcess, type RunResult } from './run.ts';

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by cleanup(). */
export function tempDir(prefix = 'chorus-e2e-dir-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** HOME and working directory of every child (removed when the test process exits). */
const HOME = mkdtempSync(join(tmpdir(), 'chorus-e2e-home-'));

/** The only environment children get. */
export const CHILD_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME,
  // every `--dev` node of a test run is in one dev cluster
  CHORUS_DEV_AUTHORITY: join(HOME, 'dev-authority.key'),
  NO_COLOR: '1',
};

/** Runs the binary once, to completion (killed after timeoutMs), with `input` on its stdin. */
export function chorus(args: string[], timeoutMs = 20_000, input?: string): Promise<RunResult> {
  return runProcess(BINARY, args, { env: CHILD_ENV, cwd: HOME, timeoutMs, input });
}

/** What chorusBytes() captured: stdout as the exact bytes written, stderr as text. */
export interface BytesResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the binary once, like chorus(), but keeps stdout as bytes (for verbs that write raw content). */
export function chorusBytes(args: string[], timeoutMs = 20_000): Promise<BytesResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, args, {
      env: CHILD_ENV,
      cwd: HOME,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr }));
  });
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Any HTTP request over a node's Unix control socket, with a raw body (the UCXI routes take the content
 * itself as the body, and DELETE/PUT are not covered by Daemon.api).
 */
export function socketRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers, signal: AbortSignal.timeout(15_000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Non-empty lines of a captured stream. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

export { until } from './poll.ts';

/** Listens on a loopback port (0: any) and closes again; resolves with the port, or undefined when it is taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/** The lowest port of the kernel's ephemeral range, where outbound connections take their local ports. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** The kernel's ephemeral range's start, read once per process. */
let ephemeralLowPort: number | undefined;

/** Ports freePort gave out in this process: never twice. */
const handedOut = new Set<number>();

/**
 * A loopback TCP port that was free a moment ago (nothing listens on it when this resolves), below the kernel's
 * ephemeral range: between now and the moment a node binds it, and while a node that had it restarts, no outbound
 * connection can take it as its local port (as one could a port from listen(0): a restarted node then failed to
 * listen, now and then).
 */
export async function freePort(): Promise<number> {
  const low = (ephemeralLowPort ??= ephemeralLow());
  if (low > 12_000) {
    for (let i = 0; i < 100; i++) {
      const candidate = 10_000 + Math.floor(Math.random() * (low - 10_000));
      if (handedOut.has(candidate)) continue; // given to a test that may not have bound it yet
      const port = await tryListen(candidate);
      if (port !== undefined) {
        handedOut.add(port);
        return port;
      }
    }
  }
  return (await tryListen(0)) as number;
}

const live = new Set<ChorusProcess>();

process.on('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
  rmSync(HOME, { recursive: true, force: true });
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `chorus …` process whose output is captured as it arrives. */
export class ChorusProcess {
  readonly child: ChildProcess;
  readonly args: string[];
  stdout = '';
  stderr = '';
  exitStatus: Exit | undefined;
  readonly exited: Promise<Exit>;
  private readonly changes = new EventEmitter();

  /** `wrap` runs the binary through another program, e.g. ["ip", "netns", "exec", "ns1"]; `env` adds variables. */
  constructor(args: string[], opts: { wrap?: string[]; env?: Record<string, string> } = {}) {
    this.args = args;
    const wrap = opts.wrap ?? [];
    const [command, ...pre] = wrap.length ? [...wrap, BINARY] : [BINARY];
    this.child = spawn(command as string, [...pre, ...args], {
      env: { ...CHILD_ENV, ...opts.env },
      cwd: HOME,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    this.changes.setMaxListeners(0);
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.onStdout();
      this.changes.emit('change');
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.changes.emit('change');
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        this.exitStatus ??= { code: null, signal: null };
        live.delete(this);
        this.changes.emit('change');
        resolve(this.exitStatus);
      });
      this.child.once('close', (code, signal) => {
        this.exitStatus ??= { code, signal };
        live.delete(this);
        this.changes.emit('change');
        resolve(this.exitStatus);
      });
    });
  }

  protected onStdout(): void {}

  /**
   * Resolves with check()'s first defined result; re-checked on every output chunk. Rejects when the
   * deadline passes or the process exits first.
   */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        this.changes.off('change', onChange);
        fn();
      };
      const onChange = (): void => {
        const value = check();
        if (value !== undefined) return finish(() => resolve(value));
        if (this.exitStatus) {
          finish(() =>
            reject(
              new Error(
                `chorus ${this.args.join(' ')} exited (${this.describeExit()}) before ${what}; stderr:\n${this.stderr}`,
              ),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${this.stderr}`)),
          ),
        timeoutMs,
      );
      this.changes.on('change', onChange);
      onChange();
    });
  }

  waitForStderr(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    return this.waitFor(`${pattern} on stderr`, () => pattern.exec(this.stderr) ?? undefined, timeoutMs);
  }

  describeExit(): string {
    const e = this.exitStatus;
    return e ? (e.signal ? `signal ${e.signal}` : `code ${e.code}`) : 'running';
  }

  /** Sends a signal and waits at most timeoutMs for the exit; resolves with the exit and how long it took. */
  async signalAndWait(signal: NodeJS.Signals, timeoutMs = 5_000): Promise<Exit & { elapsedMs: number }> {
    const started = performance.now();
    if (!this.exitStatus) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms of ${signal}`)), timeoutMs);
    });
    try {
      const exit = await Promise.race([this.exited, deadline]);
      return { ...exit, elapsedMs: performance.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL and wait (idempotent). */
  async kill(): Promise<void> {
    if (!this.exitStatus) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface DaemonOptions {
  dataDir?: string;
  role?: string;
  bootstrap?: string[];
  apiPort?: number;
  /** Listen multiaddr (default /ip4/127.0.0.1/tcp/0); a fixed port lets a restarted node keep its address. */
  listen?: string;
  /** Run with --dev (the default): a dev license from the test run's shared dev authority. */
  dev?: boolean;
  /** More environment (CHORUS_* settings). */
  env?: Record<string, string>;
  /** Port of the ops listener (default 0: ephemeral, so several daemons share the host); null: --no-ops. */
  opsPort?: number | null;
  /** A config file (--config). */
  config?: string;
  /** Global options before the verb (e.g. --log-format json). */
  globalArgs?: string[];
  /** More `chorus node` options. */
  nodeArgs?: string[];
  /** Run inside this network namespace (`ip netns exec <name> …`). */
  netns?: string;
  /** Keep mDNS discovery on (off by default: tests on one host must not find each other's nodes). */
  mdns?: boolean;
  /** How long to wait for "chorus node running" (default 15 s). */
  startTimeoutMs?: number;
}

/** `chorus node` on loopback with mDNS off (unless asked), in its own data directory. */
export class Daemon extends ChorusProcess {
  readonly dataDir: string;

  private constructor(dataDir: string, args: string[], opts: { wrap?: string[]; env?: Record<string, string> }) {
    super(args, opts);
    this.dataDir = dataDir;
  }

  /** Starts a node and resolves once it logged that it is running. */
  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const dataDir = opts.dataDir ?? tempDir('chorus-e2e-node-');
    const listen = opts.listen ?? '/ip4/127.0.0.1/tcp/0';
    const args = ['--data-dir', dataDir, ...(opts.config ? ['--config', opts.config] : []), ...(opts.globalArgs ?? [])];
    args.push('node', '--listen', listen);
    if (!opts.mdns) args.push('--no-mdns');
    if (opts.dev !== false) args.push('--dev');
    if (opts.role) args.push('--role', opts.role);
    for (const b of opts.bootstrap ?? []) args.push('--bootstrap', b);
    if (opts.apiPort !== undefined) args.push('--api-port', String(opts.apiPort));
    if (opts.opsPort === null) args.push('--no-ops');
    else args.push('--ops-port', String(opts.opsPort ?? 0));
    args.push(...(opts.nodeArgs ?? []));
    const daemon = new Daemon(dataDir, args, {
      wrap: opts.netns ? ['ip', 'netns', 'exec', opts.netns] : [],
      env: opts.env,
    });
    try {
      await daemon.waitForStderr(/chorus node running/, opts.startTimeoutMs ?? 15_000);
    } catch (err) {
      await daemon.kill();
      throw err;
    }
    return daemon;
  }

  /** Runs a client verb against this node's data dir. */
  cli(args: string[], timeoutMs?: number): Promise<RunResult> {
    return chorus(['--data-dir', this.dataDir, ...args], timeoutMs);
  }

  /** A raw request to the control API over the node's Unix socket (what the client verbs do). */
  api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: join(this.dataDir, 'chorus.sock'),
          method,
          path,
          headers: payload ? { 'content-type': 'application/json' } : {},
          signal: AbortSignal.timeout(15_000),
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : undefined }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** GET on the node's ops listener (its URL is in the status). */
  async ops(path: string): Promise<{ status: number; text: string }> {
    const url = (await this.status()).ops;
    if (!url) throw new Error('ops is off on this node');
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  }

  async status(): Promise<NodeStatus> {
    const r = await this.cli(['status', '--json']);
    if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as NodeStatus;
  }

  /** Publishes through this node's daemon; rejects unless the publish exits 0. */
  async publish(
    type: string,
    data: unknown,
    extra: string[] = [],
  ): Promise<{ topic: string; type: string; msgId: string; redactions: number }> {
    const r = await this.cli(['publish', type, '--data', JSON.stringify(data), '--json', ...extra]);
    if (r.code !== 0) throw new Error(`publish ${type} exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as { topic: string; type: string; msgId: string; redactions: number };
  }
}

/** `chorus subscribe <topics> --json` against a node: the NDJSON stream, parsed as it arrives. */
export class Subscriber extends ChorusProcess {
  readonly messages: ReceivedMessage[] = [];
  private consumed = 0;

  private constructor(args: string[]) {
    super(args);
  }

  /** Starts a subscription and resolves once it reports that it is live. */
  static async start(dataDir: string, topics: readonly string[]): Promise<Subscriber> {
    const sub = new Subscriber(['--data-dir', dataDir, 'subscribe', ...topics, '--json']);
    try {
      await sub.waitForStderr(/\bsubscribed\b/, 15_000);
    } catch (err) {
      await sub.kill();
      throw err;
    }
    return sub;
  }

  protected override onStdout(): void {
    let nl: number;
    while ((nl = this.stdout.indexOf('\n', this.consumed)) >= 0) {
      const line = this.stdout.slice(this.consumed, nl).trim();
      this.consumed = nl + 1;
      if (line) this.messages.push(JSON.parse(line) as ReceivedMessage);
    }
  }

  /** Messages whose envelope data carries this test nonce (and, if given, this probe). */
  tagged(nonce: string, probe?: string): ReceivedMessage[] {
    return this.messages.filter((m) => {
      const d = m.envelope?.data;
      return d?.nonce === nonce && (probe === undefined || d.probe === probe);
    });
  }

  /** Resolves once at least `count` messages tagged with nonce/probe arrived. */
  waitForTagged(nonce: string, probe: string, count = 1, timeoutMs = 15_000): Promise<ReceivedMessage[]> {
    return this.waitFor(
      `${count} message(s) with probe ${probe}`,
      () => {
        const got = this.tagged(nonce, probe);
        return got.length >= count ? got : undefined;
      },
      timeoutMs,
    );
  }
}

/** Kills every child still running (SIGKILL) and waits for them to exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

/** Kills every child still running and removes the temporary directories made so far. */
export async function cleanup(): Promise<void> {
  await killAll();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
