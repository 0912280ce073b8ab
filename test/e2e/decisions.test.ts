// End-to-end: decisions on a three-node cluster of the built binary on loopback — A architect, B developer,
// C observer — sharing one role keyring, a full mesh by --bootstrap, no mDNS. Role-encrypted put/get with
// binary content, version history and temporal selectors, address errors, `publish decision`, the UCXI
// HTTP API over the Unix socket and the token-guarded TCP port, a full restart on the same data dirs and
// ports, and Shamir custody of the admin key. No fixed sleeps: waits are on log lines, messages, or
// bounded polls.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DecisionMeta, PutReceipt } from '../../src/core/decisions/store.ts';
import type { NodeStatus } from '../../src/core/node/node.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { STATIC_TOPICS } from '../../src/core/pubsub/topics.ts';
import {
  chorus,
  chorusBytes,
  cleanup,
  Daemon,
  freePort,
  lines,
  socketRequest,
  Subscriber,
  tempDir,
  until,
  type BytesResult,
} from '../helpers/daemon.ts';
import type { RunResult } from '../helpers/run.ts';
import { BINARY } from '../helpers/run.ts';

/** The raw topic of decision version hints (DECISION_HINTS_TOPIC in src/core/node/node.ts). */
const HINTS_TOPIC = 'CHORUS/decisions/v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ---- wall-clock timings of every CLI call, printed at the end ---------------------------------------

const timings = new Map<string, number[]>();

function record(label: string, started: number): void {
  const list = timings.get(label) ?? [];
  list.push(performance.now() - started);
  timings.set(label, list);
}

function report(): void {
  for (const [label, ms] of [...timings].sort(([a], [b]) => a.localeCompare(b))) {
    const sorted = [...ms].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    console.log(
      `${label}: n=${ms.length} min ${sorted[0]?.toFixed(0)} ms, median ${median.toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms (spawn to exit)`,
    );
  }
}

/** Runs a verb against a node's data dir and records its wall time under "verb subverb". */
async function cli(node: Daemon, args: string[]): Promise<RunResult> {
  const started = performance.now();
  try {
    return await node.cli(args);
  } finally {
    record(args.slice(0, 2).join(' '), started);
  }
}

/** Like cli() but stdout as bytes (`ucxl get` writes the content exactly as stored). */
async function cliBytes(node: Daemon, args: string[]): Promise<BytesResult> {
  const started = performance.now();
  try {
    return await chorusBytes(['--data-dir', node.dataDir, ...args]);
  } finally {
    record(args.slice(0, 2).join(' '), started);
  }
}

async function put(node: Daemon, address: string, file: string, extra: string[] = []): Promise<PutReceipt> {
  const r = await cli(node, ['ucxl', 'put', address, file, '--json', ...extra]);
  assert.equal(r.code, 0, `put ${address} on ${node.dataDir}: ${r.stderr}`);
  return JSON.parse(r.stdout) as PutReceipt;
}

/** `ucxl get` that must succeed; the content as text. */
async function getText(node: Daemon, address: string): Promise<string> {
  const r = await cli(node, ['ucxl', 'get', address]);
  assert.equal(r.code, 0, `get ${address} on ${node.dataDir}: ${r.stderr}`);
  assert.equal(r.stderr, '', `get ${address} wrote to stderr`);
  return r.stdout;
}

function loopbackAddr(s: NodeStatus): string {
  const addr = s.addresses.find((x) => x.startsWith('/ip4/127.0.0.1/')) ?? '';
  assert.match(addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/);
  return addr;
}

/** `/ip4/127.0.0.1/tcp/<port>` of a full multiaddr (what --listen takes to keep the same address). */
function listenOf(addr: string): string {
  return addr.replace(/\/p2p\/.*$/, '');
}

/** Resolves once the node sees `want` peers on every static topic and on the decision-hints topic. */
function meshed(node: Daemon, want: number): Promise<NodeStatus> {
  return until(
    `${node.dataDir} to see ${want} peers on every shared topic`,
    async () => {
      const s = await node.status();
      const ready = [...STATIC_TOPICS, HINTS_TOPIC].every(
        (t) => (s.topics.find((x) => x.topic === t)?.peers ?? 0) >= want,
      );
      return s.peers >= want && ready ? s : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

/**
 * Resolves once a put from this node is confirmed by 3 holders (the DHT routing tables are filled).
 * Writes to a subject of its own, so a failed probe only adds versions nobody reads.
 */
async function dhtReady(node: Daemon, name: string, role: string): Promise<void> {
  const file = join(tempDir('chorus-e2e-warmup-'), 'warmup');
  writeFileSync(file, `warm-up ${name}`);
  await until(
    `a 3-holder put from ${name}`,
    async () => {
      const r = await node.cli(['ucxl', 'put', `ucxl://warmup:${role}@e2e:${name}/*^/warmup`, file, '--roles', role]);
      if (r.code !== 0) throw new Error(r.stderr.trim());
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}

function ucxiQuery(address: string, extra: Record<string, string> = {}): string {
  return new URLSearchParams({ address, ...extra }).toString();
}

interface UcxiSuccess<T = unknown> {
  response: { code: string; message: string; data: T; details: unknown; request_id: string; timestamp: string };
}
interface UcxiFailure {
  error: {
    code: string;
    message: string;
    details: unknown;
    source: string;
    path: string;
    request_id: string;
    timestamp: string;
    cause?: string;
  };
}

describe('decisions on three nodes (A architect, B developer, C observer)', () => {
  let a: Daemon;
  let b: Daemon;
  let c: Daemon;
  const ids = { a: '', b: '', c: '' };
  const addrs = { a: '', b: '', c: '' };
  let apiPort = 0;
  let work = '';

  /** Test 1: a decision for developers with bytes that are not UTF-8. */
  const BINARY_ADDR = 'ucxl://planner:architect@chorus:e2e-binary/*^/design/wire-format';
  const binaryContent = Buffer.concat([
    Buffer.from('wire format v1\n'),
    Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x0a, 0x0d]),
    randomBytes(512),
    Buffer.from('\nend'),
  ]);
  /** Test 2: five versions, alternating writers. */
  const HISTORY = 'ucxl://planner:architect@chorus:e2e-history';
  const historyAt = (temporal: string) => `${HISTORY}/${temporal}/adr/0001`;
  const historyContent = (v: number) => `ADR 0001, version ${v}: ${v % 2 === 1 ? 'A' : 'B'} wrote this\n`;
  /** Test 6: a decision for observers, written before the restart. */
  const OBSERVER = 'ucxl://planner:architect@chorus:e2e-restart';
  const observerAt = (temporal: string) => `${OBSERVER}/${temporal}/briefing`;
  const observerContent = (v: number) => `briefing for observers, version ${v}\n`;

  before(async () => {
    assert.ok(existsSync(BINARY), 'build first: node scripts/build-binaries.ts --target linux-x64');
    work = tempDir('chorus-e2e-decisions-');
    apiPort = await freePort();
    // each on a port of its own below the ephemeral range: the restart test brings them back on the same ports
    const listen = async (): Promise<string> => `/ip4/127.0.0.1/tcp/${await freePort()}`;
    a = await Daemon.start({ role: 'architect', apiPort, listen: await listen() });
    const sa = await a.status();
    ids.a = sa.peerId;
    addrs.a = loopbackAddr(sa);
    // A created the keyring on start; B and C must hold the same one before they start.
    const keyring = join(a.dataDir, 'keyring.json');
    assert.ok(existsSync(keyring), 'A created keyring.json');
    const [bDir, cDir] = [tempDir('chorus-e2e-node-'), tempDir('chorus-e2e-node-')];
    copyFileSync(keyring, join(bDir, 'keyring.json'));
    copyFileSync(keyring, join(cDir, 'keyring.json'));
    b = await Daemon.start({ dataDir: bDir, role: 'developer', bootstrap: [addrs.a], listen: await listen() });
    const sb = await b.status();
    ids.b = sb.peerId;
    addrs.b = loopbackAddr(sb);
    c = await Daemon.start({
      dataDir: cDir,
      role: 'observer',
      bootstrap: [addrs.a, addrs.b],
      listen: await listen(),
    });
    const sc = await c.status();
    ids.c = sc.peerId;
    addrs.c = loopbackAddr(sc);
    assert.equal(new Set(Object.values(ids)).size, 3);
    for (const s of await Promise.all([a, b, c].map((n) => meshed(n, 2)))) assert.equal(s.peers, 2);
    for (const n of [b, c]) assert.doesNotMatch(n.stderr, /generated role keys/, 'B and C use the copied keyring');
    await Promise.all([dhtReady(a, 'a', 'architect'), dhtReady(b, 'b', 'developer'), dhtReady(c, 'c', 'observer')]);
  });

  after(async () => {
    report();
    await cleanup();
  });

  test('put on A for developers: B reads the exact bytes, C (observer) is refused', async () => {
    const file = join(work, 'wire-format.bin');
    writeFileSync(file, binaryContent);
    assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(binaryContent), 'content is not UTF-8');

    const receipt = await put(a, BINARY_ADDR, file, ['--roles', 'developer']);
    assert.equal(receipt.version, 1);
    assert.ok(receipt.holders >= 3, `holders ${receipt.holders}`);
    assert.equal(receipt.replication, 3);
    assert.equal(receipt.holderPeers.length, receipt.holders);
    assert.deepEqual(new Set(receipt.holderPeers), new Set(Object.values(ids)));
    assert.equal(receipt.address, 'ucxl://planner:architect@chorus:e2e-binary/*~1/design/wire-format');
    assert.deepEqual(receipt.roles, ['developer']);
    assert.equal(receipt.size, binaryContent.byteLength);
    assert.equal(receipt.author, ids.a);
    assert.equal(receipt.authorRole, 'architect');

    const out = join(work, 'wire-format.from-b');
    const viaFile = await cli(b, ['ucxl', 'get', BINARY_ADDR, '--out', out]);
    assert.equal(viaFile.code, 0, viaFile.stderr);
    assert.match(viaFile.stdout, new RegExp(`^wrote ${binaryContent.byteLength} bytes of `));
    assert.deepEqual(readFileSync(out), binaryContent, '--out on B holds the exact bytes');

    const viaStdout = await cliBytes(b, ['ucxl', 'get', BINARY_ADDR]);
    assert.equal(viaStdout.code, 0, viaStdout.stderr);
    assert.deepEqual(viaStdout.stdout, binaryContent, 'stdout on B carries the exact bytes');

    // The architect reads developer decisions too.
    const onA = await cliBytes(a, ['ucxl', 'get', BINARY_ADDR]);
    assert.equal(onA.code, 0, onA.stderr);
    assert.deepEqual(onA.stdout, binaryContent);

    const onC = await cliBytes(c, ['ucxl', 'get', BINARY_ADDR]);
    assert.equal(onC.code, 1, onC.stderr);
    assert.equal(lines(onC.stderr).length, 1, onC.stderr);
    assert.match(onC.stderr, /^chorus: .*not a recipient/);
    assert.equal(onC.stdout.byteLength, 0, 'nothing on stdout');
  });

  test('five versions from alternating writers: history on C, temporal selectors on B', async () => {
    const receipts: PutReceipt[] = [];
    for (let v = 1; v <= 5; v++) {
      const writer = v % 2 === 1 ? a : b;
      const file = join(work, `adr-v${v}.md`);
      writeFileSync(file, historyContent(v));
      const receipt = await put(writer, historyAt('*^'), file, ['--roles', 'developer', '--type', 'text/markdown']);
      assert.equal(receipt.version, v);
      assert.ok(receipt.holders >= 3, `v${v} holders ${receipt.holders}`);
      assert.equal(receipt.author, v % 2 === 1 ? ids.a : ids.b);
      receipts.push(receipt);
    }

    // C cannot decrypt any of them, but history is metadata only.
    const h = await cli(c, ['ucxl', 'history', historyAt('*^'), '--json']);
    assert.equal(h.code, 0, h.stderr);
    const history = JSON.parse(h.stdout) as DecisionMeta[];
    assert.deepEqual(
      history.map((m) => m.version),
      [5, 4, 3, 2, 1],
    );
    history.forEach((m, i) => {
      const v = 5 - i;
      assert.equal(m.address, historyAt(`*~${v}`));
      assert.equal(m.hash, receipts[v - 1]?.hash, `v${v} hash`);
      assert.equal(m.author, v % 2 === 1 ? ids.a : ids.b, `v${v} author`);
      assert.equal(m.authorRole, v % 2 === 1 ? 'architect' : 'developer');
      assert.equal(m.contentType, 'text/markdown');
      assert.equal(m.prevHash, history[i + 1]?.hash ?? '', `v${v} links to v${v - 1}`);
    });
    const text = await cli(c, ['ucxl', 'history', historyAt('*^')]);
    assert.equal(text.code, 0, text.stderr);
    for (let v = 1; v <= 5; v++) assert.ok(text.stdout.includes(historyAt(`*~${v}`)), `text history lists v${v}`);

    const expected: [string, number][] = [
      ['*~', 1],
      ['*~3', 3],
      ['~~1', 4],
      ['^^2', 3],
      ['*^', 5],
    ];
    for (const [temporal, v] of expected) {
      assert.equal(await getText(b, historyAt(temporal)), historyContent(v), `${temporal} is version ${v}`);
    }
    const json = await cli(b, ['ucxl', 'get', historyAt('~~1'), '--json']);
    assert.equal(json.code, 0, json.stderr);
    const got = JSON.parse(json.stdout) as { meta: DecisionMeta; content: string };
    assert.equal(got.meta.version, 4);
    assert.equal(got.meta.address, historyAt('*~4'));
    assert.equal(Buffer.from(got.content, 'base64').toString(), historyContent(4));

    const missing = await cli(b, ['ucxl', 'get', historyAt('*~9'), '--json']);
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(lines(missing.stderr).length, 1, missing.stderr);
    assert.match(missing.stderr, /^chorus: .*not found/);
    assert.equal((JSON.parse(missing.stdout) as UcxiFailure).error.code, 'UCXL-404-NOT_FOUND');

    const zero = await cli(b, ['ucxl', 'get', historyAt('*~0')]);
    assert.equal(zero.code, 2, zero.stderr);
    assert.equal(zero.stdout, '');
    assert.equal(lines(zero.stderr).length, 1, zero.stderr);
    assert.match(zero.stderr, /^chorus: UCXL-400-TEMPORAL_INVALID: invalid temporal "\*~0"/);
  });

  test('a malformed address is a usage error (exit 2) naming the part, before any I/O', async () => {
    const bad = 'ucxl://bad role@x:y/*^';
    const file = join(work, 'unused');
    writeFileSync(file, 'never stored');
    for (const args of [
      ['ucxl', 'get', bad],
      ['ucxl', 'put', bad, file],
      ['ucxl', 'history', bad],
      ['ucxl', 'resolve', bad],
    ]) {
      const r = await cli(a, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /^chorus: UCXL-400-INVALID_ADDRESS: missing role in ucxl:\/\/bad role@x:y\/\*\^/);
    }
  });

  describe('publish decision', () => {
    const ADDR = 'ucxl://builder:developer@chorus:e2e-publish/*^/release-notes';
    let announced: ReceivedMessage | undefined;
    let receipt: PutReceipt | undefined;

    test('on B: stores the decision and A’s subscriber gets a DeliverableReady for it', async () => {
      const sub = await Subscriber.start(a.dataDir, ['CHORUS/coordination/v1']);
      try {
        const file = join(work, 'release-notes.md');
        writeFileSync(file, 'release notes: decisions are live\n');
        const r = await cli(b, ['publish', 'decision', ADDR, file, '--roles', 'developer', '--json']);
        assert.equal(r.code, 0, r.stderr);
        receipt = JSON.parse(r.stdout) as PutReceipt;
        assert.equal(receipt.version, 1);
        assert.ok(receipt.holders >= 3);
        const hash = receipt.hash;
        announced = await sub.waitFor('a DeliverableReady for the published decision', () =>
          sub.messages.find((m) => {
            const d = m.envelope?.data.decision as { hash?: unknown } | undefined;
            return m.envelope?.type === 'DeliverableReady' && d?.hash === hash;
          }),
        );
      } finally {
        await sub.kill();
      }
      assert.equal(announced.from, ids.b);
      assert.equal(announced.topic, 'CHORUS/coordination/v1');
      assert.equal(announced.envelope?.from_role, 'developer');
      const d = announced.envelope?.data.decision as Record<string, unknown>;
      assert.equal(d.version, 1);
      assert.deepEqual(d.roles, ['developer']);
      // The announced decision is readable where the policy allows: A (architect) reads developer decisions.
      assert.equal(await getText(a, receipt.address), 'release notes: decisions are live\n');
    });

    test('the announced data.decision.address equals the stored address', () => {
      assert.ok(announced && receipt, 'the publish test ran');
      const d = announced.envelope?.data.decision as { address?: unknown };
      assert.equal(d.address, receipt.address);
    });
  });

  describe('UCXI', () => {
    const ADDR = 'ucxl://ucxi:architect@chorus:e2e-ucxi/*^/notes';
    const at = (temporal: string) => ADDR.replace('/*^/', `/${temporal}/`);
    const sock = () => join(a.dataDir, 'chorus.sock');
    const content = (v: number) => Buffer.concat([Buffer.from(`ucxi notes v${v} `), Buffer.from([0xff, 0x00, v])]);

    async function ucxi<T>(
      method: string,
      route: string,
      query: string,
      body?: Uint8Array,
      socket = sock(),
    ): Promise<{ status: number; json: T }> {
      const res = await socketRequest(socket, method, `/ucxi/v1/${route}?${query}`, body, {
        'content-type': 'text/markdown',
      });
      assert.match(String(res.headers['content-type']), /^application\/json/);
      return { status: res.status, json: JSON.parse(res.body.toString()) as T };
    }

    function success<T>(
      r: { status: number; json: unknown },
      status: number,
      code: string,
    ): UcxiSuccess<T>['response'] {
      assert.equal(r.status, status, JSON.stringify(r.json));
      const env = (r.json as UcxiSuccess<T>).response;
      assert.ok(env, 'a success envelope');
      assert.equal(env.code, code);
      assert.match(env.request_id, UUID);
      assert.ok(!Number.isNaN(Date.parse(env.timestamp)), 'timestamp is a date');
      assert.deepEqual(env.details, {});
      return env;
    }

    function failure(r: { status: number; json: unknown }, status: number, code: string): UcxiFailure['error'] {
      assert.equal(r.status, status, JSON.stringify(r.json));
      const env = (r.json as UcxiFailure).error;
      assert.ok(env, 'an error envelope');
      assert.equal(env.code, code);
      assert.equal(env.source, 'chorus-ucxi');
      assert.match(env.request_id, UUID);
      assert.ok(!Number.isNaN(Date.parse(env.timestamp)), 'timestamp is a date');
      return env;
    }

    test('PUT, GET, errors, navigate, query and DELETE over the Unix socket', async () => {
      const created = success<PutReceipt>(
        await ucxi('PUT', 'put', ucxiQuery(ADDR, { roles: 'architect' }), content(1)),
        201,
        'UCXL-201-CREATED',
      );
      assert.equal(created.data.version, 1);
      assert.equal(created.data.address, at('*~1'));
      assert.ok(created.data.holders >= 3);
      assert.deepEqual(created.data.roles, ['architect']);
      assert.equal(created.data.contentType, 'text/markdown');

      const got = success<{ meta: DecisionMeta; content: string }>(
        await ucxi('GET', 'get', ucxiQuery(ADDR)),
        200,
        'UCXL-200-SUCCESS',
      );
      assert.deepEqual(Buffer.from(got.data.content, 'base64'), content(1));
      assert.equal(got.data.meta.version, 1);
      assert.notEqual(got.request_id, created.request_id, 'every request has its own id');

      const bad = failure(
        await ucxi('GET', 'get', ucxiQuery('ucxl://bad role@x:y/*^')),
        400,
        'UCXL-400-INVALID_ADDRESS',
      );
      assert.equal(bad.path, '/ucxi/v1/get');
      assert.match(bad.message, /missing role/);
      const temporal = failure(await ucxi('GET', 'get', ucxiQuery(at('*~0'))), 400, 'UCXL-400-TEMPORAL_INVALID');
      assert.equal(temporal.path, '/ucxi/v1/get');

      const missing = failure(
        await ucxi('GET', 'get', ucxiQuery('ucxl://ucxi:architect@chorus:e2e-nothing-here/*^/adr.md')),
        404,
        'UCXL-404-NOT_FOUND',
      );
      assert.equal(missing.path, '/ucxi/v1/get');
      const pathless = failure(
        await ucxi('GET', 'get', ucxiQuery('ucxl://ucxi:architect@chorus:e2e-nothing-here/*^')),
        400,
        'UCXL-400-INVALID_ADDRESS',
      );
      assert.match(pathless.message, /missing path/);

      // B (developer) is not a recipient of an architect decision.
      failure(
        await ucxi('GET', 'get', ucxiQuery(ADDR), undefined, join(b.dataDir, 'chorus.sock')),
        403,
        'UCXL-403-FORBIDDEN',
      );

      success(await ucxi('POST', 'post', ucxiQuery(ADDR, { roles: 'architect' }), content(2)), 201, 'UCXL-201-CREATED');
      const v3 = success<PutReceipt>(
        await ucxi('PUT', 'put', ucxiQuery(ADDR, { roles: 'architect' }), content(3)),
        201,
        'UCXL-201-CREATED',
      );
      assert.equal(v3.data.version, 3);

      const nav = success<{ current: DecisionMeta; previous: string | null; next: string | null; latest: string }>(
        await ucxi('GET', 'navigate', ucxiQuery(at('*~2'))),
        200,
        'UCXL-200-SUCCESS',
      );
      assert.equal(nav.data.current.version, 2);
      assert.equal(nav.data.previous, at('*~1'));
      assert.equal(nav.data.next, at('*~3'));
      assert.equal(nav.data.latest, at('*~3'));
      const navLatest = success<{ previous: string | null; next: string | null; latest: string }>(
        await ucxi('GET', 'navigate', ucxiQuery(ADDR)),
        200,
        'UCXL-200-SUCCESS',
      );
      assert.equal(navLatest.data.previous, at('*~2'));
      assert.equal(navLatest.data.next, null);

      const found = success<DecisionMeta[]>(
        await ucxi('GET', 'query', ucxiQuery('ucxl://any:any@chorus:any/*^')),
        200,
        'UCXL-200-SUCCESS',
      );
      const hit = found.data.find((m) => m.subject === 'ucxi:architect@chorus:e2e-ucxi/notes');
      assert.ok(hit, `query finds the decision among ${found.data.map((m) => m.subject).join(', ')}`);
      assert.equal(hit.version, 3);
      const none = success<DecisionMeta[]>(
        await ucxi('GET', 'query', ucxiQuery('ucxl://any:any@no-such-project:any/*^')),
        200,
        'UCXL-200-SUCCESS',
      );
      assert.deepEqual(none.data, []);

      const deleted = success<PutReceipt>(await ucxi('DELETE', 'delete', ucxiQuery(ADDR)), 200, 'UCXL-200-SUCCESS');
      assert.equal(deleted.data.version, 4);
      assert.equal(deleted.data.deleted, true);
      assert.equal(deleted.data.size, 0);
      assert.equal(deleted.data.prevHash, v3.data.hash, 'the tombstone extends the chain');
      const gone = failure(await ucxi('GET', 'get', ucxiQuery(ADDR)), 404, 'UCXL-404-NOT_FOUND');
      assert.equal(gone.path, '/ucxi/v1/get');
      // The tombstone was replicated: B sees it too.
      failure(
        await ucxi('GET', 'get', ucxiQuery(ADDR), undefined, join(b.dataDir, 'chorus.sock')),
        404,
        'UCXL-404-NOT_FOUND',
      );
    });

    test('over TCP (--api-port): a PUT without the token is 401, with it 201', async () => {
      const url = `http://127.0.0.1:${apiPort}/ucxi/v1/put?${ucxiQuery('ucxl://ucxi:architect@chorus:e2e-tcp/*^/adr.md', { roles: 'architect' })}`;
      const send = (headers: Record<string, string>) =>
        fetch(url, { method: 'PUT', headers, body: content(1), signal: AbortSignal.timeout(15_000) });
      const none = await send({ 'content-type': 'application/octet-stream' });
      assert.equal(none.status, 401);
      await none.arrayBuffer();
      const wrong = await send({ authorization: `Bearer ${randomBytes(32).toString('base64url')}` });
      assert.equal(wrong.status, 401);
      await wrong.arrayBuffer();
      // Nothing was written by the refused requests.
      failure(
        await ucxi('GET', 'get', ucxiQuery('ucxl://ucxi:architect@chorus:e2e-tcp/*^/adr.md')),
        404,
        'UCXL-404-NOT_FOUND',
      );
      const token = readFileSync(join(a.dataDir, 'api.token'), 'utf8').trim();
      const ok = await send({ authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' });
      const body = (await ok.json()) as UcxiSuccess<PutReceipt>;
      assert.equal(ok.status, 201, JSON.stringify(body));
      assert.equal(body.response.code, 'UCXL-201-CREATED');
      assert.equal(body.response.data.version, 1);
    });
  });

  test('restart: all three stop on SIGTERM and come back on the same data dirs and ports with every decision', async () => {
    // Two versions for observers (C and A may read, B may not), written before the restart.
    for (const v of [1, 2]) {
      const file = join(work, `briefing-v${v}.txt`);
      writeFileSync(file, observerContent(v));
      const r = await put(a, observerAt('*^'), file, ['--roles', 'observer']);
      assert.equal(r.version, v);
    }

    const t0 = performance.now();
    const stopped = await Promise.all([a, b, c].map((n) => n.signalAndWait('SIGTERM', 10_000)));
    stopped.forEach((e, i) => assert.equal(e.code, 0, `node ${'abc'[i]} exit: ${[a, b, c][i]?.stderr}`));
    const t1 = performance.now();

    a = await Daemon.start({ dataDir: a.dataDir, role: 'architect', listen: listenOf(addrs.a) });
    b = await Daemon.start({ dataDir: b.dataDir, role: 'developer', listen: listenOf(addrs.b), bootstrap: [addrs.a] });
    c = await Daemon.start({
      dataDir: c.dataDir,
      role: 'observer',
      listen: listenOf(addrs.c),
      bootstrap: [addrs.a, addrs.b],
    });
    const t2 = performance.now();
    const statuses = await Promise.all([a, b, c].map((n) => meshed(n, 2)));
    const t3 = performance.now();
    console.log(
      `restart: SIGTERM of 3 nodes ${(t1 - t0).toFixed(0)} ms (slowest ${Math.max(...stopped.map((e) => e.elapsedMs)).toFixed(0)} ms), ` +
        `start ${(t2 - t1).toFixed(0)} ms, full mesh again ${(t3 - t2).toFixed(0)} ms`,
    );
    assert.deepEqual(
      statuses.map((s) => s.peerId),
      [ids.a, ids.b, ids.c],
      'same identities',
    );
    assert.deepEqual(
      statuses.map((s) => loopbackAddr(s)),
      [addrs.a, addrs.b, addrs.c],
      'same addresses',
    );
    for (const n of [a, b, c]) assert.doesNotMatch(n.stderr, /generated role keys/, 'the keyring survived');

    for (const [name, node] of [
      ['A', a],
      ['B', b],
    ] as const) {
      for (const sel of ['*^', '*~1']) {
        const got = await cliBytes(node, ['ucxl', 'get', BINARY_ADDR.replace('/*^/', `/${sel}/`)]);
        assert.equal(got.code, 0, `${name} ${sel}: ${got.stderr}`);
        assert.deepEqual(got.stdout, binaryContent, `${name}: binary decision ${sel}`);
      }
      assert.equal(await getText(node, historyAt('*^')), historyContent(5), `${name}: history latest`);
      assert.equal(await getText(node, historyAt('*~1')), historyContent(1), `${name}: history *~1`);
    }
    for (const [name, node] of [
      ['A', a],
      ['C', c],
    ] as const) {
      assert.equal(await getText(node, observerAt('*^')), observerContent(2), `${name}: observer latest`);
      assert.equal(await getText(node, observerAt('*~1')), observerContent(1), `${name}: observer *~1`);
    }
    const refused = await cli(b, ['ucxl', 'get', observerAt('*^')]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /not a recipient/);
    const refusedC = await cli(c, ['ucxl', 'get', historyAt('*^')]);
    assert.equal(refusedC.code, 1, refusedC.stderr);
    assert.match(refusedC.stderr, /not a recipient/);

    // The cluster still writes after the restart: the next version lands on 3 holders.
    const file = join(work, 'briefing-v3.txt');
    writeFileSync(file, observerContent(3));
    const v3 = await put(a, observerAt('*^'), file, ['--roles', 'observer']);
    assert.equal(v3.version, 3);
    assert.ok(v3.holders >= 3);
    assert.equal(await getText(c, observerAt('*^')), observerContent(3));
  });

  test('keys split on A: any 3 of 5 shares recover the admin identity, 2 do not', async () => {
    const split = await cli(a, ['keys', 'split', '--json']);
    assert.equal(split.code, 0, split.stderr);
    const result = JSON.parse(split.stdout) as { role: string; threshold: number; shares: string[] };
    assert.equal(result.role, 'admin');
    assert.equal(result.threshold, 3);
    assert.equal(result.shares.length, 5);
    assert.equal(new Set(result.shares).size, 5);

    const keyring = JSON.parse(readFileSync(join(a.dataDir, 'keyring.json'), 'utf8')) as {
      roles: Record<string, { version: number; identity: string }[]>;
    };
    const admin = keyring.roles.admin?.at(-1)?.identity ?? '';
    assert.match(admin, /^AGE-SECRET-KEY-1/);
    assert.ok(!split.stdout.includes(admin), 'split does not print the key itself');

    const [s1, s2, s3, s4, s5] = result.shares as [string, string, string, string, string];
    for (const three of [
      [s1, s2, s3],
      [s5, s3, s1],
      [s2, s4, s5],
    ]) {
      // shares come on stdin, one a line (never on argv, where ps and shell history see them)
      const r = await chorus(['keys', 'combine'], 20_000, `${three.join('\n')}\n`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${admin}\n`);
      assert.equal(r.stderr, '');
    }
    const fromFile = join(work, 'shares.txt');
    writeFileSync(fromFile, `# custodians 2 and 4\n${s2}\n${s4}\n`, { mode: 0o600 });
    const files = await chorus(['keys', 'combine', '--from', fromFile], 20_000, `${s5}\n`);
    assert.equal(files.code, 2, 'with --from, stdin is not read');
    const both = await chorus(['keys', 'combine', '--from', fromFile, '--from', fromFile.replace('shares', 'more')]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /^chorus: --from: cannot read .*more\.txt: it does not exist — check the path$/m);
    writeFileSync(fromFile.replace('shares', 'more'), `${s5}\n`, { mode: 0o600 });
    const twoFiles = await chorus([
      'keys',
      'combine',
      '--from',
      fromFile,
      '--from',
      fromFile.replace('shares', 'more'),
    ]);
    assert.equal(twoFiles.code, 0, twoFiles.stderr);
    assert.equal(twoFiles.stdout, `${admin}\n`);
    const onArgv = await chorus(['keys', 'combine', s1, s2, s3]);
    assert.equal(onArgv.code, 2);
    assert.equal(onArgv.stdout, '');
    assert.equal(lines(onArgv.stderr).length, 1, onArgv.stderr);
    assert.match(onArgv.stderr, /^chorus: shares on the command line show in ps and shell history: pipe them in/);
    assert.ok(!onArgv.stderr.includes(s1.slice(20)), 'the refusal does not echo a share');
    const two = await chorus(['keys', 'combine'], 20_000, `${s1}\n${s4}\n`);
    assert.equal(two.code, 2, two.stderr);
    assert.equal(two.stdout, '');
    assert.equal(lines(two.stderr).length, 1, two.stderr);
    assert.match(two.stderr, /^chorus: need 3 shares/);
    assert.ok(!two.stderr.includes(admin));
  });
});
