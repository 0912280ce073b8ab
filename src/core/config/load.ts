// Builds the one typed config object: defaults < config file (YAML or JSON) < CHORUS_* env <
// assignment (from an assignment server, see src/core/ops/assign.ts) < flags.
// Unknown keys and wrong types are rejected with the key path (and the source) in the message; originOf()
// tells later checks (src/core/config/validate.ts) where any value came from: --listen, CHORUS_LISTEN,
// the config file, the assignment, or the default.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, describeError } from '../errors.ts';
import { defaultDataDir } from './client.ts';
import { configKeys, type ConfigKey } from './keys.ts';
import { configSchema, type ChorusConfig } from './schema.ts';

export type ConfigLayer = Record<string, unknown>;

export interface ConfigSources {
  /** Path of a YAML or JSON config file, if any. */
  file?: string;
  /** The environment to read CHORUS_* variables from. */
  env?: Record<string, string | undefined>;
  /** Values from command-line flags, as a nested object (highest precedence). */
  flags?: ConfigLayer;
  /** A runtime assignment (role, expertise, bootstrap …): above the file and env, below flags. */
  assignment?: ConfigLayer;
  /** Home directory for the default data dir. */
  home?: string;
  /** The command-line flag of each config key path set in `flags`, e.g. {"p2p.listen": "--listen"}. */
  flagNames?: Record<string, string>;
}

/** The layers a config was built from, to say where a value came from. */
interface Provenance {
  flags: ConfigLayer;
  flagNames: Record<string, string>;
  assignment: ConfigLayer;
  env: ConfigLayer;
  file?: string;
  fromFile: ConfigLayer;
}

const provenance = new WeakMap<object, Provenance>();

function hasPath(layer: ConfigLayer, parts: readonly string[]): boolean {
  let node: unknown = layer;
  for (const part of parts) {
    if (!isPlainObject(node) || !(part in node) || node[part] === undefined) return false;
    node = node[part];
  }
  return true;
}

function describeOrigin(p: Provenance | undefined, path: string, assignUrl?: string): string {
  const parts = path.split('.');
  const quoted = `config key "${path}"`;
  if (!p) return quoted;
  if (hasPath(p.flags, parts)) {
    const flag = Object.entries(p.flagNames).find(([k]) => path === k || path.startsWith(`${k}.`))?.[1];
    return flag ?? quoted;
  }
  if (hasPath(p.assignment, parts)) return `the assignment from ${assignUrl || 'the assignment server'} (${quoted})`;
  if (hasPath(p.env, parts)) {
    const env = configKeys().find((k) => path === k.path || path.startsWith(`${k.path}.`))?.env;
    return env ? `environment ${env} (${quoted})` : quoted;
  }
  if (p.file && hasPath(p.fromFile, parts)) return `config file ${p.file}: ${quoted}`;
  return `${quoted} (default)`;
}

/**
 * Where the value of a config key (a dotted path such as "p2p.listen") came from, for error messages:
 * "--listen", "environment CHORUS_LISTEN (config key "p2p.listen")", "config file x.yaml: config key …",
 * "the assignment from <url> (…)" or "config key "p2p.listen" (default)".
 */
export function originOf(config: ChorusConfig, path: string): string {
  return describeOrigin(provenance.get(config), path, config.assign?.url);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges plain objects; arrays and scalars in `over` replace those in `base`. */
export function mergeLayers(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  const out: ConfigLayer = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeLayers(out[k] as ConfigLayer, v) : v;
  }
  return out;
}

/** Sets `value` at a dotted path inside a nested layer object. */
export function setPath(layer: ConfigLayer, path: string, value: unknown): ConfigLayer {
  const parts = path.split('.');
  let node = layer;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as ConfigLayer;
  }
  node[parts[parts.length - 1] as string] = value;
  return layer;
}

function coerceEnv(k: ConfigKey, name: string, raw: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(
      `environment ${name} (config key ${k.path}): expected ${expected}, got ${JSON.stringify(raw)}`,
    );
  };
  switch (k.type) {
    case 'number': {
      const n = Number(raw);
      return raw.trim() !== '' && Number.isFinite(n) ? n : fail('a number');
    }
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      return fail('true or false');
    }
    case 'string[]':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'object[]':
    case 'map':
      try {
        return JSON.parse(raw);
      } catch {
        return fail(k.type === 'map' ? 'a JSON object' : 'a JSON array');
      }
    default:
      return raw;
  }
}

/** The layer made of CHORUS_* variables. Unknown CHORUS_* names are ignored (other tools share the prefix space). */
export function envLayer(env: Record<string, string | undefined>): ConfigLayer {
  const layer: ConfigLayer = {};
  for (const k of configKeys()) {
    if (!k.env) continue;
    const raw = env[k.env];
    if (raw === undefined || raw === '') continue;
    setPath(layer, k.path, coerceEnv(k, k.env, raw));
  }
  return layer;
}

export async function fileLayer(file: string): Promise<ConfigLayer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${describeError(err)}`, err);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML or JSON: ${describeError(err)}`, err);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) throw new ConfigError(`config file ${file} must hold a mapping of keys`);
  return parsed;
}

function formatIssue(issue: z.core.$ZodIssue, origin?: (path: string) => string): string {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `unknown config key "${at ? `${at}.` : ''}${k}"`).join('; ');
  }
  return `${origin && at ? origin(at) : `config key "${at || '(root)'}"`}: ${issue.message}`;
}

/** Validates a merged layer into the typed config. Pure: no I/O. */
export function validateConfig(layer: ConfigLayer, source?: string, origin?: (path: string) => string): ChorusConfig {
  const result = configSchema.safeParse(layer);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => formatIssue(i, origin)).join('; ');
  throw new ConfigError(source ? `${source}: ${lines}` : lines);
}

/** Resolves every layer and returns the validated config. */
export async function loadConfig(sources: ConfigSources = {}): Promise<ChorusConfig> {
  const env = sources.env ?? {};
  const file = sources.file ?? env.CHORUS_CONFIG;
  const fromFile = file ? await fileLayer(file) : {};
  if (file) validatePartial(fromFile, `config file ${file}`);
  const fromEnv = envLayer(env);
  const from: Provenance = {
    flags: sources.flags ?? {},
    flagNames: sources.flagNames ?? {},
    assignment: sources.assignment ?? {},
    env: fromEnv,
    file,
    fromFile,
  };
  let merged = mergeLayers({ dataDir: defaultDataDir(sources.home) }, fromFile);
  merged = mergeLayers(merged, fromEnv);
  merged = mergeLayers(merged, from.assignment);
  merged = mergeLayers(merged, from.flags);
  const assignUrl = (merged.assign as { url?: unknown } | undefined)?.url;
  const config = validateConfig(merged, undefined, (path) =>
    describeOrigin(from, path, typeof assignUrl === 'string' ? assignUrl : undefined),
  );
  const out = { ...config, dataDir: resolve(config.dataDir) };
  provenance.set(out, from);
  return out;
}

/** Checks a single layer for unknown keys and wrong types, naming its source. */
function validatePartial(layer: ConfigLayer, source: string): void {
  const result = configSchema.partial().safeParse(layer);
  if (!result.success) throw new ConfigError(`${source}: ${result.error.issues.map((i) => formatIssue(i)).join('; ')}`);
}
