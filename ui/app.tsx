// The portal's shell: the session check (a page without one says how to log in), the navigation, the
// connection banner and the current view (the URL's hash names it, so reloads and links keep the place).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, messageOf, post, setCsrf } from './api.ts';
import { ErrorLine, shortId } from './components.tsx';
import { href, useConnection, useRoute } from './hooks.ts';
import { live } from './live.ts';
import { BenchView } from './views/bench.tsx';
import { ClusterView } from './views/cluster.tsx';
import { DecisionsView } from './views/decisions.tsx';
import { HmmmView } from './views/hmmm.tsx';
import { TasksView } from './views/tasks.tsx';
import { VotesView } from './views/votes.tsx';

interface SessionInfo {
  via: string;
  csrf?: string;
  expiresAt?: string;
  node: string;
}

const VIEWS = [
  { id: 'cluster', title: 'Cluster', View: ClusterView },
  { id: 'tasks', title: 'Tasks', View: TasksView },
  { id: 'decisions', title: 'Decisions', View: DecisionsView },
  { id: 'hmmm', title: 'HMMM rooms', View: HmmmView },
  { id: 'votes', title: 'Voting', View: VotesView },
  { id: 'bench', title: 'Benchmarks', View: BenchView },
] as const;

function Banner() {
  const state = useConnection();
  if (state === 'lost')
    return (
      <div class="banner lost" role="status">
        connection to the node lost — reconnecting
      </div>
    );
  if (state === 'logged-out')
    return (
      <div class="banner lost" role="status">
        this session ended (the node restarted, or you logged out): run <code>chorus hap</code> for a new login link
      </div>
    );
  return null;
}

function LoggedOut({ error }: { error?: string }) {
  return (
    <main class="notice">
      <h1>chorus — Human Agent Portal</h1>
      {error ? (
        <ErrorLine error={error} />
      ) : (
        <p>
          You are not logged in to this node. Run <code>chorus hap</code> on the node’s host and open the one-time link
          it prints (remotely, through an SSH tunnel: see docs/hap.md).
        </p>
      )}
    </main>
  );
}

export function App() {
  const [session, setSession] = useState<SessionInfo | 'loading' | 'none'>('loading');
  const [error, setError] = useState<string | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    get<SessionInfo>('/v1/hap/session')
      .then((s) => {
        setCsrf(s.csrf);
        setSession(s);
        live.start();
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) setSession('none');
        else setError(messageOf(err));
      });
  }, []);
  if (error) return <LoggedOut error={error} />;
  if (session === 'loading') return <p class="boot">Loading the portal…</p>;
  if (session === 'none') return <LoggedOut />;
  const current = VIEWS.find((v) => v.id === route.view) ?? VIEWS[0];
  const logout = (): void => {
    void post('/v1/hap/logout').finally(() => location.reload());
  };
  return (
    <div class="shell">
      <nav>
        <span class="brand" title={session.node}>
          chorus <small>{shortId(session.node)}</small>
        </span>
        {VIEWS.map((v) => (
          <a key={v.id} href={href(v.id)} class={v.id === current.id ? 'active' : ''}>
            {v.title}
          </a>
        ))}
        <button class="link" onClick={logout}>
          log out
        </button>
      </nav>
      <Banner />
      <main data-view={current.id}>
        <current.View params={route.params} />
      </main>
    </div>
  );
}
