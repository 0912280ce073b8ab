// The ollama provider: Ollama's chat API (POST /api/chat with stream: true). The answer arrives as
// NDJSON, one object a line — {message: {role, content}, done: false} pieces, then {done: true,
// done_reason, eval_count, …}; an error after the stream started arrives as a line {error: "…"} (the
// HTTP status cannot change any more). The start-up check lists the models (GET /api/tags).
import { UsageError } from '../errors.ts';
import { bodyLines, probe, request } from './http.ts';
import { OutputBuffer, ProviderError, type Provider, type ProviderRequest, type ProviderResult } from './provider.ts';

export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434';

export interface OllamaOptions {
  baseUrl: string;
  model: string;
  outputCapBytes: number;
}

interface ChatLine {
  message?: { content?: unknown };
  done?: unknown;
  done_reason?: unknown;
  eval_count?: unknown;
  error?: unknown;
}

export class OllamaProvider implements Provider {
  readonly name = 'ollama';
  readonly model: string;
  private readonly base: string;
  private readonly opts: OllamaOptions;

  constructor(opts: OllamaOptions) {
    if (!opts.model) throw new UsageError('the ollama provider needs a model: --model llama3.2 (or agent.model)');
    this.opts = opts;
    this.model = opts.model;
    this.base = (opts.baseUrl || OLLAMA_DEFAULT_URL).replace(/\/+$/, '');
  }

  async check(signal: AbortSignal): Promise<void> {
    const res = await probe({ what: 'ollama', url: `${this.base}/api/tags` }, signal);
    const body = (await res.json().catch(() => ({}))) as { models?: { name?: unknown; model?: unknown }[] };
    const names = (body.models ?? [])
      .flatMap((m) => [m.name, m.model])
      .filter((n): n is string => typeof n === 'string');
    const wanted = this.model.includes(':') ? [this.model] : [this.model, `${this.model}:latest`];
    if (!names.some((n) => wanted.includes(n))) {
      const listed = [...new Set(names)];
      throw new UsageError(
        `ollama at ${this.base} has no model ${this.model} (${listed.length ? `it has ${listed.join(', ')}` : 'it has none'}); pull it with \`ollama pull ${this.model}\``,
        'PROVIDER_UNAVAILABLE',
      );
    }
  }

  async run(req: ProviderRequest): Promise<ProviderResult> {
    const call = { what: 'ollama', url: `${this.base}/api/chat`, signal: req.signal };
    const res = await request({
      ...call,
      body: {
        model: this.model,
        stream: true,
        messages: [
          ...(req.prompt.system ? [{ role: 'system', content: req.prompt.system }] : []),
          { role: 'user', content: req.prompt.user },
        ],
        ...(req.prompt.temperature !== undefined ? { options: { temperature: req.prompt.temperature } } : {}),
      },
    });
    const out = new OutputBuffer(this.opts.outputCapBytes);
    let tokens = 0;
    let finished = false;
    for await (const raw of bodyLines(res, call)) {
      if (!raw.trim()) continue;
      let line: ChatLine;
      try {
        line = JSON.parse(raw) as ChatLine;
      } catch {
        throw new ProviderError('failed', `ollama sent a line that is not JSON: ${raw.slice(0, 120)}`);
      }
      if (typeof line.error === 'string') throw new ProviderError('failed', `ollama: ${line.error}`);
      const piece = line.message?.content;
      if (typeof piece === 'string' && piece) {
        tokens++;
        out.push(piece);
        req.onProgress({ bytes: out.bytes, tokens, lastLine: out.lastLine });
      }
      if (line.done === true) {
        if (typeof line.eval_count === 'number') tokens = line.eval_count;
        if (line.done_reason === 'length') req.onLog('ollama stopped at the model’s length limit');
        finished = true;
        break;
      }
    }
    if (!finished) throw new ProviderError('unreachable', 'ollama: the answer ended before done: true');
    return out.result(tokens);
  }
}
