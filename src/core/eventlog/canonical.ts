// canonicalJson: the deterministic JSON the event log hashes and other modules sign (decision records).
// Left as it is on purpose: switching to RFC 8785 (the `canonicalize` package) changes every entry hash, so
// it waits for the shared src/core/crypto/canonical.ts (issue #18 item 5) and a format version bump.
import { ChorusError } from '../errors.ts';

/**
 * Deterministic JSON: exactly what `JSON.stringify` produces (toJSON honoured, undefined/functions dropped from
 * objects and nulled in arrays, non-finite numbers → null), except that object keys are sorted recursively by
 * UTF-16 code unit and there is never any whitespace. Throws on BigInt, cycles, and values with no JSON form.
 */
export function canonicalJson(value: unknown): string {
  const out = serialize(value, '', new Set());
  if (out === undefined) {
    throw new ChorusError('CANONICAL_JSON', `cannot encode ${typeof value} as JSON`, { kind: 'usage' });
  }
  return out;
}

function serialize(input: unknown, key: string, stack: Set<object>): string | undefined {
  let value = input;
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = (toJSON as (k: string) => unknown).call(value, key);
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) value = value.valueOf();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new ChorusError('CANONICAL_JSON', 'cannot encode a BigInt as JSON', { kind: 'usage' });
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (stack.has(obj))
    throw new ChorusError('CANONICAL_JSON', 'cannot encode a cyclic structure as JSON', { kind: 'usage' });
  stack.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item: unknown, i) => serialize(item, String(i), stack) ?? 'null').join(',')}]`;
    }
    const record = obj as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(record).sort()) {
      const encoded = serialize(record[k], k, stack);
      if (encoded !== undefined) parts.push(`${JSON.stringify(k)}:${encoded}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    stack.delete(obj);
  }
}
