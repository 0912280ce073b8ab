// End-to-end: a three-node cluster of the built binary on loopback — separate processes, separate data
// dirs, no mDNS, an environment of PATH/HOME/NO_COLOR only. Typed delivery of every message type, role
// targeting, one-shot --join publishing, SHHH redaction, the event log across a crash and a tamper; then a
// single node for shutdown, the control socket, and the token-guarded TCP API. No fixed sleeps: every wait
// is on an event (a log line, a message) or a bounded poll of `status`.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import type { LogEntry, VerifyReport } from '../../src/core/eventlog/types.ts';
import type { NodeStatus } from '../../src/core/node/node.ts';
import { defaultTopicFor, MESSAGE_TYPES } from '../../src/core/pubsub/messages.ts';
import { STATIC_TOPICS } from '../../src/core/pubsub/topics.ts';
import { chorus, cleanup, Daemon, freePort, lines, Subscriber, tempDir, until } from '../helpers/daemon.ts';
import { BINARY } from '../helpers/run.ts';

/** Runs fn over items with at most `limit` in flight; results in input order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T, i);
      }
    }),
  );
  return out;
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** Resolves once the node sees `want` peers, each subscribed to every static topic. */
function meshed(node: Daemon, want: number): Promise<NodeStatus> {
  return until(
    `${node.dataDir} to see ${want} peers on every static topic`,
    async () => {
      const s = await node.status();
      const topicsReady = STATIC_TOPICS.every((t) => (s.topics.find((x) => x.topic === t)?.peers ?? 0) >= want);
      return s.peers >= want && topicsReady ? s : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

describe('three-node cluster (A, B developers; C architect)', () => {
  let a: Daemon;
  let b: Daemon;
  let c: Daemon;
  let subB: Subscriber;
  let subC: Subscriber;
  let aAddr = '';
  const ids = { a: '', b: '', c: '' };
  /** Tags every message this run publishes, so presence broadcasts and other traffic are ignored. */
  const nonce = randomUUID();

  before(async () => {
    assert.ok(existsSync(BINARY), 'build first: node scripts/build-binaries.ts --target linux-x64');
    a = await Daemon.start({ role: 'developer' });
    const sa = await a.status();
    ids.a = sa.peerId;
    aAddr = sa.addresses.find((x) => x.startsWith('/ip4/127.0.0.1/')) ?? '';
    assert.match(aAddr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/);
    b = await Daemon.start({ role: 'developer', bootstrap: [aAddr] });
    const sb = await b.status();
    ids.b = sb.peerId;
    const bAddr = sb.addresses.find((x) => x.startsWith('/ip4/127.0.0.1/')) ?? '';
    // With mDNS off nothing tells B and C about each other (bootstrap does not discover transitively),
    // so C names B as well as A to make the mesh full.
    c = await Daemon.start({ role: 'architect', bootstrap: [aAddr, bAddr] });
    ids.c = (await c.status()).peerId;
    assert.equal(new Set(Object.values(ids)).size, 3);
    const statuses = await Promise.all([a, b, c].map((n) => meshed(n, 2)));
    for (const s of statuses) assert.equal(s.peers, 2);
    [subB, subC] = await Promise.all([
      Subscriber.start(b.dataDir, STATIC_TOPICS),
      Subscriber.start(c.dataDir, STATIC_TOPICS),
    ]);
  });

  after(cleanup);

  test('all 31 message types published by A arrive exactly once on B and C, signed by A', async () => {
    assert.equal(MESSAGE_TYPES.length, 31);
    const receipts = await mapLimit(MESSAGE_TYPES, 8, (type, seq) =>
      a.publish(type, { nonce, probe: 'catalogue', seq }),
    );
    MESSAGE_TYPES.forEach((type, i) => {
      assert.equal(receipts[i]?.type, type);
      assert.equal(receipts[i]?.topic, defaultTopicFor(type));
    });
    await Promise.all([subB, subC].map((s) => s.waitForTagged(nonce, 'catalogue', MESSAGE_TYPES.length)));
    // One more message behind them on the same path: a duplicate would have been delivered before it.
    await a.publish('StatusUpdate', { nonce, probe: 'catalogue-end' });
    await Promise.all([subB, subC].map((s) => s.waitForTagged(nonce, 'catalogue-end')));

    for (const [name, sub] of [
      ['B', subB],
      ['C', subC],
    ] as const) {
      const got = sub.tagged(nonce, 'catalogue');
      assert.equal(got.length, MESSAGE_TYPES.length, `${name} received ${got.length} catalogue messages`);
      MESSAGE_TYPES.forEach((type, i) => {
        const matching = got.filter((m) => m.envelope?.type === type);
        assert.equal(matching.length, 1, `${name} received ${type} ${matching.length} times`);
        const m = matching[0]!;
        // `from` is the author gossipsub verified (StrictSign); the envelope must name the same peer,
        // or the receiving node's validator would have rejected the message.
        assert.equal(m.from, ids.a, `${name}: ${type} author`);
        assert.equal(m.envelope?.from, ids.a, `${name}: ${type} envelope sender`);
        assert.equal(m.topic, defaultTopicFor(type), `${name}: ${type} topic`);
        assert.equal(m.raw, false);
        assert.equal(m.envelope?.from_role, 'developer');
        assert.equal(m.envelope?.data.seq, i);
        assert.equal(m.msgId, receipts[i]?.msgId, `${name}: ${type} content id matches the publish receipt`);
      });
    }
  });

  test('the API stamps the sender: no envelope naming another peer can be published', async () => {
    const flag = await a.cli(['publish', 'TaskClaim', '--from', ids.b, '--data', '{}']);
    assert.equal(flag.code, 2, 'there is no --from flag');
    assert.match(flag.stderr, /unknown option "--from"/);
    // A `from` in the payload stays payload; a top-level `from` in the API request is ignored.
    await a.publish('TaskClaim', { nonce, probe: 'forge-data', from: ids.b });
    const viaApi = await a.api('POST', '/v1/publish', {
      type: 'TaskClaim',
      from: ids.b,
      data: { nonce, probe: 'forge-api' },
    });
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
    for (const sub of [subB, subC]) {
      const [inData] = await sub.waitForTagged(nonce, 'forge-data');
      assert.equal(inData?.from, ids.a);
      assert.equal(inData?.envelope?.from, ids.a);
      assert.equal(inData?.envelope?.data.from, ids.b);
      const [inBody] = await sub.waitForTagged(nonce, 'forge-api');
      assert.equal(inBody?.from, ids.a);
      assert.equal(inBody?.envelope?.from, ids.a);
    }
  });

  test('--to-roles architect reaches C and not B', async () => {
    await a.publish('TaskAnnouncement', { nonce, probe: 'targeted' }, ['--to-roles', 'architect']);
    await a.publish('TaskAnnouncement', { nonce, probe: 'marker' });
    const [targeted] = await subC.waitForTagged(nonce, 'targeted');
    assert.deepEqual(targeted?.envelope?.to_roles, ['architect']);
    assert.equal(targeted?.from, ids.a);
    await subC.waitForTagged(nonce, 'marker');
    // Same sender, same topic, published in this order: B had the targeted message before the marker.
    await subB.waitForTagged(nonce, 'marker');
    assert.deepEqual(subB.tagged(nonce, 'targeted'), [], 'B (developer) must not receive an architect-only message');
    assert.equal(subC.tagged(nonce, 'targeted').length, 1);
  });

  test('publish --join: a one-shot process publishes through A and is confirmed', async () => {
    const started = performance.now();
    const r = await chorus([
      'publish',
      'TaskAnnouncement',
      '--dev',
      '--join',
      aAddr,
      '--confirm',
      '1',
      '--timeout',
      '10s',
      '--json',
      '--data',
      JSON.stringify({ nonce, probe: 'oneshot' }),
    ]);
    const wallMs = performance.now() - started;
    console.log(`publish --join --confirm 1: exit ${r.code}, ${wallMs.toFixed(0)} ms wall clock (spawn to exit)`);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { confirmedBy: string[]; elapsedMs: number; msgId: string };
    assert.ok(out.confirmedBy.length >= 1, 'confirmedBy is not empty');
    for (const peer of out.confirmedBy) assert.ok(Object.values(ids).includes(peer), `${peer} is a cluster node`);
    // Delivered like any message, signed by the one-shot's own ephemeral identity.
    const [m] = await subB.waitForTagged(nonce, 'oneshot');
    assert.equal(m?.msgId, out.msgId);
    assert.ok(m && !Object.values(ids).includes(m.from), 'signed by an ephemeral key');
    assert.equal(m?.envelope?.from, m?.from);
  });

  test('publish --join to a dead port exits 1 with one line on stderr', async () => {
    const port = await freePort();
    const r = await chorus([
      'publish',
      'TaskAnnouncement',
      '--dev',
      '--join',
      `/ip4/127.0.0.1/tcp/${port}/p2p/${ids.a}`,
      '--confirm',
      '1',
      '--timeout',
      '5s',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^chorus: could not reach any --join peer/);
  });

  test('SHHH: a secret in published data reaches no subscriber and no event log', async () => {
    const secret = `sk-ant-api03-${randomBytes(48).toString('base64url')}`;
    const receipt = await a.publish('TaskProgress', {
      nonce,
      probe: 'shhh',
      api_key: secret,
      note: `retry with {"api_key": "${secret}"}`,
    });
    assert.ok(receipt.redactions >= 1, 'the publish receipt counts the redaction');
    for (const sub of [subB, subC]) {
      const [m] = await sub.waitForTagged(nonce, 'shhh');
      assert.match(String(m?.envelope?.data.api_key), /^\[REDACTED:[\w.-]+\]$/);
      assert.match(String(m?.envelope?.data.note), /\[REDACTED:[\w.-]+\]/);
      assert.ok(!sub.stdout.includes(secret), 'the subscriber never sees the secret');
      assert.ok(!sub.stdout.includes(secret.slice(13)), 'nor its body');
    }
    const tail = await a.cli(['log', 'tail', '-n', '200', '--json']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.ok(!tail.stdout.includes(secret));
    const entries = lines(tail.stdout).map((l) => JSON.parse(l) as LogEntry);
    const redactions = entries.filter((e) => e.type === 'shhh_redaction');
    assert.ok(redactions.length >= 1, 'A logged a shhh_redaction entry');
    for (const e of redactions) assert.match(String((e.data as { sha256?: unknown }).sha256), /^[0-9a-f]{64}$/);
    assert.ok(
      redactions.some((e) => (e.data as { sha256?: unknown }).sha256 === sha256(secret)),
      'the entry carries the sha256 of the secret',
    );
    for (const node of [a, b, c]) {
      for (const suffix of ['', '-wal', '-shm']) {
        const file = join(node.dataDir, `events.db${suffix}`);
        if (existsSync(file)) assert.ok(!readFileSync(file).includes(secret), `${file} holds the secret`);
      }
    }
  });

  test('event log: verifies while running, survives kill -9 and restart, and reports a tampered row', async () => {
    const running = await b.cli(['log', 'verify', '--json']);
    assert.equal(running.code, 0, running.stderr);
    const before = (JSON.parse(running.stdout) as VerifyReport).entries;
    assert.ok(before > 1);

    const killed = await b.signalAndWait('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    const restarted = await Daemon.start({ dataDir: b.dataDir, role: 'developer', bootstrap: [aAddr] });
    assert.equal((await restarted.status()).peerId, ids.b, 'same identity after the crash');
    const afterCrash = await restarted.cli(['log', 'verify', '--json']);
    assert.equal(afterCrash.code, 0, afterCrash.stderr);
    const report = JSON.parse(afterCrash.stdout) as VerifyReport;
    assert.equal(report.ok, true);
    assert.ok(report.entries >= before, `entries ${report.entries} < ${before} before the crash`);

    const stopped = await restarted.signalAndWait('SIGTERM', 5_000);
    assert.equal(stopped.code, 0, restarted.stderr);
    const db = new DatabaseSync(join(b.dataDir, 'events.db'));
    try {
      const row = db.prepare('SELECT data FROM entries WHERE seq = 2').get();
      const data = JSON.parse(String(row?.data)) as Record<string, unknown>;
      db.prepare('UPDATE entries SET data = ? WHERE seq = 2').run(JSON.stringify({ ...data, tampered: true }));
    } finally {
      db.close();
    }
    const broken = await chorus(['--data-dir', b.dataDir, 'log', 'verify']);
    assert.equal(broken.code, 3, broken.stderr);
    assert.equal(lines(broken.stderr).length, 1, broken.stderr);
    assert.match(broken.stderr, /^chorus: event log verification failed at entry 2: edited/);
  });
});

describe('one node: control socket, TCP API, refusal of a second node, SIGTERM', () => {
  let node: Daemon;
  let port = 0;

  before(async () => {
    port = await freePort();
    node = await Daemon.start({ apiPort: port });
  });

  after(cleanup);

  test('TCP API: 401 without a token or with a wrong one, 200 JSON with the right one', async () => {
    const url = `http://127.0.0.1:${port}/v1/status`;
    const get = (headers: Record<string, string> = {}) => fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
    const none = await get();
    assert.equal(none.status, 401);
    await none.arrayBuffer();
    const tokenFile = join(node.dataDir, 'api.token');
    const token = readFileSync(tokenFile, 'utf8').trim();
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const wrong = await get({ authorization: `Bearer ${randomBytes(32).toString('base64url')}` });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    const ok = await get({ authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type') ?? '', /^application\/json/);
    const status = (await ok.json()) as NodeStatus;
    assert.equal(status.peerId, (await node.status()).peerId);
    assert.equal(status.api.tcp, `127.0.0.1:${port}`);
  });

  test('the control socket is mode 0600; a second node on the same data dir exits 1', async () => {
    const sock = join(node.dataDir, 'chorus.sock');
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const second = await chorus([
      '--data-dir',
      node.dataDir,
      'node',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--no-mdns',
      '--dev',
    ]);
    assert.equal(second.code, 1, second.stderr);
    assert.equal(lines(second.stderr).length, 1, second.stderr);
    assert.match(second.stderr, /^chorus: another chorus node is already running/);
    assert.equal((await node.status()).dataDir, node.dataDir, 'the first node still answers');
  });

  test('SIGTERM: exit 0 within 5 s, and the socket is removed', async () => {
    const exit = await node.signalAndWait('SIGTERM', 5_000);
    assert.equal(exit.code, 0, node.stderr);
    assert.equal(exit.signal, null);
    assert.ok(exit.elapsedMs < 5_000);
    assert.match(node.stdout, /^node 12D3Koo\w+ stopped after /);
    assert.equal(existsSync(join(node.dataDir, 'chorus.sock')), false, 'socket removed');
  });

  test('status against a data dir with no node exits 1 with one line', async () => {
    const r = await chorus(['--data-dir', tempDir('chorus-e2e-empty-'), 'status']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^chorus: no chorus node is answering at /);
  });
});
