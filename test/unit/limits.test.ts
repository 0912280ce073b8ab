// Size limits and bad decision addresses, through the real CLI from source: one documented limit per kind
// (message, decision), checked by the client before anything is sent (exit 2 naming the size and the
// limit), and by the daemon with the same message for a client that skips the check. A decision of
// exactly the limit fits its encrypted record. Selectors beyond any version and decision addresses
// without a path are bad input (exit 2), not "not found".
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkDecisionSize, checkMessageSize, MAX_DECISION_BYTES, MAX_MESSAGE_BYTES } from '../../src/core/limits.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { connectAll, startNode, startWithConfig, stopAll, testConfig } from '../helpers/cluster.ts';
import { runCli } from '../helpers/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-limits-'));
const ADDRESS = 'ucxl://alice:developer@limits:t/*^/big.bin';

function file(name: string, bytes: number): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.alloc(bytes, 0x61));
  return path;
}

/** The message a limit check throws, as the CLI prints it. */
function messageOf(check: () => void): string {
  try {
    check();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the check passed');
}

const decisionTooLarge = (size: number) => messageOf(() => checkDecisionSize(size));
const messageTooLarge = (payload: unknown) => messageOf(() => checkMessageSize(payload));

test('the messages name the size and the limit', () => {
  assert.equal(
    decisionTooLarge(1024 * 1024),
    "the decision's content is 1048576 bytes (1 MiB); the limit is 524288 bytes (512 KiB) per decision: " +
      'split it into several decisions (one per path) or store it elsewhere and record its hash',
  );
  assert.match(
    messageTooLarge('x'.repeat(MAX_MESSAGE_BYTES + 1)),
    /^the message is 262145 bytes \(256\.0 KiB\); the limit is 262144 bytes \(256 KiB\) per message/,
  );
  assert.doesNotThrow(() => checkDecisionSize(MAX_DECISION_BYTES));
  assert.doesNotThrow(() => checkMessageSize('x'.repeat(MAX_MESSAGE_BYTES)));
});

describe('the client checks before sending (no node is running: a request would fail with exit 1)', () => {
  const noNode = ['--data-dir', join(dir, 'no-node')];

  test('ucxl put of 1 MiB and 20 MiB, publish decision: exit 2 naming the size and the limit', async () => {
    for (const [bytes, args] of [
      [1024 * 1024, ['ucxl', 'put', ADDRESS]],
      [20 * 1024 * 1024, ['ucxl', 'put', ADDRESS]],
      [1024 * 1024, ['publish', 'decision', ADDRESS]],
    ] as const) {
      const r = await runCli([...noNode, ...args, file(`d${bytes}`, bytes)]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `chorus: ${decisionTooLarge(bytes)}\n`);
    }
  });

  test('a 10 MiB publish (typed and raw): exit 2 naming the size and the limit', async () => {
    const big = 'x'.repeat(10 * 1024 * 1024);
    const json = join(dir, 'big.json');
    writeFileSync(json, JSON.stringify({ text: big }));
    const typed = await runCli([...noNode, 'publish', 'TaskAnnouncement', '--data', `@${json}`]);
    assert.equal(typed.code, 2, typed.stderr);
    assert.equal(typed.stderr, `chorus: ${messageTooLarge({ text: big })}\n`);
    const raw = await runCli([...noNode, 'publish', '--raw', 'CHORUS/raw-test/v1', '--data', '-'], { input: big });
    assert.equal(raw.code, 2, raw.stderr);
    assert.equal(raw.stderr, `chorus: ${messageTooLarge(big)}\n`);
  });

  test('a selector beyond any version and a decision address without a path: exit 2', async () => {
    const beyond = await runCli([...noNode, 'ucxl', 'get', 'ucxl://a:b@c:d/~~999999999999/x']);
    assert.equal(beyond.code, 2, beyond.stderr);
    assert.match(
      beyond.stderr,
      /^chorus: UCXL-400-TEMPORAL_INVALID: .*too large: no decision has more than 2147483647/,
    );
    for (const verb of ['get', 'put', 'resolve', 'history']) {
      const r = await runCli([...noNode, 'ucxl', verb, 'ucxl://a:b@c:d/*^'], { input: 'x' });
      assert.equal(r.code, 2, `${verb}: ${r.stderr}`);
      assert.match(r.stderr, /^chorus: UCXL-400-INVALID_ADDRESS: missing path in ucxl:\/\/a:b@c:d\/\*\^/, verb);
    }
  });
});

interface Reply {
  status: number;
  body: { error?: { code: string; message: string } };
}

function socketCall(node: ChorusNode, method: string, path: string, body: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: join(node.config.dataDir, 'chorus.sock'), method, path, signal: AbortSignal.timeout(20_000) },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Reply['body'] }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('the daemon enforces the same limits (3 nodes in this process, the API on the first)', () => {
  let nodes: ChorusNode[] = [];

  before(async () => {
    nodes = [await startWithConfig(testConfig(), {}, undefined, { api: true }), await startNode(), await startNode()];
    await connectAll(nodes);
  });
  after(() => stopAll(nodes));

  test('a decision of exactly the limit, readable by every role, is stored and read back', async () => {
    const dataDir = ['--data-dir', nodes[0]!.config.dataDir];
    const exact = file('exact.bin', MAX_DECISION_BYTES);
    const put = await runCli(
      [...dataDir, 'ucxl', 'put', ADDRESS, exact, '--roles', 'admin,architect,developer,observer', '--json'],
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal(put.code, 0, put.stderr);
    assert.equal((JSON.parse(put.stdout) as { size: number }).size, MAX_DECISION_BYTES);
    const got = await runCli([...dataDir, 'ucxl', 'get', ADDRESS, '--out', join(dir, 'back.bin')]);
    assert.equal(got.code, 0, got.stderr);
  });

  test('a client that skips the check gets the same message, with HTTP 400', async () => {
    const over = MAX_DECISION_BYTES + 1;
    const put = await socketCall(
      nodes[0]!,
      'POST',
      '/v1/ucxl/put',
      JSON.stringify({ address: ADDRESS, content: Buffer.alloc(over).toString('base64') }),
    );
    assert.equal(put.status, 400);
    assert.deepEqual(put.body.error, { code: 'TOO_LARGE', message: decisionTooLarge(over), kind: 'usage' });

    const ucxi = await socketCall(
      nodes[0]!,
      'PUT',
      `/ucxi/v1/put?address=${encodeURIComponent(ADDRESS)}`,
      Buffer.alloc(over),
    );
    assert.equal(ucxi.status, 400);
    assert.equal(ucxi.body.error?.message, decisionTooLarge(over));

    const data = { text: 'x'.repeat(MAX_MESSAGE_BYTES) };
    const publish = await socketCall(
      nodes[0]!,
      'POST',
      '/v1/publish',
      JSON.stringify({ type: 'TaskAnnouncement', data }),
    );
    assert.equal(publish.status, 400);
    assert.deepEqual(publish.body.error, { code: 'TOO_LARGE', message: messageTooLarge(data), kind: 'usage' });

    const huge = await socketCall(nodes[0]!, 'POST', '/v1/publish', Buffer.alloc(20 * 1024 * 1024, 0x20));
    assert.equal(huge.status, 400);
    assert.equal(huge.body.error?.code, 'TOO_LARGE');
    assert.match(
      huge.body.error?.message ?? '',
      /^the request body is 20971520 bytes \(20 MiB\); the limit is 4194304 bytes \(4 MiB\) per request \(a message may hold 262144 bytes \(256 KiB\), a decision 524288 bytes \(512 KiB\)\)$/,
    );
  });

  test('a decision address without a path is refused by the daemon too (HTTP 400), on every decision route', async () => {
    const pathless = 'ucxl://alice:developer@limits:t1/*^';
    const q = `address=${encodeURIComponent(pathless)}`;
    const calls: [string, string, string | Buffer][] = [
      ['POST', '/v1/ucxl/put', JSON.stringify({ address: pathless, content: Buffer.from('x').toString('base64') })],
      ['GET', `/v1/ucxl/get?${q}`, ''],
      ['GET', `/v1/ucxl/resolve?${q}`, ''],
      ['GET', `/v1/ucxl/history?${q}`, ''],
      ['PUT', `/ucxi/v1/put?${q}`, Buffer.from('x')],
      ['GET', `/ucxi/v1/get?${q}`, ''],
      ['DELETE', `/ucxi/v1/delete?${q}`, ''],
    ];
    for (const [method, path, body] of calls) {
      const reply = await socketCall(nodes[0]!, method, path, body);
      assert.equal(reply.status, 400, `${method} ${path}`);
      assert.match(JSON.stringify(reply.body), /missing path in/, `${method} ${path}`);
    }
  });
});
