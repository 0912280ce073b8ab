// Runtime assignment (the predecessor's WHOOSH): a node started with assign.url fetches a JSON
// assignment — role, expertise, bootstrap peers, join stagger … — at start and on SIGHUP, validates it,
// caches it in the data dir, and the config loader merges it above the file and environment layers
// (below command-line flags). An unreachable server is an error unless a cached assignment exists.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ChorusError, describeError } from '../errors.ts';
import { writePrivateFile } from '../p2p/identity.ts';

export const ASSIGNMENT_FILE = 'assignment.json';

const name = z.string().regex(/^[a-zA-Z0-9_.-]+$/);

/** What an assignment server may set. Unknown fields are refused (a typo must not pass silently). */
export const assignmentSchema = z.strictObject({
  role: z
    .string()
    .regex(/^[a-zA-Z0-9_-]+$/)
    .optional(),
  expertise: z.array(name).optional(),
  reportsTo: z.array(name).optional(),
  capabilities: z.array(z.string().min(1)).optional(),
  maxTasks: z.number().int().min(0).optional(),
  bootstrap: z.array(z.string().min(1)).optional(),
  joinStagger: z.number().int().min(0).optional(),
});

export type Assignment = z.output<typeof assignmentSchema>;

export class AssignmentError extends ChorusError {
  constructor(message: string, cause?: unknown) {
    super('ASSIGNMENT_UNAVAILABLE', message, { cause });
    this.name = 'AssignmentError';
  }
}

/** The config layer an assignment stands for (nested like the config file). */
export function assignmentLayer(a: Assignment): Record<string, unknown> {
  const agent: Record<string, unknown> = {};
  const p2p: Record<string, unknown> = {};
  if (a.role !== undefined) agent.role = a.role;
  if (a.expertise !== undefined) agent.expertise = a.expertise;
  if (a.reportsTo !== undefined) agent.reportsTo = a.reportsTo;
  if (a.capabilities !== undefined) agent.capabilities = a.capabilities;
  if (a.maxTasks !== undefined) agent.maxTasks = a.maxTasks;
  if (a.bootstrap !== undefined) p2p.bootstrap = a.bootstrap;
  if (a.joinStagger !== undefined) p2p.joinStaggerMs = a.joinStagger;
  return { ...(Object.keys(agent).length ? { agent } : {}), ...(Object.keys(p2p).length ? { p2p } : {}) };
}

export function parseAssignment(body: unknown, source: string): Assignment {
  const r = assignmentSchema.safeParse(body);
  if (r.success) return r.data;
  const issues = r.error.issues
    .map((i) =>
      i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : `${i.path.join('.')}: ${i.message}`,
    )
    .join('; ');
  throw new AssignmentError(`invalid assignment from ${source}: ${issues}`);
}

/** GETs and validates the assignment. */
export async function fetchAssignment(url: string, signal: AbortSignal): Promise<Assignment> {
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  } catch (err) {
    throw new AssignmentError(`assignment server ${url} is unreachable: ${describeError(err)}`, err);
  }
  if (!res.ok) throw new AssignmentError(`assignment server ${url} answered HTTP ${res.status}`);
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new AssignmentError(`assignment from ${url} is not JSON`, err);
  }
  return parseAssignment(body, url);
}

export interface ResolvedAssignment {
  assignment: Assignment;
  /** "server": fetched now; "cache": the server failed and the cached copy is used. */
  from: 'server' | 'cache';
  /** Why the server could not be used (when from = cache). */
  error?: string;
}

async function readCache(dataDir: string): Promise<Assignment | undefined> {
  const file = join(dataDir, ASSIGNMENT_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return parseAssignment(JSON.parse(text), file);
  } catch {
    return undefined; // a damaged cache is as good as none
  }
}

/**
 * Fetches the assignment and caches it; when the server fails, falls back to the cached copy, and
 * throws AssignmentError when there is none.
 */
export async function resolveAssignment(opts: {
  url: string;
  dataDir: string;
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<ResolvedAssignment> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  try {
    const assignment = await fetchAssignment(
      opts.url,
      opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline,
    );
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    await writePrivateFile(join(opts.dataDir, ASSIGNMENT_FILE), `${JSON.stringify(assignment, null, 2)}\n`);
    return { assignment, from: 'server' };
  } catch (err) {
    const cached = await readCache(opts.dataDir);
    if (!cached) {
      throw err instanceof AssignmentError
        ? new AssignmentError(`${err.message} and no cached assignment exists in ${opts.dataDir}`, err)
        : err;
    }
    return { assignment: cached, from: 'cache', error: describeError(err) };
  }
}
