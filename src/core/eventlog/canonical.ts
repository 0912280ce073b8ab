// The event log's canonical JSON: RFC 8785 (src/core/canonical.ts, the one canonical form chorus signs)
// for every value RFC 8785 can encode — which is every entry an outside tool can check — and, for the few values
// it refuses (a lone UTF-16 surrogate or a non-finite number inside a message a peer sent), the same rules made
// tolerant, so such a message is still logged rather than lost. For RFC 8785-encodable values both give the
// same bytes (a property test checks it), so logs written before RFC 8785 was adopted verify unchanged.
import { canonicalJson as rfc8785 } from '../canonical.ts';
import { ChorusError } from '../errors.ts';

/** RFC 8785, or its tolerant form for values RFC 8785 refuses (see the header). */
export function canonicalJson(value: unknown): string {
  try {
    return rfc8785(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return tolerantCanonicalJson(value);
  }
}

/**
 * Deterministic JSON: exactly what `JSON.stringify` produces (toJSON honoured, undefined/functions dropped from
 * objects and nulled in arrays, non-finite numbers → null), except that object keys are sorted recursively by
 * UTF-16 code unit and there is never any whitespace. Throws on BigInt, cycles, and values with no JSON form.
 */
export function tolerantCanonicalJson(value: unknown): string {
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
