// Configured SHHH rules (`shhh.rules`, and the rules of a SHHH policy the leader pushes to every node) compiled
// to a linear-time engine (re2js, RE2 semantics): no pattern can backtrack, so `(a+)+$` on a long line costs
// microseconds, not a cluster's CPU. RE2 has no lookahead and no backreferences: a pattern that needs them is
// refused with its rule named. The built-in rules stay on V8's engine (rules.ts): faster there, written to
// stay linear, and some need lookaround that RE2 lacks.
import { RE2JS, RE2JSException, RE2Set } from 're2js';
import type { RedactionRuleConfig } from '../config/schema.ts';
import { ConfigError, describeError } from '../errors.ts';
import type { RuleInfo } from './rules.ts';

/** A configured rule: replaces its whole match. */
export interface ConfiguredRule extends RuleInfo {
  pattern: RE2JS;
  /** The pattern as configured, and its JS-style flags. */
  source: string;
  flags: string;
}

/** Longest pattern accepted: matching costs the pattern's size times the input's. */
export const MAX_PATTERN_LENGTH = 4096;
/** Most rules in one set (config, or one leader policy). */
export const MAX_RULES = 256;

const FLAG_BITS: Record<string, number> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  u: 0, // RE2 always matches code points
};

/** How a rule is named in errors: `shhh.rules[2] ("codename")` for config. */
export type RuleLabel = (index: number, name: string) => string;
const configLabel: RuleLabel = (i, name) => `shhh.rules[${i}] ("${name}")`;

function compileOne(c: RedactionRuleConfig, where: string): ConfiguredRule {
  const flags = c.flags ?? '';
  if (!/^[imsu]*$/.test(flags)) throw new ConfigError(`${where}: regex flags may only be i, m, s, u (got "${flags}")`);
  if (c.pattern.length > MAX_PATTERN_LENGTH) {
    throw new ConfigError(`${where}: pattern is over ${MAX_PATTERN_LENGTH} characters`);
  }
  try {
    new RegExp(c.pattern, flags); // a JS pattern first: "invalid" means the same as everywhere else
  } catch (err) {
    throw new ConfigError(`${where}: invalid pattern: ${describeError(err)}`, err);
  }
  let pattern: RE2JS;
  try {
    const bits = [...new Set(flags)].reduce((b, f) => b | (FLAG_BITS[f] ?? 0), RE2JS.LOOKBEHINDS);
    pattern = RE2JS.compile(RE2JS.translateRegExp(c.pattern), bits);
  } catch (err) {
    const detail =
      err instanceof RE2JSException ? err.message.replace(/^error parsing regexp: /, '') : describeError(err);
    throw new ConfigError(
      `${where}: pattern not supported by the linear-time engine (RE2: no lookahead, no backreferences): ${detail}`,
      err,
    );
  }
  if (pattern.test('')) throw new ConfigError(`${where}: pattern matches the empty string`);
  return {
    name: c.name,
    pattern,
    source: c.pattern,
    flags: [...new Set(flags)].join(''),
    severity: c.severity ?? 'high',
    tags: [...(c.tags ?? [])],
    action: c.action ?? 'redact',
  };
}

/**
 * Compiles configured rules to the linear-time engine. A rule that does not compile, needs what RE2 lacks, is
 * too long or matches the empty string is a ConfigError naming it (`label`, default `shhh.rules[i] ("name")`).
 */
export function compileRules(config: RedactionRuleConfig[], label: RuleLabel = configLabel): ConfiguredRule[] {
  if (config.length > MAX_RULES) throw new ConfigError(`${config.length} rules: at most ${MAX_RULES} are accepted`);
  return config.map((c, i) => compileOne(c, label(i, c.name)));
}

/**
 * The configured rules of one redactor, scanned together: one pass of a combined automaton (RE2Set) says which
 * rules match a text at all — most texts hold no secret — and only those are run to find where.
 */
export class LinearRules {
  readonly rules: readonly ConfiguredRule[];
  readonly #set: RE2Set | undefined;
  readonly #all: number[];

  constructor(rules: readonly ConfiguredRule[]) {
    this.rules = rules;
    this.#all = rules.map((_, i) => i);
    this.#set = rules.length > 1 ? combined(rules) : undefined;
  }

  /** Calls `found` with every non-empty match of every rule, as [start, end) in UTF-16 units. */
  scan(text: string, found: (index: number, start: number, end: number) => void): void {
    if (this.rules.length === 0) return;
    const hits = this.#set ? this.#set.match(text) : this.#all;
    for (const index of hits) {
      const rule = this.rules[index] as ConfiguredRule;
      if (!this.#set && !rule.pattern.test(text)) continue; // the DFA's fast path, no positions
      const m = rule.pattern.matcher(text);
      while (m.find()) {
        const start = m.start();
        const end = m.end();
        if (end > start) found(index, start, end);
      }
    }
  }
}

/** All rules in one automaton, each with its own flags inline; undefined if RE2Set cannot hold them. */
function combined(rules: readonly ConfiguredRule[]): RE2Set | undefined {
  try {
    const set = new RE2Set(RE2Set.UNANCHORED, RE2JS.LOOKBEHINDS);
    for (const rule of rules) {
      const inline = rule.flags.replace(/u/g, '');
      const source = RE2JS.translateRegExp(rule.source);
      set.add(inline ? `(?${inline}:${source})` : source);
    }
    set.compile();
    return set;
  } catch {
    return undefined; // each rule is then tested on its own
  }
}
