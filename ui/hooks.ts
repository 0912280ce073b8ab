// Hooks shared by the views: data loaded from the API and kept fresh (after a reconnect, on live events, on
// an interval), live event subscriptions, the connection state, the hash route, and actions with their
// busy/error state.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './api.ts';
import { live, type ConnectionState, type LiveKind } from './live.ts';

export interface Resource<T> {
  data: T | undefined;
  /** The last load's one-line error (the data of the load before it stays shown). */
  error: string | undefined;
  loading: boolean;
  reload: () => void;
  /** Replaces the data (a live event patched it). */
  set: (update: (current: T | undefined) => T | undefined) => void;
}

export interface ResourceOptions {
  /** Reload when these live events arrive (coalesced). */
  refreshOn?: LiveKind[];
  /** Reload every this many milliseconds. */
  every?: number;
}

/** Loads `load()` now, again whenever `deps` change, after every reconnect and as the options say. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], opts: ResourceOptions = {}): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const loader = useRef(load);
  loader.current = load;
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    loader
      .current()
      .then((value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (mine === generation.current) setError(messageOf(err));
      })
      .finally(() => {
        if (mine === generation.current) setLoading(false);
      });
  }, []);
  useEffect(reload, deps);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const soon = (): void => {
      clearTimeout(timer);
      timer = setTimeout(reload, 100);
    };
    const offs = [live.on('reconnected', reload), ...(opts.refreshOn ?? []).map((k) => live.on(k, soon))];
    const interval = opts.every ? setInterval(reload, opts.every) : undefined;
    return () => {
      clearTimeout(timer);
      clearInterval(interval);
      for (const off of offs) off();
    };
  }, []);
  const set = useCallback((update: (current: T | undefined) => T | undefined) => setData(update), []);
  return { data, error, loading, reload, set };
}

/** Calls `fn` for every live event of a kind while the component is mounted. */
export function useLive<T>(kind: LiveKind, fn: (data: T) => void): void {
  const handler = useRef(fn);
  handler.current = fn;
  useEffect(() => live.on(kind, (d) => handler.current(d as T)), [kind]);
}

export function useConnection(): ConnectionState {
  const [state, setState] = useState(live.state);
  useEffect(() => live.onState(setState), []);
  return state;
}

export interface Route {
  view: string;
  params: URLSearchParams;
}

function parseHash(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  const view = (q < 0 ? hash : hash.slice(0, q)) || 'cluster';
  return { view, params: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)) };
}

/** The view and parameters in the URL's hash (#/tasks?id=t-3). */
export function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const onChange = (): void => setRoute(parseHash());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The hash of a view with parameters. */
export function href(view: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${view}${s ? `?${s}` : ''}`;
}

export function navigate(view: string, params: Record<string, string | undefined> = {}): void {
  location.hash = href(view, params);
}

export interface Action {
  busy: boolean;
  error: string | undefined;
  /** Runs the action; its error is kept (and shown) instead of thrown. Resolves true when it succeeded. */
  run: (fn: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(messageOf(err));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}
