// The portal's route group of the control API: the one-time login link (`chorus hap`, Unix socket only), the
// session's CSRF token, logout, a SHHH preview (redaction only, nothing sent) and `GET /v1/events`, the live
// event stream (server-sent events) every portal view follows: committed task changes, pubsub messages on the
// static topics and the issue rooms the page asks for, election and peer changes, and a ping every 15 s.
import type { Caller, Route } from '../api/server.ts';
import { openStream } from '../api/stream.ts';
import type { ElectionService } from '../election/service.ts';
import { ChorusError, UsageError } from '../errors.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import type { ClientTopics } from '../pubsub/client-topics.ts';
import type { Presence } from '../pubsub/presence.ts';
import type { ChorusPubSub, ReceivedMessage } from '../pubsub/pubsub.ts';
import { STATIC_TOPICS, topicFor } from '../pubsub/topics.ts';
import type { Redactor } from '../shhh/redactor.ts';
import type { TaskEvent } from '../tasks/machine.ts';
import { watchLine } from '../tasks/routes.ts';
import type { TaskService } from '../tasks/service.ts';
import type { HapPortal, LoginLink } from './portal.ts';

/** How often an idle event stream carries a `ping` event (keeps proxies and the page's watchdog happy). */
export const PING_INTERVAL_MS = 15_000;
/** Bursts of election and peer changes are sent once, after this quiet time. */
const COALESCE_MS = 50;
/** Issue rooms one event stream may follow. */
const MAX_ROOMS = 32;

/** The parts of a node the portal's routes use (the components bag satisfies it). */
export interface HapRouteComponents {
  hap: HapPortal;
  tasks: Pick<TaskService, 'on' | 'off'>;
  election: Pick<ElectionService, 'on' | 'off' | 'status'>;
  presence: Pick<Presence, 'on' | 'off'>;
  pubsub: Pick<ChorusPubSub, 'on' | 'off' | 'selfId'>;
  libp2p: Pick<ChorusLibp2p, 'addEventListener' | 'removeEventListener'>;
  redactor: Pick<Redactor, 'redactValue'>;
}

/** What the portal's routes take from the route composition besides the components. */
export interface HapRouteDeps {
  /** Topics joined for API clients (shared with `GET /v1/subscribe`). */
  topics: ClientTopics;
  /** The peer list as `GET /v1/peers` answers it. */
  peers: (signal: AbortSignal) => Promise<unknown>;
  /** Further live sources: event name → a subscription that calls `send` and returns its unsubscribe. */
  sources?: Record<string, (send: (value: unknown) => void) => () => void>;
}

/** What `GET /v1/hap/session` answers. */
export interface HapSessionInfo {
  via: Caller['via'];
  /** The session's CSRF token (a portal session only). */
  csrf?: string;
  expiresAt?: string;
  node: string;
}

function sessionOf(c: HapRouteComponents, caller: Caller) {
  return caller.via === 'session' ? c.hap.sessions.get(caller.session) : undefined;
}

/** Calls `fn` once after a burst of calls has been quiet for `ms`; cancel() drops a pending call. */
function coalesce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const call = (): void => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}

export function hapRoutes(c: HapRouteComponents, deps: HapRouteDeps): Record<string, Route> {
  return {
    'POST /v1/hap/login-link': async ({ caller }): Promise<LoginLink> => {
      if (caller.via !== 'socket') {
        throw new ChorusError(
          'SOCKET_ONLY',
          'login links are handed out on the node’s Unix socket only: run `chorus hap` on its host',
        );
      }
      return c.hap.loginLink();
    },
    'GET /v1/hap/session': async ({ caller }): Promise<HapSessionInfo> => {
      const session = sessionOf(c, caller);
      return {
        via: caller.via,
        csrf: session?.csrf,
        expiresAt: session ? new Date(session.expiresAt).toISOString() : undefined,
        node: c.pubsub.selfId,
      };
    },
    'POST /v1/hap/logout': async ({ caller, res }) => {
      if (caller.via !== 'session') throw new UsageError('logout ends a portal session; this request has none');
      c.hap.sessions.end(caller.session);
      res.setHeader('set-cookie', c.hap.gate.clearCookie());
      return { loggedOut: true };
    },
    'POST /v1/shhh/preview': async ({ body }) => {
      const b = (await body()) as { data?: unknown } | null;
      if (typeof b !== 'object' || b === null || !('data' in b))
        throw new UsageError('a preview needs {data}: the payload to redact');
      const { value, findings } = c.redactor.redactValue(b.data, 'data'); // a deny rule throws SHHH_DENIED (422)
      return { data: value, findings };
    },
    'GET /v1/events': async ({ url, res, signal }) => {
      const ids = [...new Set(url.searchParams.getAll('room'))];
      if (ids.length > MAX_ROOMS) throw new UsageError(`at most ${MAX_ROOMS} rooms per event stream`);
      const rooms = ids.map((id) => topicFor.issue(id)); // a bad id is a usage error before the stream starts
      const release = deps.topics.hold(rooms, { raw: true });
      const stream = openStream(res, { signal, format: 'sse' }); // bounded: a client that stops reading is dropped
      const followed = new Set([...STATIC_TOPICS, ...rooms]);
      stream.send({ node: c.pubsub.selfId, rooms: ids, at: new Date().toISOString() }, 'hello');

      const onTask = (e: TaskEvent): void => void stream.send(watchLine(e), 'task');
      const onMessage = (m: ReceivedMessage): void => {
        if (followed.has(m.topic)) stream.send(m, 'message');
      };
      let lastElection = '';
      const election = coalesce(() => {
        const status = c.election.status();
        const key = JSON.stringify({ ...status, lastHeartbeatAgoMs: undefined });
        if (key === lastElection) return;
        lastElection = key;
        stream.send(status, 'election');
      }, COALESCE_MS);
      let peersAbort = new AbortController();
      const peers = coalesce(() => {
        peersAbort.abort();
        peersAbort = new AbortController();
        deps
          .peers(AbortSignal.any([signal, peersAbort.signal]))
          .then((list) => stream.send(list, 'peers'))
          .catch(() => {}); // the next change sends again
      }, COALESCE_MS);
      c.tasks.on('event', onTask);
      c.pubsub.on('message', onMessage);
      c.election.on('change', election);
      c.presence.on('change', peers);
      c.libp2p.addEventListener('peer:connect', peers);
      c.libp2p.addEventListener('peer:disconnect', peers);
      const unsubscribe = Object.entries(deps.sources ?? {}).map(([event, subscribe]) =>
        subscribe((value) => stream.send(value, event)),
      );
      const ping = setInterval(() => stream.send({ at: new Date().toISOString() }, 'ping'), PING_INTERVAL_MS);
      try {
        await stream.done;
      } finally {
        clearInterval(ping);
        election.cancel();
        peers.cancel();
        peersAbort.abort();
        for (const off of unsubscribe) off();
        c.tasks.off('event', onTask);
        c.pubsub.off('message', onMessage);
        c.election.off('change', election);
        c.presence.off('change', peers);
        c.libp2p.removeEventListener('peer:connect', peers);
        c.libp2p.removeEventListener('peer:disconnect', peers);
        release();
        stream.close();
      }
      return undefined;
    },
  };
}
