// Start-up benchmark of the built binary (npm run bench:startup): median wall time of `--version`,
// `--help` and two offline verbs' help (`keys combine`, `log verify`: no network stack) over N runs, peak RSS, and the binary's size and gzip size. Prints figures; asserts nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const binary = fileURLToPath(new URL('../dist/chorus-linux-x64', import.meta.url));
const runs = Number(process.env.RUNS ?? 20);
if (!existsSync(binary)) {
  process.stderr.write('bench:startup: dist/chorus-linux-x64 is missing; run npm run build first\n');
  process.exit(1);
}
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function measure(args: string[]): { medianMs: number; minMs: number; peakRssMb?: number } {
  spawnSync(binary, args); // warm the page cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(binary, args, { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  }
  let peakRssMb: number | undefined;
  if (gnuTime) {
    const rss: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = spawnSync(gnuTime, ['-f', '%M', binary, ...args], { encoding: 'utf8' });
      rss.push(Number(r.stderr.trim().split('\n').pop()) / 1024);
    }
    peakRssMb = Math.max(...rss);
  }
  return { medianMs: median(times), minMs: Math.min(...times), peakRssMb };
}

const size = statSync(binary).size;
const gz = gzipSync(readFileSync(binary), { level: 9 }).length;
const results = {
  version: measure(['--version']),
  help: measure(['--help']),
  keys: measure(['keys', 'combine', '--help']),
  log: measure(['log', 'verify', '--help']),
};
const vsVersion = (ms: number) =>
  `${(((ms - results.version.medianMs) / results.version.medianMs) * 100).toFixed(1)} % vs --version`;
const fmt = (n: number | undefined, unit: string) => (n === undefined ? 'n/a' : `${n.toFixed(1)} ${unit}`);
process.stdout.write(
  [
    `chorus start-up benchmark: ${runs} runs each, ${binary}`,
    `  --version  median ${fmt(results.version.medianMs, 'ms')}  min ${fmt(results.version.minMs, 'ms')}  peak RSS ${fmt(results.version.peakRssMb, 'MB')}  (target ≤ 60 ms, ≤ 70 MB)`,
    `  --help     median ${fmt(results.help.medianMs, 'ms')}  min ${fmt(results.help.minMs, 'ms')}  peak RSS ${fmt(results.help.peakRssMb, 'MB')}  (target ≤ 90 ms)`,
    `  keys combine --help  median ${fmt(results.keys.medianMs, 'ms')}  (${vsVersion(results.keys.medianMs)}; target within 10 %)`,
    `  log verify --help    median ${fmt(results.log.medianMs, 'ms')}  (${vsVersion(results.log.medianMs)}; target within 10 %)`,
    `  binary     ${(size / 1e6).toFixed(1)} MB, gzip -9 ${(gz / 1e6).toFixed(1)} MB`,
    '',
  ].join('\n'),
);
