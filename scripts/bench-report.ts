// Every row of the speed table of issue #17 (npm run bench:report), from one run, with the 1-minute load
// average at the start and end of each row: the raw stream echo, DHT GET/PUT (20 nodes in one process,
// 5 processes, 5 processes with 8 in flight, the last two again after warm-up (10,000 GETs, 1,000 PUTs), 50 nodes
// with --full), tasks (claim latency, transitions/s), pubsub throughput against the delivery floor and p99
// at 200 msg/s, client verbs against a live node, and a node process's idle RSS. Prints a Markdown table
// (or --json); asserts nothing.
//   --root <dir>    measure another checkout (e.g. the code before a change) with this script's commands
//   --only <rows>   comma-separated row ids: stream,dht20,dht-procs,dht-procs-c8,dht-procs-warm,dht-procs-c8-warm,
//                   dht50,tasks,pubsub,verbs (the -warm rows: the same GETs after 10,000 warm-up GETs, and PUTs
//                   after 1,000 warm-up PUTs)
//   --full          include the 50-node DHT row (about 3 minutes)
//   --out <file>    also write the JSON report
//   --compare <before.json>,<after.json>   print one table of two saved reports side by side (runs nothing)
//   --source        run chorus from source (node src/cli/bin.ts) even when dist/chorus-linux-x64 is built
// The DHT, tasks and verbs rows, and the pubsub row's node processes, run the built single executable when there is
// one (what operators run; its benchmark nodes are then the executable too), else the source with this runtime. The
// pubsub row's in-process nodes always run in this runtime (scripts/bench-pubsub.ts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scriptArgs } from './script-args.ts';

const { values: flags } = scriptArgs('bench:report', {
  options: {
    root: { type: 'string' },
    only: { type: 'string' },
    full: { type: 'boolean' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    source: { type: 'boolean' },
    compare: { type: 'string' },
  },
});
const here = resolve(import.meta.dirname, '..');
const root = resolve(flags.root ?? here);
const node = process.execPath;
const ALL = [
  'stream',
  'dht20',
  'dht-procs',
  'dht-procs-c8',
  'dht-procs-warm',
  'dht-procs-c8-warm',
  'dht50',
  'tasks',
  'pubsub',
  'verbs',
];
const only = new Set(flags.only ? flags.only.split(',') : ALL.filter((r) => r !== 'dht50' || flags.full));
for (const r of only) if (!ALL.includes(r)) throw new Error(`unknown row ${r} (rows: ${ALL.join(', ')})`);

interface Figure {
  measure: string;
  value: string;
  target?: string;
  met?: boolean;
}
interface RowReport {
  row: string;
  command: string;
  load: [number, number];
  figures: Figure[];
  error?: string;
}

const load = (): number => Number(loadavg()[0]!.toFixed(2));
const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${x.toFixed(1)} ms`);
const atMost = (x: number | null | undefined, target: number): boolean => x !== null && x !== undefined && x <= target;

/** How to run chorus in the measured checkout: its single executable when built (and not --source), else the source. */
function chorusCommand(): [string, string[]] {
  const binary = join(root, 'dist/chorus-linux-x64');
  return existsSync(binary) && !flags.source ? [binary, []] : [node, [join(root, 'src/cli/bin.ts')]];
}

/** Runs a command in the measured checkout and parses its stdout as JSON. */
function runJson(args: string[], cwd = root, command = node): unknown {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 15 * 60_000 });
  if (r.status !== 0 && r.status !== 3) throw new Error(`exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout);
}

/** Runs a chorus verb with --json in the measured checkout (see chorusCommand). */
function runChorusJson(args: string[]): unknown {
  const [cmd, pre] = chorusCommand();
  return runJson([...pre, '--json', ...args], root, cmd);
}

type DhtReport = {
  report: {
    get: { p95: number; p99: number; ok: number; count: number; cpuMsPerOp?: number };
    put: { p95: number; cpuMsPerOp?: number };
    replication: { min: number };
    rssPerNodeMb: number;
  };
};

function dht(args: string[], targets: { getP95?: number; getP99?: number; putP95?: number; rss?: number }): Figure[] {
  const { report: r } = runChorusJson(['bench', 'dht', ...args]) as DhtReport;
  const f: Figure[] = [
    { measure: 'GET p95', value: ms(r.get.p95), ...gate(r.get.p95, targets.getP95) },
    { measure: 'GET p99', value: ms(r.get.p99), ...gate(r.get.p99, targets.getP99) },
    { measure: 'PUT p95', value: ms(r.put.p95), ...gate(r.put.p95, targets.putP95) },
    {
      measure: 'success, holders',
      value: `${((100 * r.get.ok) / r.get.count).toFixed(1)} %, ≥ ${r.replication.min}`,
      target: '100 %, ≥ 3',
      met: r.get.ok === r.get.count && r.replication.min >= 3,
    },
  ];
  if (r.get.cpuMsPerOp !== undefined)
    f.push({
      measure: 'CPU per GET / PUT',
      value: `${r.get.cpuMsPerOp.toFixed(2)} / ${r.put.cpuMsPerOp?.toFixed(2)} ms`,
    });
  f.push({
    measure: args.includes('--procs') ? 'RSS per node process' : 'RSS per node',
    value: `${r.rssPerNodeMb.toFixed(1)} MB`,
    ...gate(r.rssPerNodeMb, targets.rss, 'MB'),
  });
  return f;
}

/**
 * The same GETs after 10,000 warm-up GETs instead of 100: the nodes' first read of each key (its verification and
 * decryption) and V8's compilation of the request path are then behind them. The PUTs after 1,000 warm-up PUTs
 * (to other keys) likewise, where the measured checkout's `bench dht` has --put-warmup; the rows above measure the
 * first 200 writes after the nodes started. Figures without targets (those are the rows above).
 */
function warmGets(args: string[]): Figure[] {
  const puts = supportsOption(['bench', 'dht'], '--put-warmup') ? ['--put-warmup', '1000'] : [];
  const { report: r } = runChorusJson(['bench', 'dht', ...args, '--warmup', '10000', ...puts]) as DhtReport;
  const f: Figure[] = [
    { measure: 'GET p95 after 10,000 warm-up GETs', value: ms(r.get.p95) },
    { measure: 'GET p99 after 10,000 warm-up GETs', value: ms(r.get.p99) },
    { measure: 'CPU per GET after 10,000 warm-up GETs', value: `${r.get.cpuMsPerOp?.toFixed(2) ?? '—'} ms` },
  ];
  if (puts.length)
    f.push(
      { measure: 'PUT p95 after 1,000 warm-up PUTs', value: ms(r.put.p95) },
      { measure: 'CPU per PUT after 1,000 warm-up PUTs', value: `${r.put.cpuMsPerOp?.toFixed(2) ?? '—'} ms` },
    );
  return f;
}

/** Whether the measured checkout's chorus verb has an option (its --help names it). */
function supportsOption(verb: string[], option: string): boolean {
  const [cmd, pre] = chorusCommand();
  const r = spawnSync(cmd, [...pre, ...verb, '--help'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes(option);
}

function gate(x: number | null | undefined, target: number | undefined, unit = 'ms'): Partial<Figure> {
  return target === undefined ? {} : { target: `≤ ${target} ${unit}`, met: atMost(x, target) };
}

type TaskReport = {
  report: {
    claimLatencyMs: { p50: number; p95: number };
    cpuMsPerClaim?: number;
    throughput: { perSecond: number; cpuMsPerTransition?: number };
  };
};

const rows: Record<string, { command: string; run: () => Promise<Figure[]> | Figure[] }> = {
  stream: {
    command: 'node scripts/bench-stream.ts',
    run: () => {
      const r = runJson([join(here, 'scripts/bench-stream.ts'), '--json', '--root', root], here) as {
        rows: { name: string; p50: number; p95: number }[];
      };
      return r.rows.map((x) => ({ measure: x.name, value: `p50 ${ms(x.p50)} / p95 ${ms(x.p95)}` }));
    },
  },
  dht20: {
    command: 'chorus bench dht --nodes 20',
    run: () => dht(['--nodes', '20'], { getP95: 2, getP99: 10, rss: 30 }),
  },
  'dht-procs': {
    command: 'chorus bench dht --procs 5',
    run: () => dht(['--procs', '5'], { getP95: 2, getP99: 10, putP95: 8, rss: 120 }),
  },
  'dht-procs-c8': {
    command: 'chorus bench dht --procs 5 --concurrency 8',
    run: () => dht(['--procs', '5', '--concurrency', '8'], { getP95: 10, putP95: 30, rss: 120 }),
  },
  'dht-procs-warm': {
    command: 'chorus bench dht --procs 5 --warmup 10000',
    run: () => warmGets(['--procs', '5']),
  },
  'dht-procs-c8-warm': {
    command: 'chorus bench dht --procs 5 --concurrency 8 --warmup 10000',
    run: () => warmGets(['--procs', '5', '--concurrency', '8']),
  },
  dht50: {
    command: 'chorus bench dht --nodes 50',
    run: () => dht(['--nodes', '50'], { putP95: 300, rss: 30 }),
  },
  tasks: {
    command: 'chorus bench tasks --procs 5',
    run: () => {
      const { report: r } = runChorusJson(['bench', 'tasks', '--procs', '5']) as TaskReport;
      const f: Figure[] = [
        { measure: 'claim p50', value: ms(r.claimLatencyMs.p50) },
        { measure: 'claim p95', value: ms(r.claimLatencyMs.p95), ...gate(r.claimLatencyMs.p95, 50) },
        {
          measure: 'committed transitions/s (16 workers)',
          value: r.throughput.perSecond.toFixed(0),
          target: '≥ 200',
          met: r.throughput.perSecond >= 200,
        },
      ];
      if (r.cpuMsPerClaim !== undefined)
        f.push({
          measure: 'CPU per create+claim / per transition',
          value: `${r.cpuMsPerClaim.toFixed(1)} / ${r.throughput.cpuMsPerTransition?.toFixed(1)} ms`,
        });
      return f;
    },
  },
  pubsub: {
    command: pubsubSource().length
      ? 'node scripts/bench-pubsub.ts --rate 200 --source (and bench-delivery-floor.ts)'
      : 'node scripts/bench-pubsub.ts --rate 200 (node processes: the executable; and bench-delivery-floor.ts)',
    run: pubsub,
  },
  verbs: {
    command: 'chorus status, elect status, ucxl get against a live node; its idle RSS',
    run: verbs,
  },
};

/** The pubsub row's node processes run what the other rows run: the executable when built (not --source). */
function pubsubSource(): string[] {
  return chorusCommand()[0] === node ? ['--source'] : [];
}

function pubsub(): Figure[] {
  const floor = spawnSync(node, ['scripts/bench-delivery-floor.ts'], { cwd: root, encoding: 'utf8' }).stdout;
  const ceiling = (setup: string): number =>
    Number(new RegExp(`${setup}: .*at most ([\\d,]+) msg/s`).exec(floor)?.[1]?.replaceAll(',', '') ?? NaN);
  type Phase = {
    name: string;
    targetRate: number | null;
    publishers: number;
    completeRate: number;
    latencyMs: { p99: number | null };
  };
  const report = runJson(['scripts/bench-pubsub.ts', '--json', ...pubsubSource(), '--quiet', '--rate', '200']) as {
    scenarios: { name: string; phases: Phase[] }[];
  };
  const f: Figure[] = [];
  for (const s of report.scenarios) {
    const limit = ceiling(s.name === 'in-process' ? '10 nodes in one process' : '5 processes');
    const max = Math.max(0, ...s.phases.filter((p) => p.name === 'throughput').map((p) => p.completeRate));
    f.push({
      measure: `${s.name}: max throughput / floor`,
      value: `${max.toFixed(0)} / ${limit} msg/s = ${(max / limit).toFixed(2)}×`,
      target: '≥ 0.5×',
      met: max / limit >= 0.5,
    });
    for (const p of s.phases.filter((x) => x.targetRate === 200))
      f.push({
        measure: `${s.name}: p99 at 200 msg/s, ${p.publishers} publisher${p.publishers > 1 ? 's' : ''}`,
        value: ms(p.latencyMs.p99),
        ...gate(p.latencyMs.p99, 20),
      });
  }
  return f;
}

/** CPU time (user+sys) of this process's exited, waited-for children so far: /proc/self/stat's cutime + cstime. */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10; // fields 16 and 17 of stat(5), in 10 ms clock ticks
}

/** Starts a node (the built executable when there is one), times client verbs against it, reads its idle RSS. */
async function verbs(): Promise<Figure[]> {
  const [cmd, pre] = chorusCommand();
  const dir = mkdtempSync(join(tmpdir(), 'chorus-bench-report-'));
  const env = { ...process.env, NO_COLOR: '1', CHORUS_DEV: 'true', CHORUS_DEV_AUTHORITY: join(dir, 'authority.key') };
  const dataDir = join(dir, 'node');
  // the node alone gets a free ops port (a node already running on this host holds the default one)
  const child = spawn(cmd, [...pre, '--data-dir', dataDir, 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], {
    env: { ...env, CHORUS_OPS_PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let running = true;
  void exited.then(() => (running = false));
  const chorus = (...args: string[]) =>
    spawnSync(cmd, [...pre, '--data-dir', dataDir, ...args], { env, encoding: 'utf8' });
  try {
    for (let i = 0; chorus('status').status !== 0; i++) {
      if (!running) throw new Error(`the node exited: ${stderr.trim().split('\n').pop()}`);
      if (i > 300) throw new Error('the node did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const address = 'ucxl://bench:developer@bench:report/*^/note.md';
    writeFileSync(join(dir, 'note.md'), 'x'.repeat(1024));
    chorus('ucxl', 'put', address, join(dir, 'note.md')); // one node: stored here only (exit 1, kept locally)
    const readable = chorus('ucxl', 'get', address).status === 0;
    const f: Figure[] = [];
    for (const verb of [['status'], ['elect', 'status'], ['ucxl', 'get', address]]) {
      if (verb[0] === 'ucxl' && !readable) continue;
      const times: number[] = [];
      let cpu = 0;
      for (let i = 0; i < 21; i++) {
        const [t, c] = [performance.now(), childrenCpuMs()];
        chorus(...verb);
        if (i > 0) times.push(performance.now() - t);
        if (i > 0) cpu += childrenCpuMs() - c;
      }
      times.sort((a, b) => a - b);
      const median = times[10]!;
      f.push({ measure: `chorus ${verb.join(' ')} (median of 20)`, value: ms(median), ...gate(median, 45) });
      f.push({ measure: `chorus ${verb.join(' ')}: CPU user+sys (mean of 20)`, value: ms(cpu / 20) });
    }
    await new Promise((r) => setTimeout(r, 10_000)); // idle: no verbs, no bench traffic
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
    f.push({ measure: 'RSS of an idle node process', value: `${rss.toFixed(1)} MB`, ...gate(rss, 80, 'MB') });
    return f;
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

interface SavedReport {
  root: string;
  startedAt: string;
  rows: RowReport[];
}

/** One Markdown table of two saved reports (--out files), row by row and measure by measure. */
function compare(beforeFile: string, afterFile: string): void {
  const [a, b] = [beforeFile, afterFile].map((f) => JSON.parse(readFileSync(f, 'utf8')) as SavedReport) as [
    SavedReport,
    SavedReport,
  ];
  const loadOf = (r: RowReport | undefined): string => (r ? `${r.load[0]} → ${r.load[1]}` : '—');
  console.log(`| row | measure | before | after | target | load before / after |`);
  console.log(`| --- | --- | --- | --- | --- | --- |`);
  for (const rowB of b.rows) {
    const rowA = a.rows.find((r) => r.row === rowB.row);
    // a row whose command differs between the two (e.g. the pubsub row from source, then from the executable) says so
    const command =
      rowA && rowA.command !== rowB.command ? `\`${rowA.command}\` → \`${rowB.command}\`` : `\`${rowB.command}\``;
    const measures = [...new Set([...(rowA?.figures ?? []), ...rowB.figures].map((f) => f.measure))];
    for (const m of measures) {
      const fa = rowA?.figures.find((f) => f.measure === m);
      const fb = rowB.figures.find((f) => f.measure === m);
      const target = fb?.target ? `${fb.target} ${fb.met ? 'met' : 'not met'}` : '';
      console.log(
        `| ${command} | ${m} | ${fa?.value ?? rowA?.error ?? '—'} | ${fb?.value ?? rowB.error ?? '—'} | ${target} | ${loadOf(rowA)} / ${loadOf(rowB)} |`,
      );
    }
  }
}

if (flags.compare) {
  const [beforeFile, afterFile] = flags.compare.split(',');
  if (!beforeFile || !afterFile) throw new Error('--compare takes <before.json>,<after.json>');
  compare(beforeFile, afterFile);
  process.exit(0);
}

const startedAt = new Date().toISOString();
const report: RowReport[] = [];
for (const id of ALL.filter((r) => only.has(r))) {
  const row = rows[id]!;
  const before = load();
  process.stderr.write(`bench:report: ${id} (${row.command}), load ${before}\n`);
  let figures: Figure[] = [];
  let error: string | undefined;
  try {
    figures = await row.run();
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  report.push({ row: id, command: row.command, load: [before, load()], figures, ...(error ? { error } : {}) });
}

const out = { root, startedAt, node: process.version, rows: report };
if (flags.out) writeFileSync(flags.out, `${JSON.stringify(out, null, 2)}\n`);
if (flags.json) console.log(JSON.stringify(out, null, 2));
else {
  console.log(`| row | measure | value | target | load (1 min, start → end) |`);
  console.log(`| --- | --- | --- | --- | --- |`);
  for (const r of report) {
    const l = `${r.load[0]} → ${r.load[1]}`;
    if (r.error) console.log(`| \`${r.command}\` | FAILED | ${r.error} | | ${l} |`);
    for (const f of r.figures) {
      const target = f.target ? `${f.target} ${f.met ? 'met' : 'not met'}` : '';
      console.log(`| \`${r.command}\` | ${f.measure} | ${f.value} | ${target} | ${l} |`);
    }
  }
}
