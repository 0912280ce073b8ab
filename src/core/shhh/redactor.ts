// The SHHH Redactor: finds secrets in text and JSON-like values, replaces them with
// `[REDACTED:<rule>]`, reports findings (hashes, never secrets) and refuses content matching deny rules.
import { createHash } from 'node:crypto';
import { ChorusError } from '../errors.ts';
import type { RedactionRuleConfig } from '../config/schema.ts';
import { CleanTexts } from './clean-texts.ts';
import { LinearRules, compileRules } from './configured.ts';
import { BUILTIN_RULES, SECRET_KEY_NAME } from './rules.ts';
import type { RedactionRule, RuleInfo, Severity } from './rules.ts';

export interface RedactionFinding {
  rule: string;
  severity: Severity;
  tags: string[];
  action: 'redact' | 'deny';
  /** JSON path of the string within the value, e.g. "data.env[2].token", or "text". */
  location: string;
  /** Hex SHA-256 of the secret — never the secret itself. */
  sha256: string;
}

/** Content matched a deny rule. The message names the rule and location, never the secret. */
export class SecretDeniedError extends ChorusError {
  readonly finding: RedactionFinding;
  constructor(finding: RedactionFinding) {
    super('SHHH_DENIED', `refused by SHHH deny rule "${finding.rule}" at ${finding.location}`, { kind: 'error' });
    this.name = 'SecretDeniedError';
    this.finding = finding;
  }
}

export interface RedactorOptions {
  /** Extra rules from config (`shhh.rules`), applied after the built-ins. */
  rules?: RedactionRuleConfig[];
  /** Use the built-in rules and key-name redaction (default true). */
  builtins?: boolean;
}

/** A built-in rule with its own regex instance (exec state is per redactor) and `d` when a group is replaced. */
interface CompiledRule {
  rule: RedactionRule;
  re: RegExp;
  group: number;
}

/** The rules in force, in priority order: the built-ins (V8), then the configured ones (linear-time engine). */
interface RuleSet {
  builtins: CompiledRule[];
  configured: LinearRules;
}

interface Span {
  start: number;
  end: number;
  order: number;
}

/** Whole value replaced because its key name says it is a secret. */
const FIELD_RULE: RuleInfo = {
  name: 'secret-field',
  severity: 'high',
  tags: ['credential', 'field'],
  action: 'redact',
};

const MARKER_PREFIX = '[REDACTED:';
const MARKER = /\[REDACTED:[A-Za-z0-9_.-]+\]/g;
const WHOLE_MARKER = /^\[REDACTED:[A-Za-z0-9_.-]+\]$/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const marker = (rule: string): string => `${MARKER_PREFIX}${rule}]`;

function compile(rule: RedactionRule): CompiledRule {
  const group = rule.group ?? 0;
  let flags = rule.pattern.flags;
  if (!flags.includes('g')) flags += 'g';
  if (group > 0 && !flags.includes('d')) flags += 'd';
  return { rule, re: new RegExp(rule.pattern.source, flags), group };
}

function findingFor(rule: RuleInfo, location: string, secret: string): RedactionFinding {
  return {
    rule: rule.name,
    severity: rule.severity,
    tags: [...rule.tags],
    action: rule.action,
    location,
    sha256: sha256(secret),
  };
}

function childPath(parent: string, key: string): string {
  if (IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function isPlainRecord(value: object): value is Record<string, unknown> {
  return !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}

export class Redactor {
  #rules: RuleSet;
  /** Texts the current rules found nothing in (clean-texts.ts). */
  readonly #clean = new CleanTexts<RuleSet>();
  readonly #keyNames: boolean;
  readonly #builtins: boolean;

  constructor(options: RedactorOptions = {}) {
    this.#builtins = options.builtins ?? true;
    this.#configRules = options.rules ?? [];
    this.#rules = this.#compileAll(this.#configRules);
    this.#keyNames = this.#builtins;
  }

  #configRules: RedactionRuleConfig[];
  /** Extra rules set by the cluster leader (SHHH policy); while set they take the place of the configured ones. */
  #policyRules: RedactionRuleConfig[] | undefined;

  #compileAll(rules: RedactionRuleConfig[]): RuleSet {
    return {
      builtins: this.#builtins ? BUILTIN_RULES.map(compile) : [],
      configured: new LinearRules(compileRules(rules)),
    };
  }

  /**
   * Replaces the configured rules (SIGHUP). Throws, leaving the old rules in place, if one does not
   * compile. A leader's SHHH policy, when one is in force, stays in force.
   */
  setRules(rules: RedactionRuleConfig[]): void {
    const compiled = this.#compileAll(rules);
    this.#configRules = rules;
    if (!this.#policyRules) this.#rules = compiled;
  }

  /** Sets (or clears, with undefined) the extra rules of the leader's SHHH policy, which replace the configured ones. */
  setPolicyRules(rules: RedactionRuleConfig[] | undefined): void {
    this.#rules = this.#compileAll(rules ?? this.#configRules);
    this.#policyRules = rules;
  }

  /** Redacts secrets in text. Throws SecretDeniedError if a deny rule matches. */
  redactText(text: string, location = 'text'): { text: string; findings: RedactionFinding[] } {
    const findings: RedactionFinding[] = [];
    return { text: this.#redact(text, location, true, findings), findings };
  }

  /**
   * Deep-clones a JSON-like value redacting every string, and replacing whole any value whose key
   * name says it is a secret. Never mutates the input. Throws SecretDeniedError on deny rules.
   */
  redactValue<T>(value: T, location = 'value'): { value: T; findings: RedactionFinding[] } {
    const findings: RedactionFinding[] = [];
    const out = this.#walk(value, location, false, findings, new Set());
    return { value: out as T, findings };
  }

  /** Convenience for log lines: redacts, ignores deny (deny still redacts in logs), never throws. */
  scrubLine(line: string): string {
    try {
      return this.#redact(line, 'log', false, []);
    } catch {
      return marker('shhh-error');
    }
  }

  #walk(value: unknown, path: string, secret: boolean, findings: RedactionFinding[], ancestors: Set<object>): unknown {
    if (typeof value === 'string') {
      if (!secret) return this.#redact(value, path, true, findings);
      if (value === '' || WHOLE_MARKER.test(value)) return value;
      this.#redact(value, path, true, []); // deny rules still apply to fields replaced whole
      findings.push(findingFor(FIELD_RULE, path, value));
      return marker(FIELD_RULE.name);
    }
    if (typeof value === 'number') {
      if (!secret || !Number.isFinite(value)) return value;
      findings.push(findingFor(FIELD_RULE, path, String(value)));
      return marker(FIELD_RULE.name);
    }
    if (value === null || typeof value !== 'object') return value;
    if (ancestors.has(value)) return '[Circular]';
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return structuredClone(value);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      return this.#walk(toJSON.call(value) as unknown, path, secret, findings, ancestors);
    }
    ancestors.add(value);
    try {
      if (Array.isArray(value)) {
        return value.map((item, i) => this.#walk(item, `${path}[${i}]`, secret, findings, ancestors));
      }
      if (!isPlainRecord(value)) return value;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const isSecret = secret || (this.#keyNames && SECRET_KEY_NAME.test(key));
        const v = this.#walk(value[key], childPath(path, key), isSecret, findings, ancestors);
        if (key === '__proto__') {
          Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        } else {
          out[key] = v;
        }
      }
      return out;
    } finally {
      ancestors.delete(value);
    }
  }

  /**
   * Replaces every secret in `text`. Repeats until a pass finds nothing, so the result is a fixed
   * point (redacting it again changes nothing); existing markers are never matched. Each pass turns
   * at least one non-marker character into a marker, so the loop ends.
   */
  #redact(text: string, location: string, strict: boolean, findings: RedactionFinding[]): string {
    const rules = this.#rules;
    if (this.#clean.has(text, rules)) return text;
    let current = text;
    for (;;) {
      const spans = this.#scan(current);
      if (spans.length === 0) {
        this.#clean.add(current, rules);
        return current;
      }
      const kept = current.includes(MARKER_PREFIX) ? withoutMarkers(current, spans) : spans;
      if (kept.length === 0) return current;
      if (strict) {
        const deny = kept.filter((s) => this.#ruleAt(s).action === 'deny').sort((a, b) => a.start - b.start)[0];
        if (deny) {
          throw new SecretDeniedError(findingFor(this.#ruleAt(deny), location, current.slice(deny.start, deny.end)));
        }
      }
      current = this.#replace(current, kept, location, findings);
    }
  }

  #ruleAt(span: Span): RuleInfo {
    const { builtins, configured } = this.#rules;
    return span.order < builtins.length
      ? (builtins[span.order] as CompiledRule).rule
      : (configured.rules[span.order - builtins.length] as RuleInfo);
  }

  /** Every non-empty match of every rule, as [start, end) of the secret part. */
  #scan(text: string): Span[] {
    const spans: Span[] = [];
    const { builtins, configured } = this.#rules;
    configured.scan(text, (index, start, end) => spans.push({ start, end, order: builtins.length + index }));
    for (let order = 0; order < builtins.length; order++) {
      const { re, group } = builtins[order] as CompiledRule;
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        if (group === 0) {
          spans.push({ start: m.index, end: m.index + m[0].length, order });
          continue;
        }
        const at = m.indices?.[group];
        if (at && at[1] > at[0]) spans.push({ start: at[0], end: at[1], order });
      }
    }
    return spans;
  }

  /**
   * Chooses non-overlapping spans: leftmost first, then longest, then the earlier rule. A span that
   * starts inside a chosen one but runs past it extends it, so nothing of either secret survives.
   */
  #replace(text: string, spans: Span[], location: string, findings: RedactionFinding[]): string {
    spans.sort((a, b) => a.start - b.start || b.end - a.end || a.order - b.order);
    const chosen: Span[] = [];
    for (const s of spans) {
      const last = chosen[chosen.length - 1];
      if (last && s.start < last.end) {
        if (s.end > last.end) last.end = s.end;
        continue;
      }
      chosen.push({ ...s });
    }
    let out = '';
    let pos = 0;
    for (const s of chosen) {
      const rule = this.#ruleAt(s);
      findings.push(findingFor(rule, location, text.slice(s.start, s.end)));
      out += text.slice(pos, s.start) + marker(rule.name);
      pos = s.end;
    }
    return out + text.slice(pos);
  }
}

/** Drops spans that touch an existing `[REDACTED:…]` marker, so markers are never re-redacted. */
function withoutMarkers(text: string, spans: Span[]): Span[] {
  const starts: number[] = [];
  const ends: number[] = [];
  MARKER.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = MARKER.exec(text)) !== null) {
    starts.push(m.index);
    ends.push(m.index + m[0].length);
  }
  if (starts.length === 0) return spans;
  return spans.filter((s) => {
    // markers are sorted and disjoint: find the first one ending after the span starts
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ends[mid] as number) <= s.start) lo = mid + 1;
      else hi = mid;
    }
    return lo === starts.length || (starts[lo] as number) >= s.end;
  });
}
