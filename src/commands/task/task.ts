// The task verbs (`chorus task create|ls|show|claim|progress|complete|fail|cancel|reopen|reassign|watch`):
// each turns its options into one call of the local node's control API and returns the typed result.
// They share this file because each is one line of request building; inputs are checked here (exit 2)
// with the same parser the node uses, before anything is sent.
import { ApiClient } from '../../core/api/client.ts';
import { UsageError } from '../../core/errors.ts';
import {
  parseTaskId,
  TASK_STATES,
  taskSpecFromInput,
  type Task,
  type TaskCreateInput,
} from '../../core/tasks/model.ts';
import type { CommandContext } from '../context.ts';
import { readInputFile } from '../../core/input-file.ts';

/** The create flags: the task's fields (`--capability` repeats), and who creates it. */
export interface CreateOptions extends Omit<TaskCreateInput, 'title' | 'capabilities'> {
  capability?: string[];
  as?: string;
}

export interface TaskChange {
  task: Task;
  index: number;
  token?: string;
}

const client = (ctx: CommandContext) => new ApiClient({ dataDir: ctx.config.dataDir });

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

/** Text as given, `@file` for a file's content, or `-` for stdin. */
export async function textArg(value: string, flag: string): Promise<string> {
  if (value === '-') return readStdin();
  if (!value.startsWith('@')) return value;
  return (await readInputFile(value.slice(1), flag)).toString('utf8');
}

export async function create(title: string, opts: CreateOptions, ctx: CommandContext): Promise<TaskChange> {
  const spec = taskSpecFromInput({
    title,
    description: opts.description === undefined ? undefined : await textArg(opts.description, '--description'),
    project: opts.project,
    ref: opts.ref,
    role: opts.role,
    expertise: opts.expertise,
    capabilities: opts.capability,
    priority: opts.priority,
    dependsOn: opts.dependsOn,
    touches: opts.touches,
    provides: opts.provides,
    consumes: opts.consumes,
    deadline: opts.deadline,
    context: opts.context,
    force: opts.force,
  });
  return client(ctx).call<TaskChange>('POST', '/v1/tasks', { spec, as: opts.as }, ctx.signal);
}

export interface ListOptions {
  state?: string[];
  project?: string;
  role?: string;
  owner?: string;
  mine?: boolean;
  claimable?: boolean;
}

export function ls(opts: ListOptions, ctx: CommandContext): Promise<Task[]> {
  const q = new URLSearchParams();
  for (const s of opts.state ?? []) {
    if (!(TASK_STATES as readonly string[]).includes(s))
      throw new UsageError(`--state: unknown state ${s} (one of ${TASK_STATES.join(', ')})`);
    q.append('state', s);
  }
  if (opts.project) q.set('project', opts.project);
  if (opts.role) q.set('role', opts.role);
  if (opts.owner) q.set('owner', opts.owner);
  if (opts.mine) q.set('mine', 'true');
  if (opts.claimable) q.set('claimable', 'true');
  const query = q.toString();
  return client(ctx).call<Task[]>('GET', `/v1/tasks${query ? `?${query}` : ''}`, undefined, ctx.signal);
}

export function show(id: string, ctx: CommandContext): Promise<Task> {
  return client(ctx).call<Task>(
    'GET',
    `/v1/tasks/show?${new URLSearchParams({ id: parseTaskId(id) })}`,
    undefined,
    ctx.signal,
  );
}

const post = (path: string, body: Record<string, unknown>, ctx: CommandContext): Promise<TaskChange> =>
  client(ctx).call<TaskChange>('POST', path, body, ctx.signal);

export function claim(id: string, opts: { as?: string }, ctx: CommandContext): Promise<TaskChange> {
  return post('/v1/tasks/claim', { id: parseTaskId(id), as: opts.as, hold: 'node' }, ctx);
}

export function progress(
  id: string,
  opts: { percent?: number; note?: string; token?: string; as?: string },
  ctx: CommandContext,
): Promise<TaskChange> {
  if (opts.percent === undefined && opts.note === undefined) throw new UsageError('progress needs --percent or --note');
  if (opts.percent !== undefined && !(opts.percent >= 0 && opts.percent <= 100))
    throw new UsageError('--percent must be between 0 and 100');
  return post('/v1/tasks/progress', { id: parseTaskId(id), ...opts }, ctx);
}

export async function complete(
  id: string,
  opts: { result?: string; resultAddress?: string; token?: string; as?: string },
  ctx: CommandContext,
): Promise<TaskChange> {
  if ((opts.result === undefined) === (opts.resultAddress === undefined))
    throw new UsageError('complete needs --result @file (written as a decision) or --result-address ucxl://…');
  if (opts.resultAddress !== undefined && !opts.resultAddress.startsWith('ucxl://'))
    throw new UsageError(`--result-address: not a UCXL address: ${opts.resultAddress}`);
  const content =
    opts.result === undefined ? undefined : Buffer.from(await textArg(opts.result, '--result')).toString('base64');
  return post(
    '/v1/tasks/complete',
    { id: parseTaskId(id), result: opts.resultAddress, content, token: opts.token, as: opts.as },
    ctx,
  );
}

export function fail(
  id: string,
  opts: { reason?: string; token?: string; as?: string },
  ctx: CommandContext,
): Promise<TaskChange> {
  if (!opts.reason?.trim()) throw new UsageError('fail needs --reason "…"');
  return post('/v1/tasks/fail', { id: parseTaskId(id), ...opts }, ctx);
}

export function cancel(id: string, opts: { reason?: string; as?: string }, ctx: CommandContext): Promise<TaskChange> {
  return post('/v1/tasks/cancel', { id: parseTaskId(id), ...opts }, ctx);
}

export function reopen(id: string, opts: { as?: string }, ctx: CommandContext): Promise<TaskChange> {
  return post('/v1/tasks/reopen', { id: parseTaskId(id), ...opts }, ctx);
}

export function reassign(id: string, opts: { to: string; as?: string }, ctx: CommandContext): Promise<TaskChange> {
  return post('/v1/tasks/reassign', { id: parseTaskId(id), ...opts }, ctx);
}

export interface WatchLine {
  kind: 'transition' | 'progress' | 'alert';
  id: string;
  term: number;
  index: number;
  from?: string | null;
  to?: string;
  actor?: string;
  note?: string;
  alert?: { rule: string; task: string; detail: string };
  task: Task;
}

export async function* watch(id: string | undefined, ctx: CommandContext): AsyncGenerator<WatchLine> {
  const query = id ? `?${new URLSearchParams({ id: parseTaskId(id) })}` : '';
  for await (const line of client(ctx).stream<WatchLine | { watching: string }>(
    `/v1/tasks/watch${query}`,
    ctx.signal,
  )) {
    if ('kind' in line) yield line;
  }
}
