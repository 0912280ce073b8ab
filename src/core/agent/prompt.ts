// The prompt of a task: the persona of its role, the task's title, fields and description, and its
// context — the decisions the task names (`task create --context`) and the results of the tasks it
// depends on, read through the node with its role keys. What cannot be read (not a recipient, not
// found, binary, over the size limits) is left out and listed as left out, never an error.
import { ChorusError, describeError } from '../errors.ts';
import type { Task } from '../tasks/model.ts';
import type { Persona } from './persona.ts';
import type { Prompt } from './provider.ts';

/** One piece of context: read (content) or left out (note). */
export interface ContextItem {
  address: string;
  /** A dependency's result (with the task it came from), or a decision the task names. */
  from?: { id: string; title: string };
  content?: string;
  note?: string;
}

/** How the agent reads context (through the node's control API). */
export interface ContextReader {
  decision(address: string, signal: AbortSignal): Promise<{ content: Buffer }>;
  task(id: string, signal: AbortSignal): Promise<Task>;
}

export const CONTEXT_LIMITS = { itemBytes: 32 * 1024, totalBytes: 128 * 1024 } as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Why a decision could not be read, in a few words. */
function unreadable(err: unknown): string {
  const code = err instanceof ChorusError ? err.code : '';
  if (code === 'NOT_A_RECIPIENT') return 'not readable with this node’s role keys';
  if (code === 'NOT_FOUND' || code.startsWith('UCXL-404')) return 'not found';
  return `could not be read: ${describeError(err)}`;
}

async function read(
  reader: ContextReader,
  address: string,
  signal: AbortSignal,
  budget: { left: number },
): Promise<Pick<ContextItem, 'content' | 'note'>> {
  let bytes: Buffer;
  try {
    bytes = (await reader.decision(address, signal)).content;
  } catch (err) {
    return { note: unreadable(err) };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { note: `binary content (${bytes.length} bytes)` };
  }
  if (budget.left <= 0) return { note: `over the context limit of ${CONTEXT_LIMITS.totalBytes / 1024} KiB` };
  const room = Math.min(CONTEXT_LIMITS.itemBytes, budget.left);
  budget.left -= Math.min(bytes.length, room);
  if (bytes.length <= room) return { content: text };
  const cut = Buffer.from(text, 'utf8')
    .subarray(0, room)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return { content: cut, note: `cut at ${room} of ${bytes.length} bytes` };
}

/** Reads the task's context decisions and its dependencies' results (each bounded, none fatal). */
export async function gatherContext(task: Task, reader: ContextReader, signal: AbortSignal): Promise<ContextItem[]> {
  const budget = { left: CONTEXT_LIMITS.totalBytes };
  const items: ContextItem[] = [];
  for (const address of task.context) items.push({ address, ...(await read(reader, address, signal, budget)) });
  for (const id of task.dependsOn) {
    let dep: Task;
    try {
      dep = await reader.task(id, signal);
    } catch (err) {
      items.push({ address: id, from: { id, title: '' }, note: `the task could not be read: ${describeError(err)}` });
      continue;
    }
    const from = { id: dep.id, title: dep.title };
    if (!dep.result) items.push({ address: id, from, note: `${dep.id} has no result (${dep.state})` });
    else items.push({ address: dep.result, from, ...(await read(reader, dep.result, signal, budget)) });
  }
  return items;
}

/** The prompt for a task: the persona as the system part, the task and its context as the user part. */
export function composePrompt(task: Task, persona: Persona, items: ContextItem[]): Prompt {
  const facts = [
    `Project: ${task.project}`,
    `Priority: ${task.priority}`,
    ...(task.role ? [`Role: ${task.role}`] : []),
    ...(task.expertise.length ? [`Expertise: ${task.expertise.join(', ')}`] : []),
    ...(task.capabilities.length ? [`Capabilities: ${task.capabilities.join(', ')}`] : []),
    ...(task.ref ? [`Reference: ${task.ref}`] : []),
    ...(task.deadline ? [`Deadline: ${task.deadline}`] : []),
    ...(task.attempt > 1
      ? [`Attempt: ${task.attempt}${task.lastFailure ? ` (last failure: ${task.lastFailure})` : ''}`]
      : []),
  ];
  const parts: string[] = [`# Task ${task.id}: ${task.title}`, facts.join(' · ')];
  if (task.touches.length) parts.push(`Touches: ${task.touches.join(', ')}`);
  if (task.description.trim()) parts.push(`## Description\n\n${task.description.trim()}`);
  const section = (title: string, list: ContextItem[]): void => {
    const read = list.filter((i) => i.content !== undefined);
    if (!read.length) return;
    parts.push(
      `## ${title}\n\n${read
        .map((i) => {
          const head = i.from ? `${i.from.id}${i.from.title ? ` — ${i.from.title}` : ''} (${i.address})` : i.address;
          return `### ${head}${i.note ? ` [${i.note}]` : ''}\n\n${(i.content as string).trim()}`;
        })
        .join('\n\n')}`,
    );
  };
  section(
    'Context (decisions named by the task)',
    items.filter((i) => !i.from),
  );
  section(
    'Results of the tasks this one depends on',
    items.filter((i) => i.from),
  );
  const left = items.filter((i) => i.content === undefined);
  if (left.length)
    parts.push(
      `## Left out\n\n${left.map((i) => `- ${i.from && i.from.id !== i.address ? `${i.from.id}: ` : ''}${i.address}: ${i.note}`).join('\n')}`,
    );
  parts.push(
    '## Your answer\n\nDo the task. Your answer is recorded as its result (a decision other agents and people read).',
  );
  const user = parts.join('\n\n');
  return {
    system: persona.system,
    user,
    text: `${persona.system}\n\n---\n\n${user}\n`,
    ...(persona.temperature !== undefined ? { temperature: persona.temperature } : {}),
  };
}
