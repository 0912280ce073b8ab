// What a task is: its fields, states, the commands that change it and their validation (pure). The
// committed task record lives in the consensus log's task state machine (machine.ts); this module is
// shared by the node, the client verbs and the portal (bundled for the browser: no Node APIs), so it loads
// nothing but zod.
import * as z from 'zod'; // a namespace import: the portal's bundle keeps only the zod it uses
import { UsageError } from '../errors.ts';

export const TASK_STATES = [
  'open',
  'blocked',
  'claimed',
  'in_progress',
  'completed',
  'escalated',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
/** States a task never leaves. */
export const TERMINAL_STATES: readonly TaskState[] = ['completed', 'cancelled'];
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export type TaskPriority = (typeof PRIORITIES)[number];
export const PRIORITY_RANK: Record<TaskPriority, number> = { low: 0, medium: 1, high: 2, urgent: 3 };

/** The documented limits (docs/tasks.md). */
export const TASK_LIMITS = {
  titleChars: 200,
  descriptionBytes: 64 * 1024,
  listItems: 32,
  itemChars: 256,
  noteChars: 2000,
  reasonChars: 2000,
  /** Transitions kept per task (older ones are summarised as a count). */
  historyEntries: 200,
} as const;

const name = z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'letters, digits, ".", "_" and "-" only');
/** Projects name UCXL address segments and pubsub topics: letters, digits, "_" and "-". */
const project = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, "_" and "-" only');
const item = z.string().min(1).max(TASK_LIMITS.itemChars);
const list = <T extends z.ZodType>(of: T) => z.array(of).max(TASK_LIMITS.listItems).default([]);
export const TASK_ID = /^t-[0-9]+$/;

/** What `chorus task create` sends (and the portal's form). */
export const taskSpecSchema = z.strictObject({
  title: z.string().trim().min(1, 'a task needs a title').max(TASK_LIMITS.titleChars),
  description: z.string().default(''),
  project: project.default('default'),
  ref: z.string().max(TASK_LIMITS.itemChars).optional(),
  role: name.optional(),
  expertise: list(name),
  capabilities: list(item),
  priority: z.enum(PRIORITIES).default('medium'),
  dependsOn: list(z.string().regex(TASK_ID, 'task ids look like t-42')),
  deadline: z.string().datetime({ offset: true }).optional(),
  touches: list(item),
  provides: list(name),
  consumes: list(name),
  /** UCXL addresses of decisions an agent reads as context. */
  context: list(z.string().startsWith('ucxl://').max(1024)),
  /** Overlapping `touches` do not block this task (rule 2 waived). */
  force: z.boolean().default(false),
});
export type TaskSpec = z.output<typeof taskSpecSchema>;
export type TaskSpecInput = z.input<typeof taskSpecSchema>;

/** Who acts: an agent name on a node (the node is the authenticated peer that submitted the command). */
export interface Actor {
  agent: string;
  node: string;
  role?: string;
  expertise?: string[];
  capabilities?: string[];
}

export interface TaskClaim {
  owner: { agent: string; node: string };
  /** Fencing token: the term the claim committed in and the claim epoch; required from the owner. */
  token: string;
  term: number;
  epoch: number;
  /** Milliseconds since the epoch, by the leaders' clocks. */
  expiresAt: number;
  ttlMs: number;
  /** Who renews the claim: this owner's node ("node") or the client itself ("client", e.g. an agent). */
  hold: 'node' | 'client';
}

export interface TaskBlocker {
  rule: 'depends_on' | 'touches' | 'interface';
  task: string;
  /** The path or interface that overlaps. */
  via?: string;
}

export interface TaskAlert {
  rule: 'depends_on' | 'touches' | 'interface' | 'same_ref';
  task: string;
  at: string;
  detail: string;
}

export interface TaskTransition {
  state: TaskState;
  at: string;
  term: number;
  actor: string;
  note?: string;
}

export interface Task extends Omit<TaskSpec, 'force'> {
  id: string;
  /** Creation order (rule 2: the earlier of two overlapping tasks goes first). */
  seq: number;
  forced: boolean;
  createdBy: { agent: string; node: string; role?: string };
  createdAt: string;
  updatedAt: string;
  state: TaskState;
  claim?: TaskClaim;
  /** Claims so far (the claim epoch). */
  attempt: number;
  /** Failed attempts (a failure or a lapsed claim) since the last reopen. */
  failures: number;
  maxAttempts: number;
  progress?: { percent?: number; note?: string; at: string };
  /** The UCXL address of the result decision. */
  result?: string;
  lastFailure?: string;
  escalation?: { reason: string; at: string };
  /** Only this agent may claim it (set by a human's reassign). */
  assignee?: string;
  blockedBy: TaskBlocker[];
  alerts: TaskAlert[];
  history: TaskTransition[];
  /** Transitions dropped from the front of the history. */
  historyDropped: number;
}

export const isTerminal = (s: TaskState): boolean => TERMINAL_STATES.includes(s);

/** Validates a create request; bad input is a UsageError naming the field and the limit. */
export function parseTaskSpec(input: unknown): TaskSpec {
  const parsed = taskSpecSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'task';
    throw new UsageError(`${field}: ${issue?.message ?? 'invalid'}`);
  }
  const spec = parsed.data;
  const bytes = new TextEncoder().encode(spec.description).length;
  if (bytes > TASK_LIMITS.descriptionBytes)
    throw new UsageError(
      `description: ${bytes} bytes is over the limit of ${TASK_LIMITS.descriptionBytes} bytes (64 KiB)`,
    );
  if (spec.deadline && Number.isNaN(Date.parse(spec.deadline))) throw new UsageError('deadline: not a date');
  return spec;
}

/** "2h", "30m", "1d", "90s" from now, or an ISO date (`--deadline`). */
export function parseDeadline(value: string, now = Date.now()): string {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(value.trim());
  if (m) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as 's'];
    return new Date(now + Number(m[1]) * unit).toISOString();
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--deadline: not a duration (2h, 30m, 1d) or a date: ${value}`);
  return new Date(t).toISOString();
}

/** "owner/repo#42" or a URL (`--ref`). */
export function parseRef(value: string): string {
  if (/^[\w.-]+\/[\w.-]+#\d+$/.test(value) || /^https?:\/\/\S+$/.test(value)) return value;
  throw new UsageError(`--ref: use owner/repo#42 or a URL, not ${value}`);
}

/** A create request as a person gives it (`chorus task create` flags, the portal's form), before checking. */
export interface TaskCreateInput {
  title: string;
  description?: string;
  project?: string;
  /** owner/repo#42 or a URL. */
  ref?: string;
  role?: string;
  expertise?: string[];
  capabilities?: string[];
  priority?: string;
  dependsOn?: string[];
  touches?: string[];
  provides?: string[];
  consumes?: string[];
  /** A duration from now (2h, 30m, 1d) or a date. */
  deadline?: string;
  context?: string[];
  force?: boolean;
}

/** Checks a create request as the CLI does (the same messages in the CLI and the portal) and returns the spec. */
export function taskSpecFromInput(input: TaskCreateInput, now = Date.now()): TaskSpec {
  return parseTaskSpec({
    ...input,
    ref: input.ref === undefined ? undefined : parseRef(input.ref),
    dependsOn: input.dependsOn?.map(parseTaskId),
    deadline: input.deadline === undefined ? undefined : parseDeadline(input.deadline, now),
  });
}

/** Checks a task id given by a user. */
export function parseTaskId(id: unknown): string {
  if (typeof id !== 'string' || !TASK_ID.test(id)) throw new UsageError(`not a task id: ${String(id)} (e.g. t-42)`);
  return id;
}

/** "agent on node 12D3…abcd" for messages. */
export function describeOwner(o: { agent: string; node: string }): string {
  return `${o.agent} (node …${o.node.slice(-6)})`;
}

/** Whether an agent's role, expertise and capabilities meet what a task requires. */
export function matches(task: Pick<Task, 'role' | 'expertise' | 'capabilities'>, actor: Actor): string | undefined {
  if (task.role && actor.role !== task.role && actor.role !== 'admin')
    return `requires role ${task.role} (this agent is ${actor.role ?? 'without a role'})`;
  const missingExpertise = task.expertise.filter((e) => !(actor.expertise ?? []).includes(e));
  if (missingExpertise.length) return `requires expertise ${missingExpertise.join(', ')}`;
  const missingCaps = task.capabilities.filter((c) => !(actor.capabilities ?? []).includes(c));
  if (missingCaps.length) return `requires capabilities ${missingCaps.join(', ')}`;
  return undefined;
}
