// Task board: tasks by state with filters by project, role and owner; a create form with every field of
// `chorus task create` (checked by the same code, with the same messages, before anything is sent); the
// escalations queue, where a human reopens, reassigns or cancels each escalated task; and each task's
// history, alerts, blockers and result. Live: every committed change arrives as a `task` event.
import { useMemo, useState } from 'preact/hooks';
import { TASK_STATES, taskSpecFromInput, type Task, type TaskState } from '../../src/core/tasks/model.ts';
import { get, messageOf, post } from '../api.ts';
import { Empty, ErrorLine, Field, PeerId, Section, splitList, Tag, Time } from '../components.tsx';
import { href, navigate, useAction, useLive, useResource } from '../hooks.ts';

interface TaskChange {
  task: Task;
  index: number;
}

const STATE_KIND: Partial<Record<TaskState, string>> = {
  open: 'ok',
  completed: 'ok',
  escalated: 'bad',
  blocked: 'warn',
  cancelled: 'muted',
};

/** The list with `task` in it (replaced by id, or added), newest first by id number. */
function upsert(list: Task[] | undefined, task: Task): Task[] {
  const rest = (list ?? []).filter((t) => t.id !== task.id);
  return [...rest, task].sort((a, b) => b.seq - a.seq);
}

function owner(t: Task): string | undefined {
  return t.claim?.owner.agent ?? t.assignee;
}

function StateTag({ state }: { state: TaskState }) {
  return <Tag kind={STATE_KIND[state]}>{state.replace('_', ' ')}</Tag>;
}

function TaskCard({ task }: { task: Task }) {
  return (
    <a class="task-card" href={href('tasks', { id: task.id })} data-task={task.id}>
      <span class="id">{task.id}</span> <span class="title">{task.title}</span>
      <span class="meta">
        <Tag>{task.priority}</Tag> {task.project}
        {task.role ? ` · ${task.role}` : ''}
        {owner(task) ? ` · ${owner(task)}` : ''}
      </span>
    </a>
  );
}

/** Cancel, reopen and reassign, as the task's state allows. */
function TaskActions({ task, onChange }: { task: Task; onChange: (t: Task) => void }) {
  const action = useAction();
  const [to, setTo] = useState('');
  const [reason, setReason] = useState('');
  const change = (path: string, body: Record<string, unknown>) =>
    action.run(async () => onChange((await post<TaskChange>(path, { id: task.id, ...body })).task));
  const open = task.state !== 'completed' && task.state !== 'cancelled';
  if (!open) return null;
  return (
    <div class="actions">
      {task.state === 'escalated' ? (
        <button disabled={action.busy} onClick={() => void change('/v1/tasks/reopen', {})}>
          Reopen
        </button>
      ) : null}
      {task.state === 'escalated' || task.state === 'open' || task.state === 'claimed' ? (
        <span class="inline">
          <input
            placeholder="agent name"
            aria-label={`reassign ${task.id} to`}
            value={to}
            onInput={(e) => setTo(e.currentTarget.value)}
          />
          <button
            disabled={action.busy || !to.trim()}
            onClick={() => void change('/v1/tasks/reassign', { to: to.trim() })}
          >
            Reassign
          </button>
        </span>
      ) : null}
      <span class="inline">
        <input
          placeholder="reason (optional)"
          aria-label={`reason to cancel ${task.id}`}
          value={reason}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
        <button
          class="danger"
          disabled={action.busy}
          onClick={() => void change('/v1/tasks/cancel', { reason: reason.trim() || undefined })}
        >
          Cancel
        </button>
      </span>
      <ErrorLine error={action.error} />
    </div>
  );
}

function Escalations({ tasks, onChange }: { tasks: Task[]; onChange: (t: Task) => void }) {
  const escalated = tasks.filter((t) => t.state === 'escalated');
  return (
    <Section title={`Escalations (${escalated.length})`} id="escalations">
      {escalated.length === 0 ? <Empty>No task waits for a human.</Empty> : null}
      {escalated.map((t) => (
        <div class="escalation" key={t.id} data-escalation={t.id}>
          <p>
            <a href={href('tasks', { id: t.id })}>
              <span class="id">{t.id}</span> {t.title}
            </a>{' '}
            — {t.escalation?.reason ?? 'escalated'} <Time at={t.escalation?.at} />
            {t.lastFailure ? <span class="muted"> · last failure: {t.lastFailure}</span> : null}
          </p>
          <TaskActions task={t} onChange={onChange} />
        </div>
      ))}
    </Section>
  );
}

function TaskDetail({ task, onChange }: { task: Task; onChange: (t: Task) => void }) {
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : '—');
  return (
    <Section
      title={`${task.id} · ${task.title}`}
      id="task-detail"
      actions={
        <a class="close" href={href('tasks')}>
          close
        </a>
      }
    >
      <p>
        <StateTag state={task.state} /> <Tag>{task.priority}</Tag> project {task.project}
        {task.ref ? ` · for ${task.ref}` : ''} · attempt {task.attempt}, {task.failures} of {task.maxAttempts} failures
      </p>
      {task.description ? <pre class="text">{task.description}</pre> : null}
      <dl class="facts">
        <dt>created</dt>
        <dd>
          by {task.createdBy.agent} ({task.createdBy.role ?? 'no role'}) on <PeerId id={task.createdBy.node} />{' '}
          <Time at={task.createdAt} />
        </dd>
        <dt>claim</dt>
        <dd>
          {task.claim ? (
            <>
              {task.claim.owner.agent} on <PeerId id={task.claim.owner.node} />, token <code>{task.claim.token}</code>,
              expires <Time at={task.claim.expiresAt} />
            </>
          ) : (
            '—'
          )}
        </dd>
        <dt>assignee</dt>
        <dd>{task.assignee ?? '—'}</dd>
        <dt>needs</dt>
        <dd>
          role {task.role ?? 'any'} · expertise {list(task.expertise)} · capabilities {list(task.capabilities)}
        </dd>
        <dt>depends on</dt>
        <dd>{list(task.dependsOn)}</dd>
        <dt>touches</dt>
        <dd>{list(task.touches)}</dd>
        <dt>provides / consumes</dt>
        <dd>
          {list(task.provides)} / {list(task.consumes)}
        </dd>
        <dt>deadline</dt>
        <dd>{task.deadline ? <Time at={task.deadline} /> : '—'}</dd>
        <dt>context</dt>
        <dd>
          {task.context.length
            ? task.context.map((a) => (
                <div key={a}>
                  <a href={href('decisions', { address: a })}>{a}</a>
                </div>
              ))
            : '—'}
        </dd>
        <dt>progress</dt>
        <dd>{task.progress ? `${task.progress.percent ?? '?'} % ${task.progress.note ?? ''}` : '—'}</dd>
        <dt>result</dt>
        <dd>{task.result ? <a href={href('decisions', { address: task.result })}>{task.result}</a> : '—'}</dd>
        <dt>blocked by</dt>
        <dd>
          {task.blockedBy.length
            ? task.blockedBy.map((b) => (
                <div key={`${b.rule}${b.task}`}>
                  {b.rule} → <a href={href('tasks', { id: b.task })}>{b.task}</a>
                  {b.via ? ` (${b.via})` : ''}
                </div>
              ))
            : '—'}
        </dd>
        <dt>alerts</dt>
        <dd>
          {task.alerts.length
            ? task.alerts.map((a) => (
                <div key={`${a.rule}${a.task}${a.at}`}>
                  {a.rule} with <a href={href('tasks', { id: a.task })}>{a.task}</a>: {a.detail} <Time at={a.at} />
                </div>
              ))
            : '—'}
        </dd>
      </dl>
      <TaskActions task={task} onChange={onChange} />
      <h3>History</h3>
      <ol class="history">
        {task.historyDropped ? <li class="muted">{task.historyDropped} older transitions not kept</li> : null}
        {task.history.map((h, i) => (
          <li key={i}>
            <StateTag state={h.state} /> <Time at={h.at} /> by {h.actor} (term {h.term}){h.note ? ` — ${h.note}` : ''}
          </li>
        ))}
      </ol>
    </Section>
  );
}

const EMPTY_FORM = {
  title: '',
  description: '',
  project: '',
  ref: '',
  role: '',
  expertise: '',
  capabilities: '',
  priority: '',
  dependsOn: '',
  touches: '',
  provides: '',
  consumes: '',
  deadline: '',
  context: '',
  force: false,
  as: '',
};
type FormState = typeof EMPTY_FORM;

function CreateTask({ onCreated }: { onCreated: (t: Task) => void }) {
  const [form, setForm] = useState<FormState>(EMPTY_FORM);
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const action = useAction();
  const text = (key: keyof FormState, label: string, hint?: string, multiline = false) => (
    <Field label={label} hint={hint}>
      {multiline ? (
        <textarea
          name={key}
          value={form[key] as string}
          onInput={(e) => setForm({ ...form, [key]: e.currentTarget.value })}
        />
      ) : (
        <input
          name={key}
          value={form[key] as string}
          onInput={(e) => setForm({ ...form, [key]: e.currentTarget.value })}
        />
      )}
    </Field>
  );
  const opt = (s: string): string | undefined => (s.trim() === '' ? undefined : s.trim());
  const submit = (e: Event): void => {
    e.preventDefault();
    let spec;
    try {
      spec = taskSpecFromInput({
        title: form.title,
        description: form.description === '' ? undefined : form.description,
        project: opt(form.project),
        ref: opt(form.ref),
        role: opt(form.role),
        expertise: splitList(form.expertise),
        capabilities: splitList(form.capabilities),
        priority: opt(form.priority),
        dependsOn: splitList(form.dependsOn),
        touches: splitList(form.touches),
        provides: splitList(form.provides),
        consumes: splitList(form.consumes),
        deadline: opt(form.deadline),
        context: splitList(form.context),
        force: form.force,
      });
    } catch (err) {
      setInvalid(messageOf(err));
      return;
    }
    setInvalid(undefined);
    void action.run(async () => {
      const r = await post<TaskChange>('/v1/tasks', { spec, as: opt(form.as) });
      setForm(EMPTY_FORM);
      onCreated(r.task);
    });
  };
  return (
    <form class="create-task" onSubmit={submit}>
      <div class="form-grid">
        {text('title', 'title', 'at most 200 characters')}
        {text('project', 'project (--project)', 'default: default')}
        <Field label="priority (--priority)">
          <select
            name="priority"
            value={form.priority}
            onChange={(e) => setForm({ ...form, priority: e.currentTarget.value })}
          >
            <option value="">medium (default)</option>
            <option value="low">low</option>
            <option value="medium">medium</option>
            <option value="high">high</option>
            <option value="urgent">urgent</option>
          </select>
        </Field>
        {text('role', 'role (--role)', 'the role that may claim it')}
        {text('ref', 'ref (--ref)', 'owner/repo#42 or a URL')}
        {text('deadline', 'deadline (--deadline)', '2h, 30m, 1d or a date; missed → escalated')}
        {text('expertise', 'expertise (--expertise)', 'comma-separated')}
        {text('capabilities', 'capabilities (--capability)', 'comma-separated')}
        {text('dependsOn', 'depends on (--depends-on)', 'task ids, e.g. t-3')}
        {text('touches', 'touches (--touches)', 'paths, globs or artifacts')}
        {text('provides', 'provides (--provides)', 'interface names')}
        {text('consumes', 'consumes (--consumes)', 'interface names')}
        {text('context', 'context (--context)', 'ucxl:// addresses')}
        {text('as', 'as (--as)', 'default: this node’s agent name')}
      </div>
      {text('description', 'description (--description)', 'at most 64 KiB', true)}
      <label class="check">
        <input
          type="checkbox"
          name="force"
          checked={form.force}
          onChange={(e) => setForm({ ...form, force: e.currentTarget.checked })}
        />{' '}
        force (--force): do not wait for earlier tasks that touch the same paths
      </label>
      <ErrorLine error={invalid ?? action.error} />
      <button type="submit" disabled={action.busy}>
        Create task
      </button>
    </form>
  );
}

function Filter({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string;
  options: string[];
  onChange: (v: string) => void;
}) {
  return (
    <label class="filter">
      {label}{' '}
      <select name={`filter-${label}`} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">all</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

export function TasksView({ params }: { params: URLSearchParams }) {
  const tasks = useResource(() => get<Task[]>('/v1/tasks'), []);
  const [creating, setCreating] = useState(false);
  useLive<{ task: Task }>('task', (line) => tasks.set((list) => upsert(list, line.task)));
  const onChange = (t: Task): void => tasks.set((list) => upsert(list, t));
  const all = tasks.data ?? [];
  const filter = {
    project: params.get('project') ?? '',
    role: params.get('role') ?? '',
    owner: params.get('owner') ?? '',
  };
  const setFilter = (key: keyof typeof filter, value: string): void =>
    navigate('tasks', { ...filter, [key]: value, id: params.get('id') ?? undefined });
  const values = useMemo(() => {
    const uniq = (xs: (string | undefined)[]) => [...new Set(xs.filter((x): x is string => !!x))].sort();
    return {
      project: uniq(all.map((t) => t.project)),
      role: uniq(all.map((t) => t.role)),
      owner: uniq(all.map(owner)),
    };
  }, [all]);
  const shown = all.filter(
    (t) =>
      (!filter.project || t.project === filter.project) &&
      (!filter.role || t.role === filter.role) &&
      (!filter.owner || owner(t) === filter.owner),
  );
  const selected = all.find((t) => t.id === params.get('id'));
  return (
    <div data-ready={tasks.data ? 'tasks' : undefined}>
      <ErrorLine error={tasks.error} />
      <div class="toolbar">
        <Filter
          label="project"
          value={filter.project}
          options={values.project}
          onChange={(v) => setFilter('project', v)}
        />
        <Filter label="role" value={filter.role} options={values.role} onChange={(v) => setFilter('role', v)} />
        <Filter label="owner" value={filter.owner} options={values.owner} onChange={(v) => setFilter('owner', v)} />
        <button onClick={() => setCreating(!creating)}>{creating ? 'Close the form' : 'New task'}</button>
      </div>
      {creating ? (
        <Section title="New task">
          <CreateTask onCreated={(t) => (onChange(t), setCreating(false))} />
        </Section>
      ) : null}
      {selected ? <TaskDetail task={selected} onChange={onChange} /> : null}
      <Escalations tasks={all} onChange={onChange} />
      <div class="board">
        {TASK_STATES.map((state) => {
          const column = shown.filter((t) => t.state === state);
          return (
            <div class="column" key={state} data-state={state}>
              <h3>
                <StateTag state={state} /> {column.length}
              </h3>
              {column.map((t) => (
                <TaskCard key={t.id} task={t} />
              ))}
            </div>
          );
        })}
      </div>
    </div>
  );
}
