// Election failover benchmark (npm run bench:election): 5 `chorus node` processes (the single executable,
// or --source) with the default election timers form one voter set (election.expect 5); then, again and
// again, the leader is killed with SIGKILL and the time until every survivor's control API reports the same
// new leader is measured; the killed node is restarted from its data dir before the next kill. The nodes
// run with dev licenses of one shared dev authority (one dev cluster). Prints
// failover p50/p95/max next to the target (p95 ≤ 2 s). Status is polled over each node's Unix socket
// every 20 ms (the API `chorus elect status` uses), so the figures include up to ~20 ms of polling.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../src/core/api/client.ts';
import {
  childEnv,
  devClusterEnv,
  killBenchChildren,
  spawnChild,
  stopChildren,
  type Child,
} from '../src/bench/children.ts';
import { summarize } from '../src/bench/stats.ts';
import type { ElectionStatus } from '../src/core/election/service.ts';
import { scriptArgs } from './script-args.ts';

const USAGE = `usage: node scripts/bench-election.ts [--kills 20] [--nodes 5] [--source] [--json]`;
const { values: flags } = scriptArgs(
  'bench:election',
  {
    options: {
      kills: { type: 'string' },
      nodes: { type: 'string' },
      source: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const KILLS = Number(flags.kills ?? 20);
const NODES = Number(flags.nodes ?? 5);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const [command, prefix] = flags.source
  ? [process.execPath, [join(ROOT, 'src/cli/bin.ts')]]
  : [join(ROOT, 'dist/chorus-linux-x64'), []];
const log = (line: string): void => void process.stderr.write(`bench-election: ${line}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

interface Slot {
  dir: string;
  port: number;
  peerId: string;
  child?: Child;
  api: ApiClient;
}

const root = mkdtempSync(join(tmpdir(), 'chorus-bench-election-'));
const slots: Slot[] = [];

async function launch(slot: Slot): Promise<void> {
  const bootstrap = slots
    .filter((s) => s !== slot && s.peerId && s.child)
    .flatMap((s) => ['--bootstrap', `/ip4/127.0.0.1/tcp/${s.port}/p2p/${s.peerId}`]);
  const args = [
    ...prefix,
    '--data-dir',
    slot.dir,
    'node',
    '--listen',
    `/ip4/127.0.0.1/tcp/${slot.port}`,
    '--no-mdns',
    '--no-ops',
    ...bootstrap,
  ];
  const child = spawnChild(
    `node-${slots.indexOf(slot)}`,
    command,
    args,
    childEnv({ ...devClusterEnv(root), CHORUS_ELECTION_EXPECT: String(NODES) }),
  );
  slot.peerId = await child.waitForStderr((l) => /chorus node running peerId=(\S+)/.exec(l)?.[1], 20_000);
  slot.child = child;
}

async function status(slot: Slot): Promise<ElectionStatus | undefined> {
  try {
    return await slot.api.call<ElectionStatus>('GET', '/v1/election/status');
  } catch {
    return undefined;
  }
}

/** Polls until every slot reports the same leader (not `not`); resolves with it. */
async function agreement(among: Slot[], not: string | undefined, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const all = await Promise.all(among.map(status));
    const leader = all[0]?.leader?.peerId;
    if (leader && leader !== not && all.every((s) => s?.leader?.peerId === leader)) return leader;
    await delay(20);
  }
  throw new Error(`no agreement among ${among.length} nodes within ${timeoutMs} ms`);
}

const samples: number[] = [];
try {
  for (let i = 0; i < NODES; i++) {
    const dir = join(root, `n${i}`);
    slots.push({ dir, port: await freePort(), peerId: '', api: new ApiClient({ dataDir: dir, timeoutMs: 1000 }) });
  }
  for (const slot of slots) await launch(slot);
  log(`${NODES} nodes up; waiting for the first leader`);
  let leader = await agreement(slots, undefined, 30_000);
  for (let k = 1; k <= KILLS; k++) {
    const victim = slots.find((s) => s.peerId === leader) as Slot;
    const survivors = slots.filter((s) => s !== victim);
    const t0 = performance.now();
    victim.child?.proc.kill('SIGKILL');
    const next = await agreement(survivors, leader, 20_000);
    const ms = performance.now() - t0;
    samples.push(ms);
    log(`kill ${k}/${KILLS}: ${leader.slice(-6)} → ${next.slice(-6)} in ${Math.round(ms)} ms`);
    await victim.child?.exited;
    victim.child = undefined;
    await launch(victim);
    leader = await agreement(slots, undefined, 30_000);
  }
} finally {
  await stopChildren(
    slots.flatMap((s) => (s.child ? [s.child] : [])),
    3000,
  );
  killBenchChildren();
  rmSync(root, { recursive: true, force: true });
}

const s = summarize(samples);
const p95 = s.p95 ?? Infinity;
const report = {
  nodes: NODES,
  kills: samples.length,
  binary: flags.source ? 'source' : 'dist/chorus-linux-x64',
  failoverMs: { p50: s.p50, p95: s.p95, max: s.max, min: s.min, mean: s.mean },
  samplesMs: samples.map(Math.round),
  target: { p95Ms: 2000, met: p95 <= 2000 },
};
if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else {
  const f = (x: number | null): string => (x === null ? '—' : `${Math.round(x)} ms`);
  process.stdout.write(
    [
      `election failover, ${NODES} node processes (${report.binary}), ${samples.length} leader kills (SIGKILL), default timers`,
      `  p50 ${f(s.p50)}   p95 ${f(s.p95)}   max ${f(s.max)}   (min ${f(s.min)}, mean ${f(s.mean)})`,
      `  target p95 ≤ 2000 ms: ${report.target.met ? 'met' : 'NOT met'}`,
    ].join('\n') + '\n',
  );
}
