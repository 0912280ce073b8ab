// The openai provider: any OpenAI-compatible chat completions server (llama.cpp server, vLLM, LM Studio,
// Ollama's /v1, hosted APIs): POST <baseUrl>/chat/completions with stream: true. The answer arrives as
// server-sent events: `data: {"choices":[{"delta":{"content":"…"},"finish_reason":null}]}` lines, blank
// lines between events, `:` comment lines, and `data: [DONE]` at the end; an error after the stream
// started arrives as `data: {"error": {…}}`. The API key (agent.apiKeyFile, 0600, or the variable named
// by agent.apiKeyEnv) is sent as a bearer token and never appears in a message or a log line.
import { readFile, stat } from 'node:fs/promises';
import { describeError, UsageError } from '../errors.ts';
import { bodyLines, errorText, probe, request } from './http.ts';
import { OutputBuffer, ProviderError, type Provider, type ProviderRequest, type ProviderResult } from './provider.ts';

export const OPENAI_DEFAULT_URL = 'http://127.0.0.1:8080/v1';

export interface OpenAiOptions {
  baseUrl: string;
  model: string;
  outputCapBytes: number;
  /** The API key (already read; empty: none). */
  apiKey: string;
}

/** Reads the API key: a file (refused unless only its owner can read it) or an environment variable. */
export async function readApiKey(
  opts: { apiKeyFile: string; apiKeyEnv: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (opts.apiKeyFile) {
    const s = await stat(opts.apiKeyFile).catch((err: unknown) => {
      throw new UsageError(`agent.apiKeyFile: cannot read ${opts.apiKeyFile}: ${describeError(err)}`);
    });
    if ((s.mode & 0o077) !== 0)
      throw new UsageError(
        `agent.apiKeyFile: ${opts.apiKeyFile} is readable by others (mode ${(s.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    return (await readFile(opts.apiKeyFile, 'utf8')).trim();
  }
  return opts.apiKeyEnv ? (env[opts.apiKeyEnv] ?? '').trim() : '';
}

interface Chunk {
  choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: { completion_tokens?: unknown };
  error?: unknown;
}

export class OpenAiProvider implements Provider {
  readonly name = 'openai';
  readonly model: string;
  private readonly base: string;
  private readonly opts: OpenAiOptions;

  constructor(opts: OpenAiOptions) {
    if (!opts.model) throw new UsageError('the openai provider needs a model: --model <name> (or agent.model)');
    this.opts = opts;
    this.model = opts.model;
    this.base = (opts.baseUrl || OPENAI_DEFAULT_URL).replace(/\/+$/, '');
  }

  private headers(): Record<string, string> {
    return this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {};
  }

  async check(signal: AbortSignal): Promise<void> {
    try {
      await probe(
        { what: 'openai', url: `${this.base}/models`, headers: this.headers(), hide: [this.opts.apiKey] },
        signal,
      );
    } catch (err) {
      // a server without a model list (404 …) still answered: it is reachable
      if (err instanceof ProviderError && err.failure === 'failed') return;
      throw err;
    }
  }

  async run(req: ProviderRequest): Promise<ProviderResult> {
    const call = { what: 'openai', url: `${this.base}/chat/completions`, signal: req.signal, hide: [this.opts.apiKey] };
    const res = await request({
      ...call,
      headers: { ...this.headers(), accept: 'text/event-stream' },
      body: {
        model: this.model,
        stream: true,
        messages: [
          ...(req.prompt.system ? [{ role: 'system', content: req.prompt.system }] : []),
          { role: 'user', content: req.prompt.user },
        ],
        ...(req.prompt.temperature !== undefined ? { temperature: req.prompt.temperature } : {}),
      },
    });
    const out = new OutputBuffer(this.opts.outputCapBytes);
    let tokens = 0;
    let data: string[] = [];
    let finished = false;
    const event = (payload: string): void => {
      if (payload === '[DONE]') {
        finished = true;
        return;
      }
      let chunk: Chunk;
      try {
        chunk = JSON.parse(payload) as Chunk;
      } catch {
        throw new ProviderError('failed', `openai sent an event that is not JSON: ${payload.slice(0, 120)}`);
      }
      if (chunk.error !== undefined)
        throw new ProviderError('failed', `openai: ${errorText(JSON.stringify({ error: chunk.error }))}`);
      const piece = chunk.choices?.[0]?.delta?.content;
      if (typeof piece === 'string' && piece) {
        tokens++;
        out.push(piece);
        req.onProgress({ bytes: out.bytes, tokens, lastLine: out.lastLine });
      }
      if (typeof chunk.usage?.completion_tokens === 'number') tokens = chunk.usage.completion_tokens;
      if (chunk.choices?.[0]?.finish_reason === 'length') req.onLog('openai stopped at the model’s length limit');
    };
    for await (const line of bodyLines(res, call)) {
      if (line === '') {
        // a blank line ends an event; its data lines are joined with newlines
        if (data.length) event(data.join('\n'));
        data = [];
        if (finished) break;
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (keep-alive)
      if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!finished && data.length) event(data.join('\n'));
    if (!finished) throw new ProviderError('unreachable', 'openai: the stream ended before data: [DONE]');
    return out.result(tokens);
  }
}
