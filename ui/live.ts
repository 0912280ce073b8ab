// The page's one connection to the node's live events (GET /v1/events, server-sent events): views subscribe
// to event kinds; the connection state drives the "connection lost — reconnecting" banner; after a
// reconnect every view refreshes its data ('reconnected'). EventSource retries by itself while the node is
// down; a stream the node closed (a slow page) or a dead one (no ping for 40 s) is reopened here, and a
// session the node no longer knows (it restarted) shows as logged out.
import { get } from './api.ts';

export type ConnectionState = 'connecting' | 'open' | 'lost' | 'logged-out';
export type LiveKind = 'hello' | 'task' | 'message' | 'election' | 'peers' | 'proposal' | 'ping' | 'reconnected';

const KINDS: LiveKind[] = ['hello', 'task', 'message', 'election', 'peers', 'proposal', 'ping'];
/** The node pings every 15 s; silence this long means a dead connection. */
const WATCHDOG_MS = 40_000;

type Handler = (data: unknown) => void;

export class LiveEvents {
  #source: EventSource | undefined;
  #rooms: string[] = [];
  #state: ConnectionState = 'connecting';
  #lost = false;
  #started = false;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  readonly #handlers = new Map<string, Set<Handler>>();
  readonly #stateHandlers = new Set<(s: ConnectionState) => void>();

  get state(): ConnectionState {
    return this.#state;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#open();
  }

  /** Follows these issue rooms (CHORUS/meta/issue/<id>) too; reconnects when they change. */
  setRooms(rooms: string[]): void {
    const next = [...new Set(rooms)].sort();
    if (next.join('\n') === this.#rooms.join('\n')) return;
    this.#rooms = next;
    if (this.#started) this.#reopen(false);
  }

  on(kind: LiveKind, fn: Handler): () => void {
    let set = this.#handlers.get(kind);
    if (!set) this.#handlers.set(kind, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  onState(fn: (s: ConnectionState) => void): () => void {
    this.#stateHandlers.add(fn);
    return () => this.#stateHandlers.delete(fn);
  }

  #emit(kind: LiveKind, data: unknown): void {
    for (const fn of this.#handlers.get(kind) ?? []) fn(data);
  }

  #setState(s: ConnectionState): void {
    if (s === this.#state) return;
    this.#state = s;
    for (const fn of this.#stateHandlers) fn(s);
  }

  #open(): void {
    clearTimeout(this.#retry);
    const q = new URLSearchParams();
    for (const r of this.#rooms) q.append('room', r);
    const source = new EventSource(`/v1/events${q.size ? `?${q}` : ''}`);
    this.#source = source;
    this.#kick();
    source.onopen = () => {
      this.#setState('open');
      if (this.#lost) {
        this.#lost = false;
        this.#emit('reconnected', undefined);
      }
    };
    source.onerror = () => {
      if (source !== this.#source) return;
      this.#lost = true;
      if (source.readyState === EventSource.CLOSED) void this.#closed();
      else this.#setState('lost');
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (e) => {
        this.#kick();
        this.#emit(kind, JSON.parse((e as MessageEvent<string>).data));
      });
    }
    // the node ended the stream on purpose (e.g. this page fell behind): start again
    source.addEventListener('close', () => this.#reopen(true));
  }

  #reopen(lost: boolean): void {
    this.#source?.close();
    this.#source = undefined;
    if (lost) {
      this.#lost = true;
      this.#setState('lost');
    }
    this.#open();
  }

  /** EventSource gave up (the node answered with an error, e.g. 401 after a restart): find out why. */
  async #closed(): Promise<void> {
    this.#source = undefined;
    this.#setState('lost');
    try {
      await get('/v1/hap/session');
    } catch (err) {
      if ((err as { status?: number }).status === 401) {
        clearTimeout(this.#watchdog);
        this.#setState('logged-out');
        return;
      }
    }
    this.#retry = setTimeout(() => this.#open(), 1000);
  }

  #kick(): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => this.#reopen(true), WATCHDOG_MS);
  }
}

/** The page's live connection. */
export const live = new LiveEvents();
