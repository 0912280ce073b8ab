// Elections across 5 processes of the built binary with the default timers: the voter set forms by
// bootstrap (election.expect 5), `chorus elect status --json` agrees everywhere on one leader; after
// `kill -9` of the leader the survivors agree on a new one within a bounded wait, and the restarted node
// follows it.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ElectionStatus } from '../../src/core/election/service.ts';
import { cleanup, Daemon, freePort, tempDir, until } from '../helpers/daemon.ts';

async function electStatus(d: Daemon): Promise<ElectionStatus> {
  const r = await d.cli(['elect', 'status', '--json']);
  if (r.code !== 0) throw new Error(`elect status exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as ElectionStatus;
}

/** The leader every daemon reports, once they all report the same one. */
async function agreedLeader(daemons: Daemon[]): Promise<{ leader: string; term: number }> {
  const all = await Promise.all(daemons.map(electStatus));
  const leader = all[0]?.leader?.peerId;
  if (!leader || !all.every((s) => s.leader?.peerId === leader)) throw new Error('no agreement yet');
  return { leader, term: Math.max(...all.map((s) => s.term)) };
}

describe('elections across 5 processes of the binary', () => {
  const daemons: Daemon[] = [];
  const ports: number[] = [];
  let config = '';

  before(async () => {
    config = join(tempDir(), 'chorus.yaml');
    writeFileSync(config, 'election:\n  expect: 5\n');
    for (let i = 0; i < 5; i++) {
      ports.push(await freePort());
      const bootstrap = daemons.map((d, j) => `/ip4/127.0.0.1/tcp/${ports[j]}/p2p/${idOf(d)}`);
      daemons.push(await Daemon.start({ config, listen: `/ip4/127.0.0.1/tcp/${ports[i]}`, bootstrap }));
    }
  });
  after(cleanup);

  const idOf = (d: Daemon): string => /peerId=(\S+)/.exec(d.stderr)?.[1] ?? '';

  test('one leader; kill -9 it → the survivors agree on a new leader within a bounded wait', async () => {
    const first = await until('5 daemons agree on a leader', () => agreedLeader(daemons), { timeoutMs: 30_000 });
    const status = await electStatus(daemons[0] as Daemon);
    assert.equal(status.voters.length, 5);
    assert.equal(status.votersSource, 'expect:5');
    const leaderIndex = daemons.findIndex((d) => idOf(d) === first.leader);
    assert.ok(leaderIndex >= 0);
    const leader = daemons[leaderIndex] as Daemon;
    const survivors = daemons.filter((d) => d !== leader);

    // leader-only path through the binary: a follower refuses naming the leader; the leader's write reaches all
    const follower = survivors[0] as Daemon;
    const refused = await follower.cli(['context', 'put', 'e2e/k', '--data', '{"n":1}']);
    assert.equal(refused.code, 1);
    assert.ok(refused.stderr.includes(first.leader), refused.stderr);
    const put = await leader.cli(['context', 'put', 'e2e/k', '--data', '{"n":1}', '--json']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(JSON.parse(put.stdout).committed, true);
    // committed on a majority; a follower applies it with the leader's next message
    const got = await until('the follower holds e2e/k', async () => {
      const r = await follower.cli(['context', 'get', 'e2e/k', '--json']);
      const list = JSON.parse(r.stdout) as { content: unknown }[];
      return list.length ? list : undefined;
    });
    assert.deepEqual(got[0]?.content, { n: 1 });

    const killedAt = performance.now();
    await leader.kill(); // SIGKILL: no hand-over
    const second = await until(
      'the survivors agree on a new leader',
      async () => {
        const r = await agreedLeader(survivors);
        return r.leader !== first.leader ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const failoverMs = performance.now() - killedAt;
    assert.ok(second.term > first.term);
    assert.ok(failoverMs < 10_000, `failover took ${Math.round(failoverMs)} ms`);
    process.stderr.write(
      `# failover after kill -9 observed through chorus elect status: ${Math.round(failoverMs)} ms\n`,
    );
    const required = await (survivors[0] as Daemon).cli(['elect', 'status', '--require-leader']);
    assert.equal(required.code, 0);
    const newLeader = survivors.find((d) => idOf(d) === second.leader) as Daemon;
    const put2 = await newLeader.cli(['context', 'put', 'e2e/k2', '--data', '2']);
    assert.equal(put2.code, 0, put2.stderr);

    // the killed node comes back with its data dir and follows the new leader
    const back = await Daemon.start({
      config,
      dataDir: leader.dataDir,
      listen: `/ip4/127.0.0.1/tcp/${ports[leaderIndex]}`,
      bootstrap: survivors.map((d) => `/ip4/127.0.0.1/tcp/${ports[daemons.indexOf(d)]}/p2p/${idOf(d)}`),
    });
    const everyone = [...survivors, back];
    const third = await until('all 5 agree again', () => agreedLeader(everyone), { timeoutMs: 20_000 });
    assert.equal(third.leader, second.leader, 'the returning node does not disturb the new leader');
    assert.equal((await electStatus(back)).state, 'follower');
    // it catches up on the record written while it was dead
    const caught = await until('the restarted node holds e2e/k2', async () => {
      const r = await back.cli(['context', 'get', 'e2e/k2', '--json']);
      const list = JSON.parse(r.stdout) as { content: unknown }[];
      return list.length ? list : undefined;
    });
    assert.deepEqual(
      caught.map((c) => c.content),
      [2],
    );
  });
});
