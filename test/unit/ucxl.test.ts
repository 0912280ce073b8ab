// Tests for UCXL addresses (src/core/ucxl/address.ts): valid forms, one error per invalid part, matching,
// subject keys, temporal resolution, and fast-check properties (canonical round-trip, only UcxlError thrown).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChorusError, UsageError } from '../../src/core/errors.ts';
import {
  MAX_ADDRESS_LENGTH,
  MAX_VERSION,
  UcxlError,
  formatAddress,
  formatTemporal,
  isPattern,
  matches,
  parseAddress,
  requireDecisionPath,
  resolveTemporal,
  subjectKey,
} from '../../src/core/ucxl/address.ts';
import type { Temporal, UcxlAddress, UcxlPart } from '../../src/core/ucxl/address.ts';

const addr = (over: Partial<UcxlAddress> = {}): UcxlAddress => ({
  agent: 'alice',
  role: 'dev',
  project: 'chorus',
  task: 'build',
  temporal: { kind: 'latest' },
  path: '',
  ...over,
});

/** Asserts that `fn` throws a UcxlError for `part` with the given code, and returns it. */
function expectUcxl(
  fn: () => unknown,
  part: UcxlPart,
  code: 'UCXL-400-INVALID_ADDRESS' | 'UCXL-400-TEMPORAL_INVALID',
  fragment?: string,
): UcxlError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UcxlError, `expected UcxlError, got ${String(caught)}`);
  assert.equal(caught.part, part, caught.message);
  assert.equal(caught.ucxlCode, code, caught.message);
  assert.equal(caught.code, code);
  assert.ok(caught.message.startsWith(`${code}: `), caught.message);
  assert.ok(caught.message.includes(part), `message should name the part "${part}": ${caught.message}`);
  if (fragment !== undefined) assert.ok(caught.message.includes(fragment), caught.message);
  return caught;
}

test('parses a plain address with every field', () => {
  assert.deepEqual(parseAddress('ucxl://alice:dev@chorus:build/*^/src/main.ts'), {
    agent: 'alice',
    role: 'dev',
    project: 'chorus',
    task: 'build',
    temporal: { kind: 'latest' },
    path: 'src/main.ts',
  });
});

test('parses every temporal form', () => {
  const cases: Array<[string, Temporal]> = [
    ['*^', { kind: 'latest' }],
    ['*~', { kind: 'first' }],
    ['*~1', { kind: 'version', version: 1 }],
    ['*~42', { kind: 'version', version: 42 }],
    ['*~2147483647', { kind: 'version', version: MAX_VERSION }],
    ['~~1', { kind: 'back', steps: 1 }],
    ['~~10', { kind: 'back', steps: 10 }],
    ['^^1', { kind: 'forward', steps: 1 }],
    ['^^305', { kind: 'forward', steps: 305 }],
  ];
  for (const [text, temporal] of cases) {
    const input = `ucxl://a:b@c:d/${text}/x`;
    const parsed = parseAddress(input);
    assert.deepEqual(parsed.temporal, temporal, text);
    assert.equal(formatTemporal(temporal), text);
    assert.equal(formatAddress(parsed), input);
  }
});

test('parses wildcards, empty paths and deep paths', () => {
  const wild = parseAddress('ucxl://any:any@any:any/*^');
  assert.deepEqual(wild, addr({ agent: 'any', role: 'any', project: 'any', task: 'any' }));
  assert.equal(isPattern(wild), true);
  assert.equal(isPattern(parseAddress('ucxl://alice:any@chorus:build/*^')), true);
  assert.equal(isPattern(parseAddress('ucxl://alice:dev@chorus:build/*^')), false);
  // "ANY" is an ordinary name, not the wildcard.
  assert.equal(isPattern(parseAddress('ucxl://ANY:Any@aNy:anyx/*^')), false);

  assert.equal(parseAddress('ucxl://alice:dev@chorus:build/*~').path, '');
  const deep = parseAddress('ucxl://agent_7:code-review@Proj-1:T_2/~~3/a/b.c/d_e/.hidden/f-g/x..y/v1.2.3.tar.gz');
  assert.equal(deep.path, 'a/b.c/d_e/.hidden/f-g/x..y/v1.2.3.tar.gz');
  assert.deepEqual(deep.temporal, { kind: 'back', steps: 3 });
  assert.equal(
    formatAddress(deep),
    'ucxl://agent_7:code-review@Proj-1:T_2/~~3/a/b.c/d_e/.hidden/f-g/x..y/v1.2.3.tar.gz',
  );
  assert.equal(parseAddress('ucxl://a:b@c:d/*^/...').path, '...');
});

test('accepts exactly MAX_ADDRESS_LENGTH characters and no more', () => {
  const head = 'ucxl://a:b@c:d/*^/';
  const ok = head + 'p'.repeat(MAX_ADDRESS_LENGTH - head.length);
  assert.equal(ok.length, MAX_ADDRESS_LENGTH);
  assert.equal(formatAddress(parseAddress(ok)), ok);
  expectUcxl(() => parseAddress(`${ok}p`), 'length', 'UCXL-400-INVALID_ADDRESS', '1025 characters');
  expectUcxl(() => formatAddress(addr({ path: 'p'.repeat(MAX_ADDRESS_LENGTH) })), 'length', 'UCXL-400-INVALID_ADDRESS');
});

test('the error carries the documented message, code and exit kind', () => {
  const err = expectUcxl(
    () => parseAddress('ucxl://alice:dev ops@chorus:build/*^'),
    'role',
    'UCXL-400-INVALID_ADDRESS',
  );
  assert.equal(
    err.message,
    'UCXL-400-INVALID_ADDRESS: invalid role "dev ops" in ucxl://alice:dev ops@chorus:build/*^: ' +
      'use letters, digits, "_" and "-", or "any"',
  );
  assert.ok(err instanceof UsageError);
  assert.ok(err instanceof ChorusError);
  assert.equal(err.kind, 'usage');
  assert.equal(err.name, 'UcxlError');
});

test('each invalid part gets its own message and code', () => {
  const A = 'UCXL-400-INVALID_ADDRESS';
  const T = 'UCXL-400-TEMPORAL_INVALID';
  const cases: Array<[string, UcxlPart, typeof A | typeof T, string]> = [
    // scheme
    ['', 'scheme', A, 'invalid scheme'],
    ['http://alice:dev@chorus:build/*^', 'scheme', A, 'invalid scheme'],
    ['UCXL://alice:dev@chorus:build/*^', 'scheme', A, 'invalid scheme'],
    ['ucxl:/alice:dev@chorus:build/*^', 'scheme', A, 'invalid scheme'],
    ['alice:dev@chorus:build/*^', 'scheme', A, 'invalid scheme'],
    // structure
    ['ucxl://', 'agent', A, 'missing agent'],
    ['ucxl:///*^', 'agent', A, 'missing agent'],
    ['ucxl://alice/*^', 'role', A, 'missing role'],
    ['ucxl://alice@chorus:build/*^', 'role', A, 'missing role'],
    ['ucxl://alice:dev/*^/x', 'project', A, 'missing project'],
    ['ucxl://alice:dev:chorus:build/*^', 'project', A, 'no "@"'],
    ['ucxl://alice:dev@chorus/*^', 'task', A, 'missing task'],
    // bad characters and empty fields
    ['ucxl://al ice:dev@chorus:build/*^', 'agent', A, 'invalid agent "al ice"'],
    ['ucxl://:dev@chorus:build/*^', 'agent', A, 'empty agent'],
    ['ucxl://alice.b:dev@chorus:build/*^', 'agent', A, 'invalid agent "alice.b"'],
    ['ucxl://alice:@chorus:build/*^', 'role', A, 'empty role'],
    ['ucxl://alice:dev:ops@chorus:build/*^', 'role', A, 'invalid role "dev:ops"'],
    ['ucxl://alice:dév@chorus:build/*^', 'role', A, 'invalid role "dév"'],
    ['ucxl://alice:dev@:build/*^', 'project', A, 'empty project'],
    ['ucxl://alice:dev@cho$rus:build/*^', 'project', A, 'invalid project "cho$rus"'],
    ['ucxl://alice:dev@a@b:build/*^', 'project', A, 'invalid project "a@b"'],
    ['ucxl://alice:dev@chorus:/*^', 'task', A, 'empty task'],
    ['ucxl://alice:dev@chorus:bu*ld/*^', 'task', A, 'invalid task "bu*ld"'],
    ['ucxl://alice:dev@chorus:build?x=1/*^', 'task', A, 'invalid task "build?x=1"'],
    // temporal
    ['ucxl://alice:dev@chorus:build', 'temporal', T, 'missing temporal'],
    ['ucxl://alice:dev@chorus:build/', 'temporal', T, 'missing temporal'],
    ['ucxl://alice:dev@chorus:build//x', 'temporal', T, 'missing temporal'],
    ['ucxl://alice:dev@chorus:build/*~0', 'temporal', T, 'versions start at 1'],
    ['ucxl://alice:dev@chorus:build/*~01', 'temporal', T, 'leading zeros'],
    ['ucxl://alice:dev@chorus:build/*~007/x', 'temporal', T, 'leading zeros'],
    ['ucxl://alice:dev@chorus:build/~~0', 'temporal', T, 'at least 1'],
    ['ucxl://alice:dev@chorus:build/^^0', 'temporal', T, 'at least 1'],
    ['ucxl://alice:dev@chorus:build/^^x', 'temporal', T, 'expected a number after "^^"'],
    ['ucxl://alice:dev@chorus:build/~~', 'temporal', T, 'expected a number after "~~"'],
    ['ucxl://alice:dev@chorus:build/^^', 'temporal', T, 'expected a number after "^^"'],
    ['ucxl://alice:dev@chorus:build/*~-1', 'temporal', T, 'expected a number'],
    ['ucxl://alice:dev@chorus:build/*~1.5', 'temporal', T, 'expected a number'],
    ['ucxl://alice:dev@chorus:build/*~9007199254740992', 'temporal', T, 'too large'],
    // beyond any version a decision can reach: bad input (exit 2), not "not found"
    ['ucxl://alice:dev@chorus:build/*~2147483648', 'temporal', T, 'no decision has more than 2147483647 versions'],
    ['ucxl://a:b@c:d/~~999999999999/x', 'temporal', T, 'too large'],
    ['ucxl://a:b@c:d/^^2147483648/x', 'temporal', T, 'too large'],
    ['ucxl://alice:dev@chorus:build/**', 'temporal', T, 'unknown marker'],
    ['ucxl://alice:dev@chorus:build/*^1', 'temporal', T, 'takes no number'],
    ['ucxl://alice:dev@chorus:build/latest/x', 'temporal', T, 'unknown marker'],
    ['ucxl://alice:dev@chorus:build/~1', 'temporal', T, 'unknown marker'],
    ['ucxl://alice:dev@chorus:build/^', 'temporal', T, 'unknown marker'],
    // path
    ['ucxl://alice:dev@chorus:build/*^/', 'path', A, 'trailing "/"'],
    ['ucxl://alice:dev@chorus:build/*^/a/', 'path', A, 'trailing "/"'],
    ['ucxl://alice:dev@chorus:build/*^/a/../b', 'path', A, '".." segments'],
    ['ucxl://alice:dev@chorus:build/*^/..', 'path', A, '".." segments'],
    ['ucxl://alice:dev@chorus:build/*^/a/./b', 'path', A, '"." segments'],
    ['ucxl://alice:dev@chorus:build/*^/my file.txt', 'path', A, 'invalid path "my file.txt"'],
    ['ucxl://alice:dev@chorus:build/*^/a//b', 'path', A, 'empty segments'],
    ['ucxl://alice:dev@chorus:build/*^//a', 'path', A, 'empty segments'],
    ['ucxl://alice:dev@chorus:build/*^/a?b', 'path', A, 'invalid path'],
    ['ucxl://alice:dev@chorus:build/*^/a\\b', 'path', A, 'invalid path'],
    ['ucxl://alice:dev@chorus:build/*^/naïve', 'path', A, 'invalid path'],
    // length
    [`ucxl://alice:dev@chorus:build/*^/${'x'.repeat(2000)}`, 'length', A, 'at most 1024'],
  ];
  for (const [input, part, code, fragment] of cases) {
    expectUcxl(() => parseAddress(input), part, code, fragment);
  }
});

test('messages stay on one line and are bounded for hostile input', () => {
  const err = expectUcxl(
    () => parseAddress(`ucxl://alice:dev\nops\u2028@chorus:build/*^`),
    'role',
    'UCXL-400-INVALID_ADDRESS',
  );
  assert.ok(!/[\n\r\u2028\u2029]/.test(err.message), err.message);
  assert.ok(err.message.includes('\\u000a'), err.message);
  const long = expectUcxl(() => parseAddress(`ftp://${'z'.repeat(1000)}`), 'scheme', 'UCXL-400-INVALID_ADDRESS');
  assert.ok(long.message.length < 400, `message too long: ${long.message.length}`);
});

test('every control character, line separator and lone surrogate is escaped in a message; a pair is kept', () => {
  const escaped = ['\u0000', '\u001f', '\u007f', '\u0085', '\u009f', '\u2028', '\u2029', '\ud800', '\udfff'];
  for (const c of escaped) {
    const err = expectUcxl(
      () => parseAddress(`ucxl://alice:d${c}v@chorus:build/*^`),
      'role',
      'UCXL-400-INVALID_ADDRESS',
    );
    const code = `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    assert.ok(err.message.includes(code) && !err.message.includes(c), `${code}: ${err.message}`);
  }
  const pair = expectUcxl(
    () => parseAddress('ucxl://alice:d\u{1f600}v@chorus:build/*^'),
    'role',
    'UCXL-400-INVALID_ADDRESS',
  );
  assert.ok(pair.message.includes('d\u{1f600}v'), pair.message);
});

test('formatAddress and formatTemporal validate what they are given', () => {
  expectUcxl(() => formatAddress(addr({ agent: 'a b' })), 'agent', 'UCXL-400-INVALID_ADDRESS');
  expectUcxl(() => formatAddress(addr({ role: '' })), 'role', 'UCXL-400-INVALID_ADDRESS', 'empty role');
  expectUcxl(() => formatAddress(addr({ project: 'x/y' })), 'project', 'UCXL-400-INVALID_ADDRESS');
  expectUcxl(() => formatAddress(addr({ task: 'a:b' })), 'task', 'UCXL-400-INVALID_ADDRESS');
  expectUcxl(() => formatAddress(addr({ path: '/abs' })), 'path', 'UCXL-400-INVALID_ADDRESS');
  expectUcxl(() => formatAddress(addr({ path: 'dir/' })), 'path', 'UCXL-400-INVALID_ADDRESS');
  expectUcxl(() => formatAddress(addr({ path: 'a/../b' })), 'path', 'UCXL-400-INVALID_ADDRESS');
  for (const t of [
    { kind: 'version', version: 0 },
    { kind: 'version', version: 1.5 },
    { kind: 'back', steps: 0 },
    { kind: 'forward', steps: -1 },
    { kind: 'forward', steps: Number.NaN },
    { kind: 'version', version: 2 ** 53 },
    { kind: 'version', version: MAX_VERSION + 1 },
    { kind: 'back', steps: 999_999_999_999 },
    { kind: 'someday' },
  ] as unknown as Temporal[]) {
    expectUcxl(() => formatTemporal(t), 'temporal', 'UCXL-400-TEMPORAL_INVALID');
    expectUcxl(() => formatAddress(addr({ temporal: t })), 'temporal', 'UCXL-400-TEMPORAL_INVALID');
    expectUcxl(() => resolveTemporal(t, [1, 2, 3]), 'temporal', 'UCXL-400-TEMPORAL_INVALID');
  }
});

test('a decision address needs a path; a listing pattern does not', () => {
  const input = 'ucxl://a:b@c:d/*^';
  const err = expectUcxl(() => requireDecisionPath(parseAddress(input)), 'path', 'UCXL-400-INVALID_ADDRESS');
  assert.equal(err.kind, 'usage');
  assert.match(err.message, /missing path in ucxl:\/\/a:b@c:d\/\*\^: .* e\.g\. ucxl:\/\/a:b@c:d\/\*\^\/adr\/1\.md/);
  assert.equal(requireDecisionPath(parseAddress(`${input}/adr/1.md`)).path, 'adr/1.md');
  assert.equal(parseAddress('ucxl://any:any@c:any/*^').path, '', 'patterns parse without a path');
});

test('matches: wildcards, exact fields and path subtrees; temporal is ignored', () => {
  const p = (s: string): UcxlAddress => parseAddress(s);
  const target = p('ucxl://alice:dev@chorus:build/*~3/src/core/log.ts');

  assert.equal(matches(p('ucxl://any:any@any:any/*^'), target), true);
  assert.equal(matches(p('ucxl://alice:dev@chorus:build/*^/src/core/log.ts'), target), true);
  assert.equal(matches(p('ucxl://alice:any@chorus:any/~~2'), target), true);
  assert.equal(matches(p('ucxl://bob:any@any:any/*^'), target), false);
  assert.equal(matches(p('ucxl://any:ops@any:any/*^'), target), false);
  assert.equal(matches(p('ucxl://any:any@other:any/*^'), target), false);
  assert.equal(matches(p('ucxl://any:any@any:test/*^'), target), false);

  // Paths: '' matches everything, P matches P and P/…, never a sibling sharing a prefix.
  assert.equal(matches(p('ucxl://any:any@any:any/*^/src'), target), true);
  assert.equal(matches(p('ucxl://any:any@any:any/*^/src/core'), target), true);
  assert.equal(matches(p('ucxl://any:any@any:any/*^/src/co'), target), false);
  assert.equal(matches(p('ucxl://any:any@any:any/*^/src/core/log.ts/x'), target), false);
  assert.equal(matches(p('ucxl://any:any@any:any/*^/docs'), target), false);
  assert.equal(matches(p('ucxl://any:any@any:any/*^/src'), p('ucxl://a:b@c:d/*^')), false);

  // `any` in the candidate is a literal: only a wildcard pattern matches it.
  const wildTarget = p('ucxl://any:dev@chorus:build/*^');
  assert.equal(matches(p('ucxl://alice:dev@chorus:build/*^'), wildTarget), false);
  assert.equal(matches(p('ucxl://any:dev@chorus:build/*^'), wildTarget), true);
});

test('subjectKey drops the temporal part and is distinct per subject', () => {
  assert.equal(
    subjectKey(parseAddress('ucxl://alice:dev@chorus:build/*~3/src/a.ts')),
    'alice:dev@chorus:build/src/a.ts',
  );
  assert.equal(
    subjectKey(parseAddress('ucxl://alice:dev@chorus:build/^^2/src/a.ts')),
    'alice:dev@chorus:build/src/a.ts',
  );
  assert.equal(subjectKey(parseAddress('ucxl://alice:dev@chorus:build/*^')), 'alice:dev@chorus:build');
  assert.notEqual(
    subjectKey(parseAddress('ucxl://alice:dev@chorus:build/*^/a')),
    subjectKey(parseAddress('ucxl://alice:dev@chorus:build/*^')),
  );
});

test('resolveTemporal on known version lists', () => {
  const v = [1, 2, 3, 5, 8];
  assert.equal(resolveTemporal({ kind: 'latest' }, v), 8);
  assert.equal(resolveTemporal({ kind: 'first' }, v), 1);
  assert.equal(resolveTemporal({ kind: 'first' }, [4, 9]), 4);
  assert.equal(resolveTemporal({ kind: 'version', version: 5 }, v), 5);
  assert.equal(resolveTemporal({ kind: 'version', version: 4 }, v), undefined);
  assert.equal(resolveTemporal({ kind: 'version', version: 9 }, v), undefined);
  // back: counts entries back from the latest.
  assert.equal(resolveTemporal({ kind: 'back', steps: 1 }, v), 5);
  assert.equal(resolveTemporal({ kind: 'back', steps: 4 }, v), 1);
  assert.equal(resolveTemporal({ kind: 'back', steps: 5 }, v), undefined);
  assert.equal(resolveTemporal({ kind: 'back', steps: 100 }, v), undefined);
  // forward: counts entries forward from base (default: the first version).
  assert.equal(resolveTemporal({ kind: 'forward', steps: 1 }, v), 2);
  assert.equal(resolveTemporal({ kind: 'forward', steps: 4 }, v), 8);
  assert.equal(resolveTemporal({ kind: 'forward', steps: 5 }, v), undefined);
  assert.equal(resolveTemporal({ kind: 'forward', steps: 1 }, v, 3), 5);
  assert.equal(resolveTemporal({ kind: 'forward', steps: 2 }, v, 3), 8);
  assert.equal(resolveTemporal({ kind: 'forward', steps: 3 }, v, 3), undefined);
  assert.equal(resolveTemporal({ kind: 'forward', steps: 1 }, v, 4), undefined, 'base not among versions');
  // Nothing resolves against no versions.
  for (const t of [
    { kind: 'latest' },
    { kind: 'first' },
    { kind: 'version', version: 1 },
    { kind: 'back', steps: 1 },
    { kind: 'forward', steps: 1 },
  ] as Temporal[]) {
    assert.equal(resolveTemporal(t, []), undefined, formatTemporal(t));
  }
  assert.equal(resolveTemporal({ kind: 'latest' }, [7]), 7);
  assert.equal(resolveTemporal({ kind: 'back', steps: 1 }, [7]), undefined);
});

// ---- properties ----

const fieldArb = fc.oneof(fc.constant('any'), fc.stringMatching(/^[a-zA-Z0-9_-]{1,24}$/));
const segmentArb = fc.stringMatching(/^[a-zA-Z0-9_.-]{1,16}$/).filter((s) => s !== '.' && s !== '..');
const pathArb = fc.array(segmentArb, { maxLength: 10 }).map((segs) => segs.join('/'));
const countArb = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: MAX_VERSION }));
const temporalArb: fc.Arbitrary<Temporal> = fc.oneof(
  fc.constant({ kind: 'latest' as const }),
  fc.constant({ kind: 'first' as const }),
  countArb.map((version) => ({ kind: 'version' as const, version })),
  countArb.map((steps) => ({ kind: 'back' as const, steps })),
  countArb.map((steps) => ({ kind: 'forward' as const, steps })),
);
const addressArb: fc.Arbitrary<UcxlAddress> = fc
  .record({
    agent: fieldArb,
    role: fieldArb,
    project: fieldArb,
    task: fieldArb,
    temporal: temporalArb,
    path: pathArb,
  })
  .map((r) => ({ ...r })); // fc.record builds null-prototype objects; deepEqual compares prototypes

/** Parses, and checks that anything thrown is a well-formed UcxlError and anything accepted is canonical. */
function parseChecked(input: string): void {
  let parsed: UcxlAddress;
  try {
    parsed = parseAddress(input);
  } catch (err) {
    assert.ok(err instanceof UcxlError, `non-UcxlError for ${JSON.stringify(input)}: ${String(err)}`);
    assert.equal(err.code, err.ucxlCode);
    assert.ok(err.message.startsWith(`${err.ucxlCode}: `));
    assert.ok(err.message.includes(err.part), err.message);
    assert.ok(!/[\n\r\u2028\u2029]/.test(err.message), err.message);
    return;
  }
  assert.equal(formatAddress(parsed), input, 'every accepted address is canonical');
}

test('property: valid components round-trip through format and parse', () => {
  fc.assert(
    fc.property(addressArb, (a) => {
      const text = formatAddress(a);
      const parsed = parseAddress(text);
      assert.deepEqual(parsed, a);
      assert.equal(formatAddress(parsed), text);
      assert.equal(isPattern(parsed), [a.agent, a.role, a.project, a.task].includes('any'));
      assert.equal(matches(parsed, parsed), true);
      assert.equal(matches(addr({ agent: 'any', role: 'any', project: 'any', task: 'any' }), parsed), true);
      assert.equal(subjectKey(parsed), subjectKey({ ...parsed, temporal: { kind: 'first' } }));
      const key = `${a.agent}:${a.role}@${a.project}:${a.task}`;
      assert.equal(subjectKey(parsed), a.path === '' ? key : `${key}/${a.path}`);
    }),
    { numRuns: 500 },
  );
});

test('property: arbitrary strings only ever throw UcxlError', () => {
  fc.assert(fc.property(fc.string(), parseChecked), { numRuns: 300 });
  fc.assert(fc.property(fc.string({ unit: 'binary' }), parseChecked), { numRuns: 300 });
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), parseChecked), { numRuns: 200 });
  fc.assert(
    fc.property(fc.nat({ max: 7 }), fc.string({ unit: 'binary' }), (n, tail) =>
      parseChecked('ucxl://'.slice(0, n) + tail),
    ),
    { numRuns: 300 },
  );
});

test('property: ucxl-shaped noise is rejected cleanly or accepted canonically', () => {
  const noiseChar = fc.constantFrom('a', 'Z', '7', '0', '_', '-', ':', '@', '/', '*', '^', '~', '.', ' ', 'é', '\n');
  fc.assert(
    fc.property(fc.string({ unit: noiseChar, maxLength: 40 }), (tail) => parseChecked(`ucxl://${tail}`)),
    { numRuns: 1000 },
  );
  // Single-character edits of valid addresses.
  fc.assert(
    fc.property(addressArb, fc.nat(), noiseChar, fc.boolean(), (a, at, ch, replace) => {
      const text = formatAddress(a);
      const i = at % (text.length + 1);
      parseChecked(text.slice(0, i) + ch + text.slice(replace ? i + 1 : i));
    }),
    { numRuns: 1000 },
  );
});
