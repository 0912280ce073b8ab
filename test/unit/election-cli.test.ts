// The election verbs from source against an in-process node's control socket: elect status (table,
// --json, --require-leader → exit 3, no daemon → exit 1), leader-only verbs on a leader and on a
// node without a leader (NotLeader, exit 1), and that the client verbs never load libp2p.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ElectionStatus } from '../../src/core/election/service.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { ApiClient } from '../../src/core/api/client.ts';
import { runCli, runProcess, SOURCE_ENTRY } from '../helpers/run.ts';
import { FAST_ELECTION, startWithConfig, stopAll, testConfig } from '../helpers/cluster.ts';
import { nextEvent } from '../helpers/events.ts';

describe('chorus elect / context / shhh policy against a daemon', () => {
  let leader: ChorusNode;
  let waiting: ChorusNode;
  before(async () => {
    leader = await startWithConfig(testConfig({ election: FAST_ELECTION }), {}, undefined, { api: true });
    // expects a second voter that never comes: no voter set, no leader
    waiting = await startWithConfig(testConfig({ election: { ...FAST_ELECTION, expect: 2 } }), {}, undefined, {
      api: true,
    });
  });
  after(() => stopAll([leader, waiting]));

  const cli = (node: ChorusNode, args: string[]) => runCli(['--data-dir', node.config.dataDir, ...args]);

  test('elect status: a lone node leads its own single-voter cluster', async () => {
    const json = await cli(leader, ['elect', 'status', '--json', '--require-leader']);
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as ElectionStatus;
    assert.equal(s.state, 'leader');
    assert.equal(s.leader?.peerId, leader.peerId);
    assert.ok(s.leader?.addresses.length);
    assert.equal(s.voters.length, 1);
    assert.ok((s.voters[0]?.score?.total ?? -1) >= 0);
    const text = await cli(leader, ['elect', 'status']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /leader-only writes:\s+accepted here/);
    assert.match(text.stdout, /experience/);
  });

  test('--require-leader exits 3 without a leader; no daemon exits 1', async () => {
    const r = await cli(waiting, ['elect', 'status', '--require-leader', '--json']);
    assert.equal(r.code, 3, r.stderr);
    // --json is one document (issue #16): the result, naming the failed check; the message goes to stderr
    const result = JSON.parse(r.stdout) as ElectionStatus & { failedCheck?: string };
    assert.equal(result.leader, null);
    assert.equal(result.failedCheck, 'no leader is elected');
    assert.match(r.stderr, /^chorus: no leader is elected$/m);
    assert.equal((await cli(waiting, ['elect', 'status'])).code, 0);
    const none = await runCli(['--data-dir', mkdtempSync(join(tmpdir(), 'chorus-none-')), 'elect', 'status']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no chorus node is answering/);
  });

  test('leader-only verbs: accepted on the leader, NotLeader (exit 1) elsewhere', async () => {
    const put = await cli(leader, ['context', 'put', 'arch/overview', '--data', '{"style":"p2p"}', '--json']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(JSON.parse(put.stdout).committed, true);
    const got = await cli(leader, ['context', 'get', 'arch/overview', '--json']);
    assert.deepEqual(JSON.parse(got.stdout)[0].content, { style: 'p2p' });
    const refused = await cli(waiting, ['context', 'put', 'x', '--data', '1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not the leader/);
    const file = join(mkdtempSync(join(tmpdir(), 'chorus-policy-')), 'policy.yaml');
    writeFileSync(file, "- name: ticket-secret\n  pattern: 'TKT-[0-9]{6}'\n  action: deny\n");
    const set = await cli(leader, ['shhh', 'policy', 'set', file]);
    assert.equal(set.code, 0, set.stderr);
    const show = await cli(leader, ['shhh', 'policy', 'show', '--json']);
    assert.equal(JSON.parse(show.stdout).rules[0].name, 'ticket-secret');
    assert.equal((await cli(waiting, ['shhh', 'policy', 'set', file])).code, 1);
    const resign = await cli(leader, ['elect', 'resign']);
    assert.equal(resign.code, 1, 'a single voter has nobody to hand over to');
  });

  test('elect watch streams the bootstrap of a 2-voter set; elect trigger hands leadership over', async () => {
    const abort = new AbortController();
    const events: ElectionStatus[] = [];
    const stream = new ApiClient({ dataDir: waiting.config.dataDir }).stream<ElectionStatus & { at: string }>(
      '/v1/election/watch',
      abort.signal,
    );
    const second = await startWithConfig(testConfig({ election: { ...FAST_ELECTION, expect: 2 } }));
    try {
      await second.libp2p.dial(waiting.libp2p.getMultiaddrs()[0]!);
      for await (const e of stream) {
        events.push(e);
        if (e.leader && e.voters.length === 2) break;
      }
      abort.abort();
      assert.equal(events[0]?.leader, null, 'the first line is the state before the voter set formed');
      const last = events.at(-1) as ElectionStatus;
      assert.deepEqual(last.voters.map((v) => v.peerId).sort(), [waiting.peerId, second.peerId].sort());
      const before = last.leader?.peerId;
      const trigger = await cli(waiting, ['elect', 'trigger', '--json']);
      assert.equal(trigger.code, 0, trigger.stderr);
      assert.match(JSON.parse(trigger.stdout).action, /^(resigned|asked-leader)$/);
      const other = before === waiting.peerId ? second : waiting;
      if (other.election.raft.state !== 'leader') await nextEvent(other.election.raft, 'state', (r) => r === 'leader');
      assert.notEqual(other.peerId, before);
    } finally {
      abort.abort();
      await second.stop();
    }
  });

  test('client verbs never load libp2p', async () => {
    const hook = `import { registerHooks } from 'node:module';
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (/libp2p|gossipsub/.test(r.url)) process.stderr.write('LOADED ' + r.url + '\\n'); return r; } });`;
    const r = await runProcess(
      process.execPath,
      [
        '--import',
        `data:text/javascript,${encodeURIComponent(hook)}`,
        SOURCE_ENTRY,
        '--data-dir',
        leader.config.dataDir,
        'elect',
        'status',
      ],
      {},
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /LOADED/);
  });
});
