// The commands that change tasks, as they travel in the consensus log: their shapes and the check the
// leader runs on each one before it is proposed (a command from the network is not trusted to be
// well-formed; the submitting node is bound to the authenticated peer that forwarded it).
import * as z from 'zod';
import { TASK_ID, TASK_LIMITS, taskSpecSchema, type Actor } from './model.ts';

const actorSchema = z.object({
  agent: z.string().min(1).max(128),
  node: z.string().min(1).max(128),
  role: z.string().max(64).optional(),
  expertise: z.array(z.string().max(128)).max(64).optional(),
  capabilities: z.array(z.string().max(256)).max(64).optional(),
});
const base = {
  /** Request id: a retried command is answered from memory, never applied twice. */
  rid: z.string().min(8).max(64),
  /** The proposer's wall clock (ms): every node applies the command at this time. */
  at: z.number().int().nonnegative(),
  actor: actorSchema,
};
const id = z.string().regex(TASK_ID);
const token = z.string().regex(/^[0-9]+\.[0-9]+$/, 'a claim token looks like 7.3');
const ttl = z
  .number()
  .int()
  .min(100)
  .max(24 * 3600_000);

export const taskCommandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('create'), ...base, spec: taskSpecSchema, maxAttempts: z.number().int().min(1).max(100) }),
  z.object({ op: z.literal('claim'), ...base, task: id, ttlMs: ttl, hold: z.enum(['node', 'client']) }),
  z.object({ op: z.literal('renew'), ...base, task: id, token, ttlMs: ttl }),
  z.object({
    op: z.literal('progress'),
    ...base,
    task: id,
    token,
    ttlMs: ttl,
    percent: z.number().min(0).max(100).optional(),
    note: z.string().max(TASK_LIMITS.noteChars).optional(),
  }),
  z.object({ op: z.literal('complete'), ...base, task: id, token, result: z.string().startsWith('ucxl://').max(1024) }),
  z.object({
    op: z.literal('fail'),
    ...base,
    task: id,
    token,
    reason: z.string().min(1).max(TASK_LIMITS.reasonChars),
    /** Give the task back without counting a failure (an agent that stops). */
    requeue: z.boolean().default(false),
  }),
  z.object({ op: z.literal('cancel'), ...base, task: id, reason: z.string().max(TASK_LIMITS.reasonChars).optional() }),
  z.object({ op: z.literal('reopen'), ...base, task: id }),
  z.object({ op: z.literal('reassign'), ...base, task: id, to: z.string().min(1).max(128) }),
  z.object({ op: z.literal('expire'), ...base, task: id, epoch: z.number().int().positive() }),
  z.object({ op: z.literal('deadline'), ...base, task: id }),
  /** Leader: forget completed and cancelled tasks that ended before `before` (ms) and nothing depends on. */
  z.object({ op: z.literal('prune'), ...base, before: z.number().int().nonnegative() }),
]);
export type TaskCommand = z.output<typeof taskCommandSchema>;
export type TaskOp = TaskCommand['op'];
/** A command as a node composes it, before the request id, time and actor are added. */
export type TaskRequest = DistributiveOmit<TaskCommand, 'rid' | 'at' | 'actor'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The leader's check of a proposed command: well-formed, and acting as the node that sent it (a node
 * cannot act for an agent on another node). Returns the command to propose, or the reason to refuse.
 */
export function vetCommand(
  data: unknown,
  from: string,
): { ok: true; command: TaskCommand } | { ok: false; message: string } {
  const parsed = taskCommandSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: `malformed task command: ${issue?.path.join('.') || 'command'}: ${issue?.message}` };
  }
  const command = parsed.data;
  const actor: Actor = { ...command.actor, node: from };
  return { ok: true, command: { ...command, actor } };
}
