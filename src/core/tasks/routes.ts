// The task routes of the control API (/v1/tasks…): reads answer from this node's applied board (with
// `after=<index>`, once this node applied that log index — read-your-writes on any node); writes go
// through the leader. A completion with content writes the result decision first and completes the task
// with its address. `GET /v1/tasks/watch` streams committed transitions as NDJSON until the client leaves.
import type { Route } from '../api/server.ts';
import { openStream } from '../api/stream.ts';
import { UsageError } from '../errors.ts';
import { TASK_STATES, type Task, type TaskState } from './model.ts';
import type { TaskEvent } from './machine.ts';
import type { TaskFilter, TaskService } from './service.ts';

/** What the task routes need from the node besides the task service. */
export interface TaskRouteDeps {
  tasks: TaskService;
  /** Writes a decision (a task's result) and returns its address. */
  writeResult(address: string, content: Buffer, roles: string[], signal: AbortSignal): Promise<{ address: string }>;
  /** This node's role (a result is readable by the creator's role and the task's role). */
  role(): string;
}

type Body = Record<string, unknown>;

function body(v: unknown): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UsageError('the request body must be a JSON object');
  return v as Body;
}

function str(b: Body, key: string, required: true): string;
function str(b: Body, key: string, required?: false): string | undefined;
function str(b: Body, key: string, required = false): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) {
    if (required) throw new UsageError(`${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new UsageError(`${key} must be a string`);
  return v;
}

function strings(b: Body, key: string): string[] | undefined {
  const v = b[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new UsageError(`${key} must be a list of strings`);
  return v as string[];
}

/** UCXL segments allow letters, digits, "_" and "-" only. */
const segment = (s: string): string => s.replace(/[^a-zA-Z0-9_-]/g, '-');

/** Where an agent's result for a task is written. */
export function resultAddress(agent: string, role: string, task: Pick<Task, 'project' | 'id'>): string {
  return `ucxl://${segment(agent)}:${segment(role)}@${segment(task.project)}:${task.id}/*^/result.md`;
}

function filterOf(url: URL): TaskFilter {
  const q = url.searchParams;
  const states = q.getAll('state').flatMap((s) => s.split(','));
  for (const s of states)
    if (!(TASK_STATES as readonly string[]).includes(s))
      throw new UsageError(`unknown state ${s} (one of ${TASK_STATES.join(', ')})`);
  const mine = q.get('mine');
  return {
    state: states.length ? (states as TaskState[]) : undefined,
    project: q.get('project') ?? undefined,
    role: q.get('role') ?? undefined,
    owner: q.get('owner') ?? undefined,
    mine: mine === null ? undefined : mine === 'true' || mine === '' ? true : mine,
    claimable: q.get('claimable') === 'true',
  };
}

async function caughtUp(deps: TaskRouteDeps, url: URL, signal: AbortSignal): Promise<void> {
  const after = url.searchParams.get('after');
  if (after === null) return;
  const index = Number(after);
  if (!Number.isSafeInteger(index) || index < 0) throw new UsageError('after must be a log index');
  await deps.tasks.caughtUp(index, AbortSignal.any([signal, AbortSignal.timeout(5000)]));
}

export function taskRoutes(deps: TaskRouteDeps): Record<string, Route> {
  const { tasks } = deps;
  return {
    'GET /v1/tasks': async ({ url, signal }) => {
      await caughtUp(deps, url, signal);
      return tasks.list(filterOf(url));
    },
    'GET /v1/tasks/show': async ({ url, signal }) => {
      await caughtUp(deps, url, signal);
      return tasks.get(url.searchParams.get('id') ?? '');
    },
    /** Claimable tasks for an agent profile, best first (what `chorus agent` asks). */
    'GET /v1/tasks/next': async ({ url, signal }) => {
      await caughtUp(deps, url, signal); // after=<index>: not before this node applied the agent's last change
      const q = url.searchParams;
      const agent = q.get('as') ?? undefined;
      const list = (key: string) =>
        q
          .getAll(key)
          .flatMap((s) => s.split(','))
          .filter(Boolean);
      return tasks.nextFor({
        agent: agent ?? '',
        node: '',
        role: q.get('role') ?? undefined,
        expertise: list('expertise'),
        capabilities: list('capability'),
      });
    },
    'POST /v1/tasks': async ({ body: read, signal }) => {
      const b = body(await read());
      return tasks.create(b.spec, { agent: str(b, 'as'), signal });
    },
    'POST /v1/tasks/claim': async ({ body: read, signal }) => {
      const b = body(await read());
      const hold = str(b, 'hold');
      if (hold !== undefined && hold !== 'node' && hold !== 'client')
        throw new UsageError('hold is "node" or "client"');
      return tasks.claim(str(b, 'id', true), {
        agent: str(b, 'as'),
        hold,
        role: str(b, 'role'),
        expertise: strings(b, 'expertise'),
        capabilities: strings(b, 'capabilities'),
        signal,
      });
    },
    'POST /v1/tasks/renew': async ({ body: read, signal }) => {
      const b = body(await read());
      return tasks.renew(str(b, 'id', true), { token: str(b, 'token'), agent: str(b, 'as'), signal });
    },
    'POST /v1/tasks/progress': async ({ body: read, signal }) => {
      const b = body(await read());
      const percent = b.percent;
      if (percent !== undefined && typeof percent !== 'number') throw new UsageError('percent must be a number');
      return tasks.progress(str(b, 'id', true), {
        token: str(b, 'token'),
        agent: str(b, 'as'),
        percent: percent as number | undefined,
        note: str(b, 'note'),
        signal,
      });
    },
    'POST /v1/tasks/complete': async ({ body: read, signal }) => {
      const b = body(await read());
      const id = str(b, 'id', true);
      let result = str(b, 'result');
      const content = str(b, 'content');
      if ((result === undefined) === (content === undefined))
        throw new UsageError('complete needs a result address or result content (one of them)');
      if (content !== undefined) {
        const task = tasks.get(id);
        const agent = str(b, 'as') ?? tasks.agentName();
        const roles = [...new Set([task.createdBy.role, task.role, deps.role()].filter((r): r is string => !!r))];
        const written = await deps.writeResult(
          resultAddress(agent, deps.role(), task),
          Buffer.from(content, 'base64'),
          roles,
          signal,
        );
        result = written.address;
      }
      return tasks.complete(id, { token: str(b, 'token'), agent: str(b, 'as'), result: result as string, signal });
    },
    'POST /v1/tasks/fail': async ({ body: read, signal }) => {
      const b = body(await read());
      return tasks.fail(str(b, 'id', true), {
        token: str(b, 'token'),
        agent: str(b, 'as'),
        reason: str(b, 'reason', true),
        requeue: b.requeue === true,
        signal,
      });
    },
    'POST /v1/tasks/cancel': async ({ body: read, signal }) => {
      const b = body(await read());
      return tasks.cancel(str(b, 'id', true), { agent: str(b, 'as'), reason: str(b, 'reason'), signal });
    },
    'POST /v1/tasks/reopen': async ({ body: read, signal }) => {
      const b = body(await read());
      return tasks.reopen(str(b, 'id', true), { agent: str(b, 'as'), signal });
    },
    'POST /v1/tasks/reassign': async ({ body: read, signal }) => {
      const b = body(await read());
      return tasks.reassign(str(b, 'id', true), str(b, 'to', true), { agent: str(b, 'as'), signal });
    },
    'GET /v1/tasks/watch': async ({ url, res, signal }) => {
      const id = url.searchParams.get('id');
      if (id) tasks.get(id); // an unknown id is an error before the stream starts
      const stream = openStream(res, { signal }); // bounded: a client that stops reading is dropped
      stream.send({ watching: id ?? 'all' });
      const onEvent = (e: TaskEvent): void => {
        if (!id || e.task.id === id) stream.send(watchLine(e));
      };
      tasks.on('event', onEvent);
      await stream.done;
      tasks.off('event', onEvent);
      stream.close();
      return undefined;
    },
  };
}

/** One line of `task watch`: what changed, with the task as it is now. */
export function watchLine(e: TaskEvent): Record<string, unknown> {
  const base = { kind: e.kind, id: e.task.id, term: e.term, index: e.index, task: e.task };
  if (e.kind === 'transition') return { ...base, from: e.from ?? null, to: e.to, actor: e.actor, note: e.note };
  if (e.kind === 'progress') return { ...base, actor: e.actor, progress: e.task.progress };
  return { ...base, alert: e.alert };
}
