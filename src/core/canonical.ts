// Canonical JSON, the one byte form chorus signs and hashes (a foundation module: every layer uses it):
// RFC 8785 (JSON Canonicalization Scheme) through the `canonicalize` package — keys sorted by UTF-16 code
// units, ECMAScript number form, no whitespace — so a signature can be checked by any JCS implementation.
import canonicalize from 'canonicalize';

/** The RFC 8785 form of a JSON value; throws a TypeError for what JSON cannot carry (undefined, NaN, cycles). */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new TypeError(`not canonical JSON: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new TypeError('not canonical JSON: the value has no JSON form');
  return text;
}

/** What is signed: `<domain>\n<canonical JSON>` as UTF-8, so a signature made for one purpose never fits another. */
export function signedBytes(domain: string, value: unknown): Buffer {
  return Buffer.from(`${domain}\n${canonicalJson(value)}`, 'utf8');
}
