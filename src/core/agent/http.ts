// What the HTTP providers (ollama, openai) share: a request whose failures become typed provider
// failures (connection refused, reset, 5xx and 429 → unreachable; other refusals → failed), reading a
// streamed body line by line, and the start-up probe. Secrets given as `hide` never appear in a message.
import { describeError, UsageError } from '../errors.ts';
import { abortFailure, ProviderError } from './provider.ts';

export interface HttpCall {
  /** "ollama", "openai": how messages name the provider. */
  what: string;
  url: string;
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  signal: AbortSignal;
  /** Strings (an API key) replaced in every message this module builds. */
  hide?: string[];
}

const MAX_ERROR_BODY = 4096;

function scrub(text: string, hide: string[] = []): string {
  let out = text;
  for (const secret of hide) if (secret) out = out.split(secret).join('[REDACTED]');
  return out;
}

/** "connect ECONNREFUSED 127.0.0.1:11434" out of fetch's "fetch failed". */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof AggregateError && cause.errors.length) return describeError(cause.errors[0]);
  return describeError(cause ?? err);
}

/** The error text of a refused request: Ollama's {error: "…"}, OpenAI's {error: {message}}, or the body. */
export function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const e = parsed.error;
    if (typeof e === 'string') return e;
    if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string')
      return (e as { message: string }).message;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 300) || 'no details';
}

const origin = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
};

/** Sends a request; a response that is not 2xx becomes a ProviderError with the server's reason. */
export async function request(call: HttpCall): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(call.url, {
      method: call.method ?? 'POST',
      headers: { ...(call.body === undefined ? {} : { 'content-type': 'application/json' }), ...call.headers },
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: call.signal,
    });
  } catch (err) {
    if (call.signal.aborted) throw abortFailure(call.signal, call.what);
    throw new ProviderError(
      'unreachable',
      scrub(`${call.what} could not be reached at ${origin(call.url)}: ${networkReason(err)}`, call.hide),
    );
  }
  if (res.ok) return res;
  const text = (await res.text().catch(() => '')).slice(0, MAX_ERROR_BODY);
  const reason = scrub(`${call.what} answered HTTP ${res.status}: ${errorText(text)}`, call.hide);
  // an overloaded or failing server is like an unreachable one: give the task back, back off
  const transient = res.status >= 500 || res.status === 429;
  throw new ProviderError(transient ? 'unreachable' : 'failed', reason);
}

/** The lines of a streamed body; a connection lost mid-stream is an unreachable provider. */
export async function* bodyLines(
  res: Response,
  call: Pick<HttpCall, 'what' | 'signal' | 'hide'>,
): AsyncGenerator<string> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        yield line;
      }
    }
  } catch (err) {
    if (call.signal.aborted) throw abortFailure(call.signal, call.what);
    throw new ProviderError(
      'unreachable',
      scrub(`${call.what}: the connection broke mid-answer: ${networkReason(err)}`, call.hide),
    );
  }
  buffer += decoder.decode();
  if (buffer) yield buffer.replace(/\r$/, '');
}

/**
 * The start-up probe: a GET that must get an HTTP answer. Unreachable, or refused with 401/403, is a
 * UsageError (exit 2) — nothing is claimed with a provider that cannot work. Returns the response.
 */
export async function probe(call: Omit<HttpCall, 'signal' | 'method'>, signal: AbortSignal): Promise<Response> {
  try {
    return await request({ ...call, method: 'GET', signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
  } catch (err) {
    if (err instanceof ProviderError && err.failure === 'failed' && !/HTTP 40[13]\b/.test(err.message)) {
      throw err; // another refusal: the caller decides
    }
    const message = err instanceof ProviderError ? err.message : describeError(err);
    throw new UsageError(`${message} (checked before claiming anything)`, 'PROVIDER_UNAVAILABLE', err);
  }
}
