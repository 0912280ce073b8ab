// Decision voting across 3 processes of the built binary (an architect, an admin, a developer; one
// voter set): the developer proposes version 2 with a quorum of 2 of architect, admin; `ucxl get *^`
// returns version 1 on every node until the architect and the admin approve (the developer's own vote
// is refused: not eligible), and version 2 on every node after; `ucxl history` shows the votes. A
// rejected version never becomes current. Bad input exits 2, refusals exit 1, each with one line.
// Prints the CLI latencies and how long an acceptance takes to show on every node.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DecisionMeta } from '../../src/core/decisions/meta.ts';
import type { Proposal } from '../../src/core/proposals/model.ts';
import type { ProposeResponse } from '../../src/core/proposals/routes.ts';
import { chorusBytes, cleanup, Daemon, freePort, tempDir, until } from '../helpers/daemon.ts';
import type { RunResult } from '../helpers/run.ts';

const idOf = (d: Daemon): string => /peerId=(\S+)/.exec(d.stderr)?.[1] ?? '';
const ROLES = ['architect', 'admin', 'developer'] as const;

const timings = new Map<string, number[]>();

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    timings.set(label, [...(timings.get(label) ?? []), performance.now() - started]);
  }
}

async function json<T>(d: Daemon, args: string[]): Promise<T> {
  const r = await d.cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

/** `ucxl get` content as stored (bytes on stdout). */
async function read(d: Daemon, address: string): Promise<string> {
  const r = await timed('ucxl get (spawn to exit)', () =>
    chorusBytes(['--data-dir', d.dataDir, 'ucxl', 'get', address]),
  );
  if (r.code !== 0) throw new Error(`ucxl get ${address} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.toString();
}

function refusedWith(r: RunResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
}

describe('decision voting across 3 processes of the binary', () => {
  const daemons: Daemon[] = [];
  let arch: Daemon, admin: Daemon, dev: Daemon;
  const dir = tempDir();
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  before(async () => {
    const config = file('chorus.yaml', 'election:\n  expect: 3\n');
    const ports: number[] = [];
    for (const [i, role] of ROLES.entries()) {
      ports.push(await freePort());
      const bootstrap = daemons.map((d, j) => `/ip4/127.0.0.1/tcp/${ports[j]}/p2p/${idOf(d)}`);
      daemons.push(
        await Daemon.start({
          config,
          role,
          listen: `/ip4/127.0.0.1/tcp/${ports[i]}`,
          bootstrap,
          env: { CHORUS_AGENT_NAME: `agent-${role}` },
        }),
      );
    }
    [arch, admin, dev] = daemons as [Daemon, Daemon, Daemon];
    await until(
      'a leader everyone follows',
      async () => {
        const all = await Promise.all(
          daemons.map((d) => json<{ leader: { peerId: string } | null }>(d, ['elect', 'status'])),
        );
        return all.every((s) => s.leader && s.leader.peerId === all[0]?.leader?.peerId);
      },
      { timeoutMs: 30_000 },
    );
  });
  after(async () => {
    for (const [label, ms] of timings) {
      const sorted = [...ms].sort((a, b) => a - b);
      console.log(
        `${label}: n=${ms.length} min ${sorted[0]?.toFixed(0)} ms, median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms`,
      );
    }
    await cleanup();
  });

  const ADR = 'ucxl://dave:developer@chorus:api/*^/adr/0007.md';
  /** `ucxl propose` of the next version of ADR, for developers, decided by 2 of architect, admin. */
  const propose = (d: Daemon, content: string, extra: string[] = []): Promise<ProposeResponse> =>
    timed('ucxl propose (spawn to exit)', () =>
      json<ProposeResponse>(d, [
        'ucxl',
        'propose',
        ADR,
        content,
        '--quorum',
        '2',
        '--voters',
        'architect,admin',
        '--roles',
        'developer',
        ...extra,
      ]),
    );

  test('proposed on one node, approved from two others: *^ is version 1 until accepted, version 2 after; history shows the votes', async () => {
    const put = await dev.cli(['ucxl', 'put', ADR, file('v1.md', 'v1: REST\n'), '--roles', 'developer']);
    assert.equal(put.code, 0, put.stderr);
    const { proposal } = await propose(dev, file('v2.md', 'v2: gRPC\n'), ['--reason', 'p99 latency']);
    assert.equal(proposal.state, 'open');
    assert.equal(proposal.version, 2);
    assert.deepEqual(proposal.quorum, { count: 2, roles: ['architect', 'admin'] });
    for (const d of daemons) {
      await until(
        `${idOf(d)} holds ${proposal.id}`,
        async () => (await d.cli(['ucxl', 'proposal', proposal.id])).code === 0,
      );
      assert.equal(await read(d, ADR), 'v1: REST\n', 'still version 1 while the proposal is open');
    }
    assert.equal(await read(arch, ADR.replace('*^', '*~2')), 'v2: gRPC\n', 'the proposed version is readable as *~2');

    refusedWith(
      await dev.cli(['ucxl', 'vote', proposal.id, 'approve', '--reason', 'my own idea']),
      1,
      /counts votes of architect, admin only \(this node is developer\)/,
    );
    const first = await timed('ucxl vote (spawn to exit)', () =>
      arch.cli(['ucxl', 'vote', proposal.id, 'approve', '--reason', 'benchmarks convinced me']),
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`vote recorded on ${proposal.id}: 1 of 2 approvals`));
    assert.equal(await read(admin, ADR), 'v1: REST\n', 'one approval of two changes nothing');

    const second = await timed('ucxl vote (spawn to exit)', () =>
      admin.cli(['ucxl', 'vote', proposal.id, 'approve', '--reason', 'ship it']),
    );
    const started = performance.now();
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`${proposal.id} accepted: .*\\*~2/adr/0007\\.md is the current version`));
    await Promise.all(
      daemons.map((d) =>
        until('version 2 is *^', async () => (await read(d, ADR)) === 'v2: gRPC\n', { intervalMs: 20 }),
      ),
    );
    timings.set(
      'deciding vote answered → `ucxl get *^` returns version 2 on all 3 nodes (each poll spawns the binary)',
      [performance.now() - started],
    );

    const history = await dev.cli(['ucxl', 'history', ADR]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, new RegExp(`${proposal.id} accepted`));
    assert.match(history.stdout, /approve agent-architect \(architect, node …\w{6}\) at \S+: benchmarks convinced me/);
    assert.match(history.stdout, /approve agent-admin \(admin, node …\w{6}\) at \S+: ship it/);
    const metas = await json<DecisionMeta[]>(dev, ['ucxl', 'history', ADR]);
    assert.deepEqual(
      metas.map((m) => [m.version, m.proposalState, m.proposal?.votes.map((v) => [v.voter.agent, v.vote, v.verified])]),
      [
        [
          2,
          'accepted',
          [
            ['agent-architect', 'approve', true],
            ['agent-admin', 'approve', true],
          ],
        ],
        [1, undefined, undefined],
      ],
    );
    const accepted = await json<Proposal[]>(arch, ['ucxl', 'proposals', '--state', 'accepted']);
    assert.deepEqual(
      accepted.map((p) => p.id),
      [proposal.id],
    );
  });

  test('a rejected version never becomes current; closed proposals take no votes', async () => {
    const { proposal } = await propose(arch, file('v3.md', 'v3: SOAP\n'));
    const blocked = await dev.cli(['ucxl', 'put', ADR, file('v4.md', 'v4\n'), '--roles', 'developer']);
    refusedWith(blocked, 1, new RegExp(`version 3 of .* is proposed \\(${proposal.id}\\) and waiting for votes`));
    await json(admin, ['ucxl', 'vote', proposal.id, 'reject', '--reason', 'no']);
    const rejected = await json<Proposal>(arch, [
      'ucxl',
      'vote',
      proposal.id,
      'reject',
      '--reason',
      'on reflection, no',
    ]);
    assert.equal(rejected.state, 'rejected');
    for (const d of daemons) {
      await until(`${idOf(d)} sees the rejection`, async () => {
        const p = await json<Proposal>(d, ['ucxl', 'proposal', proposal.id]);
        return p.state === 'rejected';
      });
      assert.equal(await read(d, ADR), 'v2: gRPC\n', 'the rejected version 3 is passed over');
    }
    const v3 = await json<DecisionMeta>(dev, ['ucxl', 'resolve', ADR.replace('*^', '*~3')]);
    assert.equal(v3.proposalState, 'rejected');
    refusedWith(
      await admin.cli(['ucxl', 'vote', proposal.id, 'approve', '--reason', 'too late']),
      1,
      new RegExp(`${proposal.id} is rejected already`),
    );
    const shown = await dev.cli(['ucxl', 'proposal', proposal.id]);
    assert.match(shown.stdout, /state:\s+rejected/);
    assert.match(shown.stdout, /reject +agent-admin \(admin, node …\w{6}\) at \S+: no/);
  });

  test('bad input exits 2 and refusals exit 1, each with one line', async () => {
    const v = file('v.md', 'x\n');
    refusedWith(await dev.cli(['ucxl', 'vote', 'p-1', 'maybe', '--reason', 'x']), 2, /"approve" or "reject"/);
    refusedWith(await dev.cli(['ucxl', 'vote', 'p-1', 'approve']), 2, /a vote needs a reason/);
    refusedWith(await dev.cli(['ucxl', 'vote', 'nonsense', 'approve', '--reason', 'x']), 2, /not a proposal id/);
    refusedWith(await dev.cli(['ucxl', 'propose', ADR, v, '--voters', 'admin']), 2, /--quorum is required/);
    refusedWith(await dev.cli(['ucxl', 'propose', ADR, v, '--quorum', '1']), 2, /--voters is required/);
    refusedWith(await dev.cli(['ucxl', 'propose', ADR, v, '--quorum', '0', '--voters', 'admin']), 2, /--quorum/);
    refusedWith(
      await dev.cli(['ucxl', 'propose', ADR.replace('*^', '*~1'), v, '--quorum', '1', '--voters', 'admin']),
      2,
      /use \*\^ in the address/,
    );
    refusedWith(await dev.cli(['ucxl', 'proposals', '--state', 'pending']), 2, /unknown proposal state pending/);
    refusedWith(await dev.cli(['ucxl', 'proposal', 'p-999']), 1, /no proposal p-999/);
    refusedWith(await dev.cli(['ucxl', 'vote', 'p-999', 'approve', '--reason', 'x']), 1, /no proposal p-999/);
  });
});
