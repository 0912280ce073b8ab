// Start-up benchmark of the built binary (npm run bench:startup): median wall and CPU time of `--version`,
// `--help`, two offline verbs' help (`keys combine`, `log verify`: no network stack), and the client verbs
// people run ad hoc against a live local node (`status`, `elect status`, `ucxl get`; a dev node is started
// in a temporary directory), peak RSS, the node's idle RSS, and the binary's size and gzip size.
// Prints figures with the 1-minute load average; asserts nothing.
//   node scripts/bench-startup.ts [--binary dist/chorus-linux-x64] [--no-verbs]   (RUNS=20)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { scriptArgs } from './script-args.ts';

const { values: flags } = scriptArgs('bench:startup', {
  options: { binary: { type: 'string' }, 'no-verbs': { type: 'boolean' } },
});
const binary = resolve(flags.binary ?? join(import.meta.dirname, '../dist/chorus-linux-x64'));
const runs = Number(process.env.RUNS ?? 20);
if (!existsSync(binary)) {
  process.stderr.write(`bench:startup: ${binary} is missing; run npm run build first\n`);
  process.exit(1);
}
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Timing {
  medianMs: number;
  minMs: number;
  /** user + system CPU of the child, median (needs /usr/bin/time) */
  cpuMs?: number;
  peakRssMb?: number;
}

function measure(args: string[], env: NodeJS.ProcessEnv = process.env): Timing {
  const first = spawnSync(binary, args, { env, stdio: 'ignore' }); // warm the page cache
  if (first.status !== 0) throw new Error(`${args.join(' ')} exited ${first.status}`);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(binary, args, { env, stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  }
  if (!gnuTime) return { medianMs: median(times), minMs: Math.min(...times) };
  const rss: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < Math.min(runs, 10); i++) {
    const r = spawnSync(gnuTime, ['-f', '%U %S %M', binary, ...args], { env, encoding: 'utf8' });
    const [user, sys, kb] = (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
    cpu.push(((user ?? NaN) + (sys ?? NaN)) * 1000);
    rss.push((kb ?? NaN) / 1024);
  }
  return { medianMs: median(times), minMs: Math.min(...times), cpuMs: median(cpu), peakRssMb: Math.max(...rss) };
}

const fmt = (n: number | undefined, unit: string) => (n === undefined ? 'n/a' : `${n.toFixed(1)} ${unit}`);
const load = () => loadavg()[0]!.toFixed(2);
const line = (name: string, t: Timing, target: string) =>
  `  ${name.padEnd(22)} median ${fmt(t.medianMs, 'ms')}  min ${fmt(t.minMs, 'ms')}  cpu ${fmt(t.cpuMs, 'ms')}  peak RSS ${fmt(t.peakRssMb, 'MB')}  (${target})`;

const loadBefore = load();
const size = statSync(binary).size;
const gz = gzipSync(readFileSync(binary), { level: 9 }).length;
const results = {
  version: measure(['--version']),
  help: measure(['--help']),
  keys: measure(['keys', 'combine', '--help']),
  log: measure(['log', 'verify', '--help']),
};
// a verb's help loads the full program, as the root's help does (--version runs from the client entry alone)
const vsHelp = (ms: number) =>
  `${(((ms - results.help.medianMs) / results.help.medianMs) * 100).toFixed(1)} % vs --help`;
const out = [
  `chorus start-up benchmark: ${runs} runs each, ${binary} (load ${loadBefore})`,
  line('--version', results.version, 'target ≤ 60 ms, ≤ 70 MB'),
  line('--help', results.help, 'target ≤ 90 ms'),
  line('keys combine --help', results.keys, `${vsHelp(results.keys.medianMs)}; target within 10 %`),
  line('log verify --help', results.log, `${vsHelp(results.log.medianMs)}; target within 10 %`),
  `  binary     ${(size / 1e6).toFixed(1)} MB, gzip -9 ${(gz / 1e6).toFixed(1)} MB`,
];
process.stdout.write(`${out.join('\n')}\n`);

/** Starts a dev node, times the three client verbs against it (issue #17: ≤ 45 ms each), reads its idle RSS. */
async function clientVerbs(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-bench-startup-'));
  const dataDir = join(dir, 'node');
  const env = {
    ...process.env,
    NO_COLOR: '1',
    CHORUS_DEV: 'true',
    CHORUS_DEV_AUTHORITY: join(dir, 'authority.key'),
  };
  const node = spawn(binary, ['--data-dir', dataDir, 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], {
    env: { ...env, CHORUS_OPS_PORT: '0' }, // the node only: clients see the environment people have
    stdio: 'ignore',
  });
  const chorus = (...args: string[]) => spawnSync(binary, ['--data-dir', dataDir, ...args], { env, stdio: 'ignore' });
  try {
    for (let i = 0; chorus('status').status !== 0; i++) {
      if (i > 300) throw new Error('the node did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const address = 'ucxl://bench:developer@bench:startup/*^/note.md';
    writeFileSync(join(dir, 'note.md'), 'x'.repeat(1024));
    chorus('ucxl', 'put', address, join(dir, 'note.md'));
    const lines = [`client verbs against a live local node (load ${load()}; target ≤ 45 ms each)`];
    for (const verb of [['status'], ['elect', 'status'], ['ucxl', 'get', address]]) {
      const t = measure(['--data-dir', dataDir, ...verb], env);
      lines.push(line(verb.join(' ').replace(address, '<address>'), t, `load ${load()}`));
    }
    await new Promise((r) => setTimeout(r, 10_000)); // idle: no verbs
    const status = readFileSync(`/proc/${node.pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
    lines.push(
      `  node process after 10 s idle: RSS ${fmt(kb('VmRSS'), 'MB')}, peak ${fmt(kb('VmHWM'), 'MB')} (target ≤ 80 MB)`,
    );
    return lines;
  } finally {
    node.kill('SIGTERM');
    await new Promise((r) => node.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!flags['no-verbs']) process.stdout.write(`${(await clientVerbs()).join('\n')}\n`);
