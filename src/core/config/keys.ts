// Walks the config schema into a flat list of keys (path, type, default, env, docs). The loader uses
// it to read CHORUS_* variables; the docs generator uses it to write docs/config.md.
import * as z from 'zod';
import { configSchema, type KeyMeta } from './schema.ts';

export type LeafType = 'string' | 'number' | 'boolean' | 'enum' | 'string[]' | 'object[]' | 'map';

export interface ConfigKey extends KeyMeta {
  path: string;
  type: LeafType;
  values?: readonly string[];
  default?: unknown;
}

interface Inner {
  _zod: { def: { type: string; innerType?: z.ZodType; defaultValue?: unknown; element?: z.ZodType } };
}

function metaOf(schema: z.ZodType): KeyMeta | undefined {
  return schema.meta() as KeyMeta | undefined;
}

function describeLeaf(schema: z.ZodType): { type: LeafType; values?: readonly string[] } {
  if (schema instanceof z.ZodString) return { type: 'string' };
  if (schema instanceof z.ZodNumber) return { type: 'number' };
  if (schema instanceof z.ZodBoolean) return { type: 'boolean' };
  if (schema instanceof z.ZodEnum) return { type: 'enum', values: schema.options as string[] };
  if (schema instanceof z.ZodRecord) return { type: 'map' };
  if (schema instanceof z.ZodArray) {
    return { type: schema.element instanceof z.ZodString ? 'string[]' : 'object[]' };
  }
  throw new Error(`unsupported config schema node ${(schema as unknown as Inner)._zod.def.type}`);
}

function walk(schema: z.ZodType, path: string[], out: ConfigKey[], meta?: KeyMeta, dflt?: unknown): void {
  meta = meta ?? metaOf(schema);
  const def = (schema as unknown as Inner)._zod.def;
  if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional') {
    const value = def.type === 'default' ? def.defaultValue : dflt;
    walk(def.innerType as z.ZodType, path, out, meta, value);
    return;
  }
  if (schema instanceof z.ZodObject) {
    for (const [name, child] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      walk(child, [...path, name], out);
    }
    return;
  }
  if (!meta) throw new Error(`config key ${path.join('.')} has no documentation`);
  out.push({ path: path.join('.'), ...describeLeaf(schema), ...meta, default: dflt });
}

let cached: ConfigKey[] | undefined;

/** Every leaf key of the configuration, in schema order. */
export function configKeys(): ConfigKey[] {
  if (!cached) {
    cached = [];
    walk(configSchema, [], cached);
  }
  return cached;
}
