// The ollama and openai providers (the real client code) against small HTTP servers in this test that
// speak the documented wire formats: Ollama's /api/chat NDJSON stream (pieces, done: true, an {error}
// line mid-stream, {error} bodies with HTTP statuses) and OpenAI's /v1/chat/completions server-sent
// events (data: lines split across writes, comments, [DONE], an error event). Unreachable servers,
// start-up checks, and an API key that never appears in a message or a log line.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from '../../src/core/agent/agent.ts';
import { OllamaProvider } from '../../src/core/agent/ollama.ts';
import { OpenAiProvider, readApiKey } from '../../src/core/agent/openai.ts';
import { ProviderError, type ProviderProgress, type ProviderRequest } from '../../src/core/agent/provider.ts';
import { TimeoutError, UsageError } from '../../src/core/errors.ts';
import { agentOptions, FakeApi, fixtureTask, keptLogger, workDir } from '../helpers/agent.ts';

const KEY = 'sk-test-5f1c0ffee0ddba11c0ffee0ddba11';

interface Seen {
  path: string;
  body: Record<string, unknown>;
  authorization?: string;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** Writes pieces one by one (each its own TCP write), so the client sees a real stream. */
async function dribble(res: ServerResponse, pieces: string[]): Promise<void> {
  for (const p of pieces) {
    res.write(p);
    await tick();
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

/** A URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  const url = await listen(s);
  await new Promise((r) => s.close(r));
  return url;
}

function request(signal = new AbortController().signal) {
  const progress: ProviderProgress[] = [];
  const logs: string[] = [];
  const req: ProviderRequest = {
    task: fixtureTask(),
    prompt: { system: 'You are a developer.', user: '# Task t-7: write the parser', text: 'unused' },
    workDir: workDir(),
    signal,
    onProgress: (p) => progress.push({ ...p }),
    onLog: (l) => logs.push(l),
  };
  return { req, progress, logs };
}

const failure = (kind: string, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ProviderError, String(err));
  assert.equal(err.failure, kind, err.message);
  assert.match(err.message, pattern);
  return true;
};

const ollamaLine = (content: string, done = false, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ model: 'llama3.2', created_at: new Date().toISOString(), message: { role: 'assistant', content }, done, ...extra })}\n`;

describe('ollama provider (/api/chat, NDJSON)', () => {
  const seen: Seen[] = [];
  let server: Server;
  let url = '';
  before(async () => {
    server = createServer((req, res) => {
      void (async () => {
        const body = await readJson(req);
        seen.push({ path: req.url ?? '', body });
        if (req.method === 'GET' && req.url === '/api/tags') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest' }] }));
        }
        const model = body.model as string;
        if (model === 'missing') {
          res.writeHead(404, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: "model 'missing' not found" }));
        }
        if (model === 'busy') {
          res.writeHead(503, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: 'server busy, please try again' }));
        }
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        if (model === 'broken') {
          await dribble(res, [ollamaLine('Yes'), ollamaLine('.')]);
          return res.end(`${JSON.stringify({ error: 'an error was encountered while running the model' })}\n`);
        }
        if (model === 'slow') return res.write(ollamaLine('thinking')); // and never more
        if (model === 'cut') return res.end(ollamaLine('half an answer'));
        const last = ollamaLine('', true, { done_reason: 'stop', eval_count: 4, total_duration: 1000 });
        const first = ollamaLine('Hello');
        await dribble(res, [
          first.slice(0, 20),
          first.slice(20),
          ollamaLine(', world'),
          ollamaLine('\nsecond line'),
          last,
        ]);
        res.end();
      })();
    });
    url = await listen(server);
  });
  after(() => new Promise((r) => server.close(r)));

  test('streams the answer: pieces joined, progress per piece, the request in the documented shape', async () => {
    const { req, progress } = request();
    const p = new OllamaProvider({ baseUrl: url, model: 'llama3.2', outputCapBytes: 65_536 });
    const r = await p.run(req);
    assert.equal(r.output, 'Hello, world\nsecond line');
    assert.equal(r.tokens, 4, 'eval_count of the final line');
    assert.equal(r.truncated, false);
    assert.deepEqual(
      progress.map((x) => x.tokens),
      [1, 2, 3],
    );
    assert.equal(progress.at(-1)?.lastLine, 'Hello, world');
    const chat = seen.find((s) => s.path === '/api/chat');
    assert.deepEqual(chat?.body, {
      model: 'llama3.2',
      stream: true,
      messages: [
        { role: 'system', content: 'You are a developer.' },
        { role: 'user', content: '# Task t-7: write the parser' },
      ],
    });
  });

  test('an {error} line mid-stream fails the task with that error', async () => {
    const { req } = request();
    const p = new OllamaProvider({ baseUrl: url, model: 'broken', outputCapBytes: 65_536 });
    await assert.rejects(p.run(req), failure('failed', /ollama: an error was encountered while running the model/));
  });

  test('HTTP errors: 404 (no such model) fails, 503 is like unreachable; a stream cut short too', async () => {
    const a = new OllamaProvider({ baseUrl: url, model: 'missing', outputCapBytes: 65_536 });
    await assert.rejects(a.run(request().req), failure('failed', /HTTP 404: model 'missing' not found/));
    const b = new OllamaProvider({ baseUrl: url, model: 'busy', outputCapBytes: 65_536 });
    await assert.rejects(b.run(request().req), failure('unreachable', /HTTP 503: server busy/));
    const c = new OllamaProvider({ baseUrl: url, model: 'cut', outputCapBytes: 65_536 });
    await assert.rejects(c.run(request().req), failure('unreachable', /ended before done: true/));
  });

  test('an unreachable server is an unreachable failure naming where it looked', async () => {
    const dead = await deadUrl();
    const p = new OllamaProvider({ baseUrl: dead, model: 'llama3.2', outputCapBytes: 65_536 });
    await assert.rejects(
      p.run(request().req),
      failure('unreachable', new RegExp(`ollama could not be reached at ${dead}/api/chat: .*ECONNREFUSED`)),
    );
  });

  test('the timeout stops a stream that hangs', async () => {
    const ctl = new AbortController();
    const { req, progress } = request(ctl.signal);
    const p = new OllamaProvider({ baseUrl: url, model: 'slow', outputCapBytes: 65_536 });
    const running = p.run(req);
    while (!progress.length) await tick();
    ctl.abort(new TimeoutError('timed out after 100 ms'));
    await assert.rejects(running, failure('timeout', /timed out after 100 ms/));
  });

  test('start-up check: the model must be listed (llama3.2 = llama3.2:latest); unreachable → exit 2', async () => {
    await new OllamaProvider({ baseUrl: url, model: 'llama3.2', outputCapBytes: 1024 }).check(
      AbortSignal.timeout(5000),
    );
    await assert.rejects(
      new OllamaProvider({ baseUrl: url, model: 'mistral', outputCapBytes: 1024 }).check(AbortSignal.timeout(5000)),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(
          err.message,
          /has no model mistral \(it has llama3\.2:latest\); pull it with `ollama pull mistral`/,
        );
        return true;
      },
    );
    const dead = await deadUrl();
    await assert.rejects(
      new OllamaProvider({ baseUrl: dead, model: 'llama3.2', outputCapBytes: 1024 }).check(AbortSignal.timeout(5000)),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.equal(err.code, 'PROVIDER_UNAVAILABLE');
        assert.match(err.message, /could not be reached .*before claiming anything/);
        return true;
      },
    );
    assert.throws(() => new OllamaProvider({ baseUrl: url, model: '', outputCapBytes: 1024 }), /needs a model/);
  });
});

const chunk = (content: string | undefined, finish: string | null = null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }],
  })}\n\n`;

describe('openai provider (/v1/chat/completions, server-sent events)', () => {
  const seen: Seen[] = [];
  let server: Server;
  let url = '';
  before(async () => {
    server = createServer((req, res) => {
      void (async () => {
        const body = await readJson(req);
        seen.push({ path: req.url ?? '', body, authorization: req.headers.authorization });
        const authorized = req.headers.authorization === `Bearer ${KEY}`;
        if (!authorized) {
          // some servers echo what they were given: it must not reach a message or a log
          res.writeHead(401, { 'content-type': 'application/json' });
          return res.end(
            JSON.stringify({
              error: {
                message: `Incorrect API key provided: ${req.headers.authorization?.slice(7)}`,
                type: 'invalid_request_error',
              },
            }),
          );
        }
        if (req.method === 'GET' && req.url === '/v1/models') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (body.model === 'err-mid') {
          await dribble(res, [chunk('partial')]);
          return res.end(
            `data: ${JSON.stringify({ error: { message: 'upstream overloaded', type: 'server_error' } })}\n\n`,
          );
        }
        const hello = chunk('Hel');
        await dribble(res, [
          ': keep-alive\n\n',
          chunk(''),
          hello.slice(0, 17),
          hello.slice(17),
          chunk('lo\nworld'),
          chunk(undefined, 'stop'),
          'data: [DONE]\n\n',
        ]);
        res.end();
      })();
    });
    url = `${await listen(server)}/v1`;
  });
  after(() => new Promise((r) => server.close(r)));

  test('streams the answer with the bearer key: data lines split across writes, comments, [DONE]', async () => {
    const { req, progress } = request();
    const p = new OpenAiProvider({ baseUrl: url, model: 'm', outputCapBytes: 65_536, apiKey: KEY });
    const r = await p.run(req);
    assert.equal(r.output, 'Hello\nworld');
    assert.equal(r.tokens, 2);
    assert.deepEqual(
      progress.map((x) => x.bytes),
      [3, 11],
    );
    const call = seen.find((s) => s.path === '/v1/chat/completions');
    assert.equal(call?.authorization, `Bearer ${KEY}`);
    assert.equal(call?.body.stream, true);
    assert.equal(call?.body.model, 'm');
    assert.deepEqual(call?.body.messages, [
      { role: 'system', content: 'You are a developer.' },
      { role: 'user', content: '# Task t-7: write the parser' },
    ]);
  });

  test('an error event mid-stream fails the task with its message', async () => {
    const p = new OpenAiProvider({ baseUrl: url, model: 'err-mid', outputCapBytes: 65_536, apiKey: KEY });
    await assert.rejects(p.run(request().req), failure('failed', /openai: upstream overloaded/));
  });

  test('unreachable: an unreachable failure at run time, exit 2 at start', async () => {
    const dead = `${await deadUrl()}/v1`;
    const p = new OpenAiProvider({ baseUrl: dead, model: 'm', outputCapBytes: 65_536, apiKey: KEY });
    await assert.rejects(p.run(request().req), failure('unreachable', /openai could not be reached at .*ECONNREFUSED/));
    await assert.rejects(p.check(AbortSignal.timeout(5000)), (err: unknown) => err instanceof UsageError);
    await new OpenAiProvider({ baseUrl: url, model: 'm', outputCapBytes: 1024, apiKey: KEY }).check(
      AbortSignal.timeout(5000),
    );
  });

  test('a refused key: exit 2 at start, a failure at run time — and the key appears in no message and no log', async () => {
    const wrong = `${KEY}-revoked`;
    const p = new OpenAiProvider({ baseUrl: url, model: 'm', outputCapBytes: 65_536, apiKey: wrong });
    const check = await p.check(AbortSignal.timeout(5000)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(check instanceof UsageError, 'a refused key stops the agent before it claims anything');
    assert.match(check.message, /HTTP 401: Incorrect API key provided: \[REDACTED\]/);
    assert.ok(!check.message.includes(wrong));
    // the whole agent: the task fails with the reason, logged — never with the key
    const api = new FakeApi([fixtureTask({ id: 't-1', state: 'open' })]);
    const { logger, lines } = keptLogger();
    const agent = new Agent(agentOptions(api, p, logger));
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    const failed = await api.called('fail', 't-1');
    stop.abort();
    await running;
    assert.match(String(failed.body?.reason), /HTTP 401/);
    assert.ok(!String(failed.body?.reason).includes(wrong));
    assert.ok(
      lines.some((l) => l.includes('HTTP 401')),
      'the failure is logged',
    );
    for (const l of lines) assert.ok(!l.includes(wrong) && !l.includes(KEY), `a log line holds the key: ${l}`);
  });

  test('the key comes from a 0600 file (refused when others may read it) or an environment variable', async () => {
    const dir = workDir();
    const file = join(dir, 'key');
    writeFileSync(file, `${KEY}\n`);
    chmodSync(file, 0o644);
    await assert.rejects(readApiKey({ apiKeyFile: file, apiKeyEnv: '' }), /readable by others \(mode 644\); chmod 600/);
    chmodSync(file, 0o600);
    assert.equal(await readApiKey({ apiKeyFile: file, apiKeyEnv: 'X' }), KEY);
    assert.equal(await readApiKey({ apiKeyFile: '', apiKeyEnv: 'MY_KEY' }, { MY_KEY: KEY }), KEY);
    assert.equal(await readApiKey({ apiKeyFile: '', apiKeyEnv: 'MY_KEY' }, {}), '');
  });
});
