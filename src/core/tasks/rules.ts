// The four dependency rules between tasks (meta-coordination), as pure functions over the task table:
// 1. explicit depends_on (blocks until the dependency completes);
// 2. overlapping `touches` (the later of two tasks that change the same path or artifact waits for the
//    earlier one to end, unless created with force);
// 3. `consumes` an interface another unfinished task `provides` (the consumer waits for the provider);
// 4. the same project and reference (two tasks for one issue): flagged for a human, never blocking.
// A dependency cycle is refused when a task is created, with the cycle named.
import { isTerminal, type Task, type TaskBlocker, type TaskSpec } from './model.ts';

/** Converts a glob (`*` within a segment, `**` across segments, `?` one character) to a RegExp. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const normalise = (p: string): string => p.trim().replace(/^\.\//, '').replace(/\/+$/, '');
const hasWildcard = (p: string): boolean => /[*?]/.test(p);
const literalPrefix = (p: string): string => p.slice(0, p.search(/[*?]/) === -1 ? p.length : p.search(/[*?]/));

/**
 * Whether two touched paths, globs or artifact names can name the same thing. A directory touches what
 * is under it; two globs whose literal prefixes are compatible are taken to overlap (conservative:
 * two tasks that might collide do not run at once).
 */
export function touchesOverlap(x: string, y: string): boolean {
  const a = normalise(x);
  const b = normalise(y);
  if (a === b || a === '' || b === '') return true;
  const wa = hasWildcard(a);
  const wb = hasWildcard(b);
  if (!wa && !wb) return a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
  const pa = literalPrefix(a);
  const pb = literalPrefix(b);
  if (!pa.startsWith(pb) && !pb.startsWith(pa)) return false;
  if (wa && wb) return true;
  const [glob, path] = wa ? [a, b] : [b, a];
  const re = globToRegExp(glob);
  // the path itself, or anything under it (a directory), may match the glob
  return re.test(path) || globToRegExp(`${glob}/**`).test(path) || literalPrefix(glob).startsWith(`${path}/`);
}

/** The first pair of overlapping touches between two lists. */
export function overlapOf(a: readonly string[], b: readonly string[]): string | undefined {
  for (const x of a) for (const y of b) if (touchesOverlap(x, y)) return x === y ? x : `${x} ~ ${y}`;
  return undefined;
}

export interface TaskTable {
  get(id: string): Task | undefined;
  /** Tasks that are not completed or cancelled, in creation order. */
  active(): Iterable<Task>;
}

/**
 * Why a task cannot be claimed now, by the rules (empty: it is not blocked). Rule 3 and rule 2 apply
 * only to unfinished tasks; a task already claimed is never pulled back by a newer one.
 */
export function blockersOf(task: Task, table: TaskTable): TaskBlocker[] {
  const out: TaskBlocker[] = [];
  for (const dep of task.dependsOn) {
    const d = table.get(dep);
    if (!d || d.state !== 'completed') out.push({ rule: 'depends_on', task: dep });
  }
  for (const other of table.active()) {
    if (other.id === task.id) continue;
    if (!task.forced && other.seq < task.seq && task.touches.length && other.touches.length) {
      const via = overlapOf(task.touches, other.touches);
      if (via) out.push({ rule: 'touches', task: other.id, via });
    }
    for (const iface of task.consumes) {
      if (other.provides.includes(iface)) out.push({ rule: 'interface', task: other.id, via: iface });
    }
  }
  return out;
}

/** Edges of the blocking graph from a task: the tasks it waits for. */
function waitsFor(
  task: Pick<Task, 'id' | 'dependsOn' | 'touches' | 'consumes' | 'forced' | 'seq'>,
  table: TaskTable,
): string[] {
  const out = new Set<string>(task.dependsOn);
  for (const other of table.active()) {
    if (other.id === task.id) continue;
    if (!task.forced && other.seq < task.seq && overlapOf(task.touches, other.touches)) out.add(other.id);
    if (task.consumes.some((i) => other.provides.includes(i))) out.add(other.id);
  }
  return [...out];
}

/**
 * A cycle the new task would close, as the list of ids (`t-5 → t-3 → t-5`), or undefined. The only
 * edges into a new task come from unfinished tasks that consume what it provides.
 */
export function cycleThrough(spec: TaskSpec, id: string, seq: number, table: TaskTable): string[] | undefined {
  const fresh = {
    id,
    seq,
    dependsOn: spec.dependsOn,
    touches: spec.touches,
    consumes: spec.consumes,
    forced: spec.force,
  };
  const into = new Set<string>();
  for (const other of table.active()) {
    if (other.id !== id && other.consumes.some((i) => spec.provides.includes(i)) && !isTerminal(other.state))
      into.add(other.id);
  }
  if (into.size === 0) return undefined;
  // breadth-first from the new task over "waits for" edges; a path reaching a task that waits for it is a cycle
  const parent = new Map<string, string>();
  const queue: string[] = [];
  for (const next of waitsFor(fresh, table)) {
    if (!parent.has(next)) {
      parent.set(next, id);
      queue.push(next);
    }
  }
  while (queue.length) {
    const at = queue.shift() as string;
    if (into.has(at)) {
      const path = [at];
      for (let p = parent.get(at); p !== undefined && p !== id; p = parent.get(p)) path.unshift(p);
      return [id, ...path, id];
    }
    const task = table.get(at);
    if (!task || isTerminal(task.state)) continue;
    for (const next of waitsFor(task, table)) {
      if (next !== id && !parent.has(next)) {
        parent.set(next, at);
        queue.push(next);
      }
    }
  }
  return undefined;
}

/** Rule 4: unfinished tasks of the same project for the same reference. */
export function sameReference(task: Pick<Task, 'id' | 'project' | 'ref'>, table: TaskTable): Task[] {
  if (!task.ref) return [];
  const out: Task[] = [];
  for (const other of table.active()) {
    if (other.id !== task.id && other.project === task.project && other.ref === task.ref) out.push(other);
  }
  return out;
}
