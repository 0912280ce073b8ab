// Decision browser (UCXL): browse project → task → path (what this node holds, GET /v1/ucxl/ls); a decision's
// versions on a timeline (author, time, roles, proposal state and votes); any version decrypted with this
// node's role ("not a recipient" when it may not read it); a line diff of two versions; and the temporal
// selectors (*~ first, ~~1 one back from the latest, ^^1 one forward from the first, *^ latest), followed by
// clicking — the node resolves each (UCXI navigate), then the page shows that version.
import { diffLines } from 'diff';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { DecisionMeta } from '../../src/core/decisions/meta.ts';
import { formatAddress, parseAddress, type Temporal, type UcxlAddress } from '../../src/core/ucxl/address.ts';
import { ApiError, fromBase64, get, messageOf } from '../api.ts';
import { Empty, ErrorLine, PeerId, Section, Tag, Time } from '../components.tsx';
import { href, navigate, useResource } from '../hooks.ts';
import { ProposalBadge, useProposals, type Proposal } from './votes.tsx';

const ALL = 'ucxl://any:any@any:any/*^';

interface Content {
  meta: DecisionMeta;
  content: string;
}

/** The address of a decision with another temporal selector. */
export function withTemporal(address: string, temporal: Temporal): string {
  const a: UcxlAddress = parseAddress(address);
  return formatAddress({ ...a, temporal });
}

function parts(meta: DecisionMeta): { project: string; task: string; path: string; who: string } {
  const a = parseAddress(meta.address);
  return { project: a.project, task: a.task, path: a.path, who: `${a.agent}:${a.role}` };
}

/** Resolves any selector the way the node does (GET /ucxi/v1/navigate); the version's metadata. */
async function resolveVersion(address: string): Promise<DecisionMeta> {
  const r = await get<{ response: { data: { current: DecisionMeta } } }>('/ucxi/v1/navigate', { address });
  return r.response.data.current;
}

/** Text of a version, or why it cannot be shown. */
function readable(c: Content): { text?: string; note?: string } {
  const bin = atob(c.content);
  if (/\0/.test(bin)) return { note: `binary content (${c.meta.contentType}), ${bin.length} bytes` };
  return { text: fromBase64(c.content) };
}

function contentError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'NOT_A_RECIPIENT')
    return `not a recipient: this node’s role may not read this version (${err.message})`;
  return messageOf(err);
}

async function fetchContent(address: string): Promise<Content> {
  try {
    return await get<Content>('/v1/ucxl/get', { address });
  } catch (err) {
    throw new Error(contentError(err), { cause: err });
  }
}

function Browser({ list, params }: { list: DecisionMeta[]; params: URLSearchParams }) {
  const project = params.get('project') ?? '';
  const task = params.get('task') ?? '';
  const rows = list.map((m) => ({ meta: m, ...parts(m) }));
  const projects = [...new Set(rows.map((r) => r.project))].sort();
  const tasks = [...new Set(rows.filter((r) => r.project === project).map((r) => r.task))].sort();
  const paths = rows.filter((r) => r.project === project && r.task === task);
  return (
    <div class="browser">
      <div>
        <h3>project</h3>
        {projects.length ? null : <Empty>This node holds no decisions yet.</Empty>}
        {projects.map((p) => (
          <a key={p} class={p === project ? 'active' : ''} href={href('decisions', { project: p })}>
            {p}
          </a>
        ))}
      </div>
      <div>
        <h3>task</h3>
        {tasks.map((t) => (
          <a key={t} class={t === task ? 'active' : ''} href={href('decisions', { project, task: t })}>
            {t}
          </a>
        ))}
      </div>
      <div>
        <h3>path</h3>
        {paths.map((r) => (
          <a
            key={r.meta.subject}
            href={href('decisions', { project, task, address: withTemporal(r.meta.address, { kind: 'latest' }) })}
          >
            {r.path || '(no path)'} <span class="muted">{r.who}</span>
          </a>
        ))}
      </div>
    </div>
  );
}

function DiffView({ a, b }: { a: string; b: string }) {
  const [result, setResult] = useState<{ left: string; right: string } | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    setResult(undefined);
    setError(undefined);
    Promise.all([fetchContent(a), fetchContent(b)])
      .then(([x, y]) => {
        const [l, r] = [readable(x), readable(y)];
        if (l.text === undefined || r.text === undefined) throw new Error(l.note ?? r.note);
        setResult({ left: l.text, right: r.text });
      })
      .catch((err: unknown) => setError(messageOf(err)));
  }, [a, b]);
  const lines = useMemo(() => {
    if (!result) return [];
    return diffLines(result.left, result.right).flatMap((part) =>
      part.value
        .replace(/\n$/, '')
        .split('\n')
        .map((line) => ({ kind: part.added ? 'add' : part.removed ? 'del' : 'same', line })),
    );
  }, [result]);
  return (
    <div class="diff" data-diff={`${a} → ${b}`}>
      <ErrorLine error={error} />
      {lines.map((l, i) => (
        <div key={i} class={`line ${l.kind}`}>
          <span class="sign">{l.kind === 'add' ? '+' : l.kind === 'del' ? '−' : ' '}</span>
          {l.line}
        </div>
      ))}
    </div>
  );
}

function Timeline({
  history,
  current,
  pick,
  onPick,
  proposals,
}: {
  history: DecisionMeta[];
  current: number;
  pick: { a?: number; b?: number };
  onPick: (p: { a?: number; b?: number }) => void;
  proposals: Proposal[];
}) {
  return (
    <table class="timeline">
      <thead>
        <tr>
          <th>A</th>
          <th>B</th>
          <th>version</th>
          <th>author</th>
          <th>time</th>
          <th>readers</th>
          <th>proposal</th>
        </tr>
      </thead>
      <tbody>
        {history.map((m) => {
          const proposal = proposals.find((p) => p.version === m.version);
          return (
            <tr key={m.version} class={m.version === current ? 'current' : ''} data-version={m.version}>
              <td>
                <input
                  type="radio"
                  name="diff-a"
                  aria-label={`diff from version ${m.version}`}
                  checked={pick.a === m.version}
                  onChange={() => onPick({ ...pick, a: m.version })}
                />
              </td>
              <td>
                <input
                  type="radio"
                  name="diff-b"
                  aria-label={`diff to version ${m.version}`}
                  checked={pick.b === m.version}
                  onChange={() => onPick({ ...pick, b: m.version })}
                />
              </td>
              <td>
                <a href={href('decisions', { address: m.address })}>v{m.version}</a>{' '}
                {m.deleted ? <Tag kind="bad">deleted</Tag> : null}
              </td>
              <td>
                <PeerId id={m.author} /> ({m.authorRole})
              </td>
              <td>
                <Time at={m.timestamp} />
              </td>
              <td>{m.roles.join(', ') || '—'}</td>
              <td>{proposal ? <ProposalBadge proposal={proposal} /> : '—'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

const SELECTORS: { label: string; temporal: Temporal; title: string }[] = [
  { label: '*~', temporal: { kind: 'first' }, title: 'the first version' },
  { label: '~~1', temporal: { kind: 'back', steps: 1 }, title: 'one version back from the latest' },
  { label: '^^1', temporal: { kind: 'forward', steps: 1 }, title: 'one version forward from the first' },
  { label: '*^', temporal: { kind: 'latest' }, title: 'the latest version' },
];

function Decision({ address }: { address: string }) {
  const [pick, setPick] = useState<{ a?: number; b?: number }>({});
  const [navError, setNavError] = useState<string | undefined>(undefined);
  const current = useResource(() => resolveVersion(address), [address]);
  const meta = current.data;
  const subject = meta ? withTemporal(meta.address, { kind: 'latest' }) : undefined;
  const history = useResource(
    () => (subject ? get<DecisionMeta[]>('/v1/ucxl/history', { address: subject }) : Promise.resolve(undefined)),
    [subject],
    { refreshOn: ['proposal'] },
  );
  const content = useResource(() => (meta ? fetchContent(meta.address) : Promise.resolve(undefined)), [meta?.address]);
  const proposals = useProposals(meta?.subject);
  const follow = (temporal: Temporal): void => {
    setNavError(undefined);
    resolveVersion(withTemporal(address, temporal))
      .then((m) => navigate('decisions', { address: m.address }))
      .catch((err: unknown) => setNavError(messageOf(err)));
  };
  // the content of this version only: while the next version loads, the previous one's text is not shown under it
  const loaded = content.data?.meta.address === meta?.address ? content.data : undefined;
  const shown = loaded ? readable(loaded) : undefined;
  const versions = history.data ?? [];
  const step = (delta: number): DecisionMeta | undefined =>
    versions.find((m) => m.version === (meta?.version ?? 0) + delta);
  return (
    <Section title={meta ? `${meta.subject}` : address} id="decision">
      <ErrorLine error={current.error} />
      {meta ? (
        <>
          <p class="selectors">
            {SELECTORS.map((s) => (
              <button key={s.label} class="selector" title={s.title} onClick={() => follow(s.temporal)}>
                <code>{s.label}</code>
              </button>
            ))}
            {step(-1) ? <a href={href('decisions', { address: step(-1)?.address })}>← v{meta.version - 1}</a> : null}{' '}
            {step(1) ? <a href={href('decisions', { address: step(1)?.address })}>v{meta.version + 1} →</a> : null}
          </p>
          <ErrorLine error={navError} />
          <p>
            <strong data-shown-version={meta.version}>version {meta.version}</strong> by <PeerId id={meta.author} /> (
            {meta.authorRole}) <Time at={meta.timestamp} /> · {meta.contentType} · {meta.size} bytes · readers{' '}
            {meta.roles.join(', ') || '—'} · <code>{meta.address}</code>
          </p>
          <ErrorLine error={content.error} />
          {shown?.note ? <p class="muted">{shown.note}</p> : null}
          {shown?.text !== undefined ? (
            <pre class="text content" data-content-version={loaded?.meta.version}>
              {shown.text}
            </pre>
          ) : null}
          <h3>Versions</h3>
          <ErrorLine error={history.error} />
          <Timeline history={versions} current={meta.version} pick={pick} onPick={setPick} proposals={proposals} />
          {pick.a !== undefined && pick.b !== undefined ? (
            <>
              <h3>
                Diff v{pick.a} → v{pick.b}
              </h3>
              <DiffView
                a={withTemporal(meta.address, { kind: 'version', version: pick.a })}
                b={withTemporal(meta.address, { kind: 'version', version: pick.b })}
              />
            </>
          ) : (
            <p class="muted">Pick A and B in the table to see a line diff.</p>
          )}
        </>
      ) : null}
    </Section>
  );
}

export function DecisionsView({ params }: { params: URLSearchParams }) {
  const list = useResource(() => get<DecisionMeta[]>('/v1/ucxl/ls', { address: ALL }), [], { every: 15_000 });
  const address = params.get('address') ?? undefined;
  const [typed, setTyped] = useState('');
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const open = (e: Event): void => {
    e.preventDefault();
    try {
      navigate('decisions', { address: formatAddress(parseAddress(typed.trim())) });
      setInvalid(undefined);
    } catch (err) {
      setInvalid(messageOf(err));
    }
  };
  return (
    <div data-ready={list.data ? 'decisions' : undefined}>
      <form class="toolbar" onSubmit={open}>
        <input
          class="address"
          name="address"
          placeholder="ucxl://agent:role@project:task/*^/path"
          value={typed}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
        <button type="submit">Open</button>
      </form>
      <ErrorLine error={invalid} />
      <Section title="Browse">
        <ErrorLine error={list.error} />
        <Browser list={list.data ?? []} params={params} />
      </Section>
      {address ? <Decision address={address} /> : null}
    </div>
  );
}
