// The portal's client of the node's JSON API (the same routes the CLI uses): same-origin requests with the
// session cookie, the session's CSRF token on every change, and an error that carries the node's one-line
// message (an API error is shown as that line, never as a blank page).

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let csrfToken = '';

/** Sets the CSRF token of this page's session (from GET /v1/hap/session). */
export function setCsrf(token: string | undefined): void {
  csrfToken = token ?? '';
}

type Params = Record<string, string | number | boolean | readonly string[] | undefined>;

/** A query string (with its "?") from parameters; undefined values are left out, arrays repeat the key. */
export function query(params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) q.append(key, String(v));
    else q.append(key, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'the node did not answer (connection lost)');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(
      res.status,
      e?.code ?? `HTTP_${res.status}`,
      e?.message ?? `the node answered HTTP ${res.status}`,
    );
  }
  return json as T;
}

export const get = <T>(path: string, params?: Params): Promise<T> => api<T>('GET', `${path}${query(params)}`);
export const post = <T>(path: string, body: unknown = {}): Promise<T> => api<T>('POST', path, body);

/** The one line to show for any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] || err.name : String(err);
}

/** Base64 of UTF-8 text (the decision routes carry content as base64). */
export function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** UTF-8 text of base64 content (invalid sequences become U+FFFD). */
export function fromBase64(b64: string): string {
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
