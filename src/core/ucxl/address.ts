// UCXL addresses — `ucxl://agent:role@project:task/<temporal>/path` — parsed strictly into one canonical
// form (format(parse(x)) === x for every accepted x), matched against `any` patterns and resolved to versions.
import { UsageError } from '../errors.ts';

/**
 * The temporal selector, the first path segment:
 * `*^` latest, `*~` first, `*~N` version N (N ≥ 1), `~~N` N versions back from latest (N ≥ 1),
 * `^^N` N versions forward from a base version (N ≥ 1). Numbers are canonical: no leading zeros, no sign,
 * at most MAX_VERSION (a larger N can never name a version, so it is bad input, not "not found").
 */
export type Temporal =
  | { kind: 'latest' }
  | { kind: 'first' }
  | { kind: 'version'; version: number }
  | { kind: 'back'; steps: number }
  | { kind: 'forward'; steps: number };

/**
 * A parsed address. `path` has no leading or trailing "/" and is '' when the address has no path.
 * Any of agent/role/project/task may be the wildcard `any`.
 */
export interface UcxlAddress {
  agent: string;
  role: string;
  project: string;
  task: string;
  temporal: Temporal;
  path: string;
}

export type UcxlCode = 'UCXL-400-INVALID_ADDRESS' | 'UCXL-400-TEMPORAL_INVALID';
export type UcxlPart = 'scheme' | 'agent' | 'role' | 'project' | 'task' | 'temporal' | 'path' | 'length';

/** A malformed address or temporal selector. The message names the part; `code` equals `ucxlCode`. */
export class UcxlError extends UsageError {
  readonly ucxlCode: UcxlCode;
  readonly part: UcxlPart;

  constructor(ucxlCode: UcxlCode, part: UcxlPart, detail: string) {
    super(`${ucxlCode}: ${detail}`, ucxlCode);
    this.name = 'UcxlError';
    this.ucxlCode = ucxlCode;
    this.part = part;
  }
}

export const UCXL_SCHEME = 'ucxl://';
/** Maximum length of a whole address, in characters (every valid address is ASCII, so also in bytes). */
export const MAX_ADDRESS_LENGTH = 1024;
/**
 * The highest version a decision can reach (2^31 − 1, a signed 32-bit integer everywhere): the record
 * format refuses larger versions, so a selector beyond it is malformed rather than merely unresolved.
 */
export const MAX_VERSION = 2 ** 31 - 1;
/** The wildcard accepted in place of agent, role, project or task. */
export const WILDCARD = 'any';

const FIELD_RE = /^[a-zA-Z0-9_-]+$/;
const PATH_RE = /^[a-zA-Z0-9_\-/.]*$/;
const NUMBER_RE = /^[0-9]+$/;
const FIELD_HINT = 'use letters, digits, "_" and "-", or "any"';
const TEMPORAL_HINT = 'use "*^" (latest), "*~" (first), "*~N" (version N), "~~N" (N back) or "^^N" (N forward)';
const SHAPE_HINT = `expected ${UCXL_SCHEME}agent:role@project:task/<temporal>/path`;
const SHOW_MAX = 120;

type FieldName = 'agent' | 'role' | 'project' | 'task';

/** Truncates and escapes control characters and lone surrogates so a message stays on one line. */
function show(s: string): string {
  const cut = s.length > SHOW_MAX ? `${s.slice(0, SHOW_MAX)}…` : s;
  if (!mayNeedEscape(cut)) return cut;
  return cut.replace(/[\p{Cc}\p{Cs}\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Whether `s` has a character that show() may escape: C0 and C1 controls, U+2028/9, or any surrogate (the pattern
 * then tells a lone one from a pair). Every parsed and formatted address builds its error text, so the common case
 * skips the Unicode-property pattern, whose first use in a process costs ~0.2 ms.
 */
function mayNeedEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff) || c === 0x2028 || c === 0x2029) {
      return true;
    }
  }
  return false;
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `"${show(value).replace(/"/g, '\\"')}"` : String(value);
}

function invalid(part: UcxlPart, detail: string): UcxlError {
  return new UcxlError('UCXL-400-INVALID_ADDRESS', part, detail);
}

function temporalError(detail: string): UcxlError {
  return new UcxlError('UCXL-400-TEMPORAL_INVALID', 'temporal', detail);
}

function checkField(part: FieldName, value: unknown, where: string): string {
  if (value === '') throw invalid(part, `empty ${part} in ${where}: ${FIELD_HINT}`);
  if (typeof value !== 'string' || !FIELD_RE.test(value)) {
    throw invalid(part, `invalid ${part} ${quote(value)} in ${where}: ${FIELD_HINT}`);
  }
  return value;
}

function checkPath(path: unknown, where: string): string {
  const bad = (why: string): UcxlError => invalid('path', `invalid path ${quote(path)} in ${where}: ${why}`);
  if (typeof path !== 'string') throw bad('the path must be a string');
  if (path === '') return path;
  if (!PATH_RE.test(path)) throw bad('use letters, digits, "_", "-", "." and "/"');
  if (path.endsWith('/')) throw bad('a trailing "/" is not allowed; write the path without it');
  const segments = path.split('/');
  if (segments.includes('')) throw bad('empty segments ("//" or a leading "/") are not allowed');
  if (segments.includes('..')) throw bad('".." segments are not allowed');
  if (segments.includes('.')) throw bad('"." segments are not allowed');
  return path;
}

/** Parses the N of `*~N`, `~~N`, `^^N`: canonical decimal, 1 ≤ N ≤ MAX_VERSION. */
function parseCount(raw: string, marker: string, text: string, where: string, zeroHint: string): number {
  const bad = (why: string): UcxlError => temporalError(`invalid temporal ${quote(text)} in ${where}: ${why}`);
  if (raw === '') throw bad(`expected a number after "${marker}"; ${TEMPORAL_HINT}`);
  if (!NUMBER_RE.test(raw)) throw bad(`expected a number after "${marker}", got ${quote(raw)}`);
  if (/^0+$/.test(raw)) throw bad(zeroHint);
  if (raw.startsWith('0')) throw bad('write the number without leading zeros');
  const n = Number(raw);
  if (!(n <= MAX_VERSION)) throw bad(`the number is too large: no decision has more than ${MAX_VERSION} versions`);
  return n;
}

function parseTemporalSegment(text: string, where: string): Temporal {
  if (text === '') throw temporalError(`missing temporal segment in ${where}: ${TEMPORAL_HINT}`);
  if (text === '*^') return { kind: 'latest' };
  if (text === '*~') return { kind: 'first' };
  const marker = text.slice(0, 2);
  const rest = text.slice(2);
  switch (marker) {
    case '*~':
      return { kind: 'version', version: parseCount(rest, marker, text, where, 'versions start at 1') };
    case '~~':
      return { kind: 'back', steps: parseCount(rest, marker, text, where, 'the step count must be at least 1') };
    case '^^':
      return { kind: 'forward', steps: parseCount(rest, marker, text, where, 'the step count must be at least 1') };
    case '*^':
      throw temporalError(`invalid temporal ${quote(text)} in ${where}: "*^" (latest) takes no number`);
    default:
      throw temporalError(`invalid temporal ${quote(text)} in ${where}: unknown marker; ${TEMPORAL_HINT}`);
  }
}

/** Parses an address strictly; only the canonical spelling is accepted. Throws UcxlError. */
export function parseAddress(input: string): UcxlAddress {
  if (typeof input !== 'string') throw invalid('scheme', `invalid scheme in ${quote(input)}: ${SHAPE_HINT}`);
  if (input.length > MAX_ADDRESS_LENGTH) {
    throw invalid(
      'length',
      `invalid length in ${show(input)}: ${input.length} characters, at most ${MAX_ADDRESS_LENGTH} allowed`,
    );
  }
  if (!input.startsWith(UCXL_SCHEME)) throw invalid('scheme', `invalid scheme in ${quote(input)}: ${SHAPE_HINT}`);
  const where = show(input);

  const body = input.slice(UCXL_SCHEME.length);
  const slash = body.indexOf('/');
  const authority = slash === -1 ? body : body.slice(0, slash);
  const at = authority.indexOf('@');
  const left = at === -1 ? authority : authority.slice(0, at);
  const leftColon = left.indexOf(':');
  if (left === '') throw invalid('agent', `missing agent in ${where}: ${SHAPE_HINT}`);
  if (leftColon === -1) throw invalid('role', `missing role in ${where}: ${SHAPE_HINT}`);
  if (at === -1) throw invalid('project', `missing project in ${where} (no "@"): ${SHAPE_HINT}`);
  const right = authority.slice(at + 1);
  const rightColon = right.indexOf(':');
  if (rightColon === -1) throw invalid('task', `missing task in ${where}: ${SHAPE_HINT}`);

  const agent = checkField('agent', left.slice(0, leftColon), where);
  const role = checkField('role', left.slice(leftColon + 1), where);
  const project = checkField('project', right.slice(0, rightColon), where);
  const task = checkField('task', right.slice(rightColon + 1), where);

  if (slash === -1) throw temporalError(`missing temporal segment in ${where}: ${TEMPORAL_HINT}`);
  const afterAuthority = body.slice(slash + 1);
  const nextSlash = afterAuthority.indexOf('/');
  const temporalText = nextSlash === -1 ? afterAuthority : afterAuthority.slice(0, nextSlash);
  const temporal = parseTemporalSegment(temporalText, where);

  let path = '';
  if (nextSlash !== -1) {
    path = afterAuthority.slice(nextSlash + 1);
    if (path === '') {
      throw invalid('path', `invalid path "/" in ${where}: a trailing "/" is not allowed; omit an empty path`);
    }
    checkPath(path, where);
  }
  return { agent, role, project, task, temporal, path };
}

function checkTemporal(t: Temporal, where: string): Temporal {
  const count = (n: unknown, what: string): void => {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_VERSION) {
      throw temporalError(
        `invalid temporal ${what} ${String(n)} in ${where}: must be an integer from 1 to ${MAX_VERSION}`,
      );
    }
  };
  switch (t?.kind) {
    case 'latest':
    case 'first':
      return t;
    case 'version':
      count(t.version, 'version');
      return t;
    case 'back':
    case 'forward':
      count(t.steps, `${t.kind} steps`);
      return t;
    default:
      throw temporalError(`invalid temporal ${quote(JSON.stringify(t) ?? String(t))} in ${where}: unknown kind`);
  }
}

/** The canonical text of a temporal selector, e.g. `*^`, `*~3`, `~~1`. Throws UcxlError if out of range. */
export function formatTemporal(t: Temporal): string {
  checkTemporal(t, 'temporal selector');
  switch (t.kind) {
    case 'latest':
      return '*^';
    case 'first':
      return '*~';
    case 'version':
      return `*~${t.version}`;
    case 'back':
      return `~~${t.steps}`;
    case 'forward':
      return `^^${t.steps}`;
  }
}

/** The canonical string of an address. Validates every part, so the result always parses back to `a`. */
export function formatAddress(a: UcxlAddress): string {
  const where = show(
    `${UCXL_SCHEME}${String(a.agent)}:${String(a.role)}@${String(a.project)}:${String(a.task)}/…` +
      (typeof a.path === 'string' && a.path !== '' ? `/${a.path}` : ''),
  );
  checkField('agent', a.agent, where);
  checkField('role', a.role, where);
  checkField('project', a.project, where);
  checkField('task', a.task, where);
  checkTemporal(a.temporal, where);
  checkPath(a.path, where);
  const text = `${UCXL_SCHEME}${a.agent}:${a.role}@${a.project}:${a.task}/${formatTemporal(a.temporal)}${
    a.path === '' ? '' : `/${a.path}`
  }`;
  if (text.length > MAX_ADDRESS_LENGTH) {
    throw invalid(
      'length',
      `invalid length in ${show(text)}: ${text.length} characters, at most ${MAX_ADDRESS_LENGTH} allowed`,
    );
  }
  return text;
}

/**
 * Checks that an address names one decision: a path is required (`…/*^/adr/1.md`), since a decision is
 * stored under its path. Patterns for listing (`ucxl ls`) may leave it out. Returns the address.
 */
export function requireDecisionPath(a: UcxlAddress, input = formatAddress(a)): UcxlAddress {
  if (a.path === '') {
    throw invalid(
      'path',
      `missing path in ${show(input)}: a decision address ends in a path, e.g. ${show(input)}/adr/1.md`,
    );
  }
  return a;
}

/** True when any of agent/role/project/task is the wildcard `any`. */
export function isPattern(a: UcxlAddress): boolean {
  return a.agent === WILDCARD || a.role === WILDCARD || a.project === WILDCARD || a.task === WILDCARD;
}

/**
 * Does `a` fall under `pattern`? A pattern field `any` matches any value; otherwise fields must be equal
 * (an `any` in `a` is only matched by `any`). Paths match by subtree: the pattern path '' matches every
 * path, and a pattern path P matches P itself and every path below it (`P/…`), never a sibling like `P2`.
 * The temporal selectors are not compared — use resolveTemporal to pick a version.
 */
export function matches(pattern: UcxlAddress, a: UcxlAddress): boolean {
  const field = (p: string, v: string): boolean => p === WILDCARD || p === v;
  if (!field(pattern.agent, a.agent) || !field(pattern.role, a.role)) return false;
  if (!field(pattern.project, a.project) || !field(pattern.task, a.task)) return false;
  return pattern.path === '' || a.path === pattern.path || a.path.startsWith(`${pattern.path}/`);
}

/**
 * The stable key of the "thing" an address names, without the temporal part: `agent:role@project:task/path`,
 * or `agent:role@project:task` when the path is empty.
 */
export function subjectKey(a: UcxlAddress): string {
  const base = `${a.agent}:${a.role}@${a.project}:${a.task}`;
  return a.path === '' ? base : `${base}/${a.path}`;
}

/**
 * Resolves a temporal selector against the available versions (ascending, each ≥ 1); returns the version
 * number or undefined when there is no such version. `back` counts entries of `versions` back from the last;
 * `forward` counts entries forward from `base` (default: the first version), and is undefined when `base`
 * is not in `versions`. Throws UcxlError for an out-of-range selector (e.g. steps 0).
 */
export function resolveTemporal(t: Temporal, versions: readonly number[], base?: number): number | undefined {
  checkTemporal(t, 'temporal selector');
  switch (t.kind) {
    case 'latest':
      return versions.at(-1);
    case 'first':
      return versions[0];
    case 'version':
      return versions.includes(t.version) ? t.version : undefined;
    case 'back': {
      const i = versions.length - 1 - t.steps;
      return i >= 0 ? versions[i] : undefined;
    }
    case 'forward': {
      if (versions.length === 0) return undefined;
      const from = versions.indexOf(base ?? (versions[0] as number));
      return from === -1 ? undefined : versions[from + t.steps];
    }
  }
}
