// HMMM rooms: the meta-discussion topic and the per-issue rooms (CHORUS/meta/issue/<id>, raw payloads) as
// threads (thread_id), from the messages this page has received since it opened; and a composition wizard —
// message type (the seed's HMMM and role-collaboration types), recipients by role (to_roles), priority,
// thread — with a preview after SHHH redaction (POST /v1/shhh/preview: nothing is sent) before sending.
import { useEffect, useState } from 'preact/hooks';
import { MESSAGE_FAMILIES } from '../../src/core/message-types.ts';
import type { ReceivedMessage } from '../../src/core/pubsub/pubsub.ts';
import { post } from '../api.ts';
import { Empty, ErrorLine, Field, PeerId, Section, splitList, Tag, Time } from '../components.tsx';
import { useAction } from '../hooks.ts';
import { live } from '../live.ts';

const META = 'hmmm/meta-discussion/v1';
const ISSUE_PREFIX = 'CHORUS/meta/issue/';
const KEPT_PER_ROOM = 500;
const ROOMS_KEY = 'chorus-hap-rooms';
const ROLES = ['admin', 'architect', 'developer', 'observer'];
const PRIORITIES = ['low', 'medium', 'high', 'urgent'];

/** A message as the rooms show it: received from a peer, or sent from this page. */
interface RoomMessage {
  key: string;
  topic: string;
  from: string;
  at: string;
  type?: string;
  fromRole?: string;
  toRoles?: string[];
  priority?: string;
  thread: string;
  data: unknown;
  sent?: boolean;
}

// ---- the page's message store: kept while the page is open, whichever view shows -----------------

const store = new Map<string, RoomMessage[]>();
const listeners = new Set<() => void>();

function threadOf(value: unknown): string | undefined {
  const t = (value as { thread_id?: unknown } | null)?.thread_id;
  return typeof t === 'string' && t ? t : undefined;
}

function add(m: RoomMessage): void {
  const list = store.get(m.topic) ?? [];
  if (list.some((x) => x.key === m.key)) return;
  list.push(m);
  if (list.length > KEPT_PER_ROOM) list.shift();
  store.set(m.topic, list);
  for (const fn of listeners) fn();
}

function fromReceived(m: ReceivedMessage): RoomMessage {
  const env = m.envelope;
  return {
    key: m.msgId,
    topic: m.topic,
    from: m.from,
    at: m.receivedAt,
    type: env?.type,
    fromRole: env?.from_role ?? (m.payload as { from_role?: string } | null)?.from_role,
    toRoles: env?.to_roles,
    priority: env?.priority,
    thread: env?.thread_id ?? threadOf(m.payload) ?? '(no thread)',
    data: env ? env.data : m.payload,
  };
}

live.on('message', (m) => {
  const msg = m as ReceivedMessage;
  if (msg.topic === META || msg.topic.startsWith(ISSUE_PREFIX)) add(fromReceived(msg));
});

function savedRooms(): string[] {
  try {
    const v = JSON.parse(sessionStorage.getItem(ROOMS_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

let rooms = savedRooms();
live.setRooms(rooms);

function setRooms(next: string[]): void {
  rooms = next;
  sessionStorage.setItem(ROOMS_KEY, JSON.stringify(next));
  live.setRooms(next);
  for (const fn of listeners) fn();
}

function useStore(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const fn = (): void => setVersion((v) => v + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return version;
}

// ---- views ------------------------------------------------------------------------------------------

function Message({ m }: { m: RoomMessage }) {
  return (
    <li class={m.sent ? 'sent' : ''} data-message={m.key}>
      <p class="meta">
        {m.type ? <Tag>{m.type}</Tag> : null}{' '}
        {m.sent ? <Tag kind="ok">sent from this page</Tag> : <PeerId id={m.from} />}
        {m.fromRole ? ` (${m.fromRole})` : ''}
        {m.toRoles?.length ? ` → ${m.toRoles.join(', ')}` : ''}
        {m.priority ? (
          <>
            {' '}
            <Tag kind={m.priority === 'urgent' || m.priority === 'high' ? 'warn' : undefined}>{m.priority}</Tag>
          </>
        ) : null}{' '}
        <Time at={m.at} />
      </p>
      <pre class="text">{typeof m.data === 'string' ? m.data : JSON.stringify(m.data, null, 2)}</pre>
    </li>
  );
}

function Room({ topic }: { topic: string }) {
  const messages = store.get(topic) ?? [];
  const by = new Map<string, RoomMessage[]>();
  for (const m of messages) by.set(m.thread, [...(by.get(m.thread) ?? []), m]);
  const threads = [...by.entries()].sort((a, b) => (b[1].at(-1)?.at ?? '').localeCompare(a[1].at(-1)?.at ?? ''));
  if (!messages.length) return <Empty>No messages in {topic} since this page opened.</Empty>;
  return (
    <div class="threads">
      {threads.map(([thread, list]) => (
        <details open key={thread} class="thread" data-thread={thread}>
          <summary>
            {thread} <span class="muted">({list.length})</span>
          </summary>
          <ul class="messages">
            {list.map((m) => (
              <Message key={m.key} m={m} />
            ))}
          </ul>
        </details>
      ))}
    </div>
  );
}

interface Draft {
  topic: string;
  type: string;
  toRoles: string[];
  otherRoles: string;
  priority: string;
  thread: string;
  project: string;
  message: string;
}

interface Preview {
  data: unknown;
  findings: { rule: string; location: string; severity: string }[];
}

/** What a draft publishes: an envelope on the meta-discussion topic, or a raw payload in an issue room. */
function request(d: Draft): { body: Record<string, unknown>; data: Record<string, unknown> } {
  const toRoles = [...d.toRoles, ...splitList(d.otherRoles)];
  const thread = d.thread.trim() || undefined;
  if (d.topic === META) {
    const data = { message: d.message };
    return {
      data,
      body: {
        type: d.type,
        topic: META,
        data,
        toRoles: toRoles.length ? toRoles : undefined,
        priority: d.priority || undefined,
        threadId: thread,
        projectId: d.project.trim() || undefined,
      },
    };
  }
  // issue rooms are raw: the routing fields travel in the payload itself
  const data = {
    type: d.type,
    message: d.message,
    ...(thread ? { thread_id: thread } : {}),
    ...(toRoles.length ? { to_roles: toRoles } : {}),
    ...(d.priority ? { priority: d.priority } : {}),
  };
  return { data, body: { raw: true, topic: d.topic, data } };
}

function Compose({ topics, threads }: { topics: string[]; threads: string[] }) {
  const [step, setStep] = useState<'write' | 'preview'>('write');
  const [draft, setDraft] = useState<Draft>({
    topic: META,
    type: 'MetaDiscussion',
    toRoles: [],
    otherRoles: '',
    priority: '',
    thread: '',
    project: '',
    message: '',
  });
  const [preview, setPreview] = useState<Preview | undefined>(undefined);
  const [sent, setSent] = useState<string | undefined>(undefined);
  const action = useAction();
  const set = (patch: Partial<Draft>): void => {
    setDraft({ ...draft, ...patch });
    setSent(undefined);
  };
  const toPreview = (e: Event): void => {
    e.preventDefault();
    void action.run(async () => {
      if (!draft.message.trim()) throw new Error('write a message first');
      setPreview(await post<Preview>('/v1/shhh/preview', { data: request(draft).data }));
      setStep('preview');
    });
  };
  const send = (): void => {
    void action.run(async () => {
      const { body, data } = request(draft);
      const receipt = await post<{ msgId: string; topic: string }>('/v1/publish', body);
      add({
        key: receipt.msgId,
        topic: receipt.topic,
        from: 'this node',
        at: new Date().toISOString(),
        type: draft.topic === META ? draft.type : undefined,
        toRoles: body.toRoles as string[] | undefined,
        priority: draft.priority || undefined,
        thread: draft.thread.trim() || '(no thread)',
        data: preview?.data ?? data,
        sent: true,
      });
      setSent(`sent to ${receipt.topic} (message ${receipt.msgId.slice(0, 12)}…)`);
      setStep('write');
      setDraft({ ...draft, message: '' });
    });
  };
  if (step === 'preview' && preview) {
    return (
      <div class="compose preview">
        <p>
          <Tag>{draft.type}</Tag> to {draft.topic}
          {request(draft).body.toRoles ? ` · for ${(request(draft).body.toRoles as string[]).join(', ')}` : ''}
          {draft.priority ? ` · ${draft.priority}` : ''}
          {draft.thread ? ` · thread ${draft.thread}` : ''}
        </p>
        <h3>What will be sent (after SHHH redaction)</h3>
        <pre class="text">{JSON.stringify(preview.data, null, 2)}</pre>
        {preview.findings.length ? (
          <ul class="findings">
            {preview.findings.map((f, i) => (
              <li key={i}>
                <Tag kind="warn">{f.rule}</Tag> at {f.location} ({f.severity}) — redacted
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">SHHH found no secrets.</p>
        )}
        <ErrorLine error={action.error} />
        <button onClick={() => setStep('write')}>Back</button>{' '}
        <button disabled={action.busy} onClick={send}>
          Send
        </button>
      </div>
    );
  }
  return (
    <form class="compose" onSubmit={toPreview}>
      <div class="form-grid">
        <Field label="room">
          <select name="topic" value={draft.topic} onChange={(e) => set({ topic: e.currentTarget.value })}>
            {topics.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <Field label="message type">
          <select name="type" value={draft.type} onChange={(e) => set({ type: e.currentTarget.value })}>
            <optgroup label="HMMM (meta-discussion)">
              {MESSAGE_FAMILIES.metaDiscussion.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </optgroup>
            <optgroup label="role collaboration">
              {MESSAGE_FAMILIES.roleCollaboration.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </optgroup>
          </select>
        </Field>
        <Field label="priority">
          <select name="priority" value={draft.priority} onChange={(e) => set({ priority: e.currentTarget.value })}>
            <option value="">none</option>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Field>
        <Field label="thread" hint="an existing thread, or a new id">
          <input
            name="thread"
            list="hap-threads"
            value={draft.thread}
            onInput={(e) => set({ thread: e.currentTarget.value })}
          />
          <datalist id="hap-threads">
            {threads.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </Field>
        <Field label="project" hint="project_id (optional)">
          <input name="project" value={draft.project} onInput={(e) => set({ project: e.currentTarget.value })} />
        </Field>
      </div>
      <fieldset class="roles">
        <legend>recipients by role (none: everyone)</legend>
        {ROLES.map((r) => (
          <label key={r} class="check">
            <input
              type="checkbox"
              name={`role-${r}`}
              checked={draft.toRoles.includes(r)}
              onChange={(e) =>
                set({
                  toRoles: e.currentTarget.checked ? [...draft.toRoles, r] : draft.toRoles.filter((x) => x !== r),
                })
              }
            />{' '}
            {r}
          </label>
        ))}
        <input
          name="other-roles"
          placeholder="other roles, comma-separated"
          value={draft.otherRoles}
          onInput={(e) => set({ otherRoles: e.currentTarget.value })}
        />
      </fieldset>
      <Field label="message">
        <textarea name="message" value={draft.message} onInput={(e) => set({ message: e.currentTarget.value })} />
      </Field>
      <ErrorLine error={action.error} />
      {sent ? <p class="ok">{sent}</p> : null}
      <button type="submit" disabled={action.busy}>
        Preview
      </button>
    </form>
  );
}

export function HmmmView({ params }: { params: URLSearchParams }) {
  useStore();
  const [issue, setIssue] = useState('');
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const topics = [META, ...rooms.map((r) => `${ISSUE_PREFIX}${r}`)];
  const current =
    params.get('room') && topics.includes(params.get('room') ?? '') ? (params.get('room') as string) : META;
  const join = (e: Event): void => {
    e.preventDefault();
    const id = issue.trim();
    if (!/^[a-zA-Z0-9_.-]+$/.test(id)) {
      setInvalid(`invalid issue id "${id}": use letters, digits, "_", "-" and "."`);
      return;
    }
    setInvalid(undefined);
    setIssue('');
    if (!rooms.includes(id)) setRooms([...rooms, id]);
    location.hash = `#/hmmm?room=${encodeURIComponent(`${ISSUE_PREFIX}${id}`)}`;
  };
  const threads = [...new Set((store.get(current) ?? []).map((m) => m.thread))].filter((t) => t !== '(no thread)');
  return (
    <div class="hmmm" data-ready="hmmm">
      <div class="toolbar">
        {topics.map((t) => (
          <a key={t} class={`room ${t === current ? 'active' : ''}`} href={`#/hmmm?room=${encodeURIComponent(t)}`}>
            {t === META ? 'meta-discussion' : `issue ${t.slice(ISSUE_PREFIX.length)}`}{' '}
            <span class="muted">({store.get(t)?.length ?? 0})</span>
          </a>
        ))}
        {current !== META ? (
          <button class="link" onClick={() => setRooms(rooms.filter((r) => `${ISSUE_PREFIX}${r}` !== current))}>
            leave this room
          </button>
        ) : null}
        <form class="inline" onSubmit={join}>
          <input
            name="issue"
            placeholder="issue id, e.g. 42"
            value={issue}
            onInput={(e) => setIssue(e.currentTarget.value)}
          />
          <button type="submit">Join room</button>
        </form>
      </div>
      <ErrorLine error={invalid} />
      <Section title="Compose">
        <Compose topics={topics} threads={threads} />
      </Section>
      <Section title={current}>
        <Room topic={current} />
      </Section>
    </div>
  );
}
