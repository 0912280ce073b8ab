// Tests for the SHHH sentinel (src/core/shhh): the secret corpus, false positives on ordinary text,
// structured redaction, config rules (redact, deny, bad regex), idempotency and throughput.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ChorusError, ConfigError } from '../../src/core/errors.ts';
import type { RedactionRuleConfig } from '../../src/core/config/schema.ts';
import { RE2JS } from 're2js';
import { parsePolicy } from '../../src/core/election/leader-paths.ts';
import { compileRules, MAX_PATTERN_LENGTH, MAX_RULES } from '../../src/core/shhh/configured.ts';
import { BUILTIN_RULES } from '../../src/core/shhh/rules.ts';
import { CleanTexts } from '../../src/core/shhh/clean-texts.ts';
import { Redactor, SecretDeniedError } from '../../src/core/shhh/redactor.ts';
import type { RedactionFinding } from '../../src/core/shhh/redactor.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/shhh/${name}`, import.meta.url), 'utf8');
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
/** Corpus lines encode a newline as `\n` and a backslash as `\\`. */
const decode = (s: string): string => s.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));

interface CorpusEntry {
  rule: string;
  secret: string;
  line: string;
}

function loadCorpus(): CorpusEntry[] {
  return fixture('secrets.txt')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const parts = l.split('\t');
      assert.equal(parts.length, 3, `corpus line must be rule<TAB>secret<TAB>line: ${l.slice(0, 40)}`);
      const [rule, secret, line] = parts.map(decode) as [string, string, string];
      assert.ok(line.includes(secret), `corpus line must contain its secret (rule ${rule})`);
      return { rule, secret, line };
    });
}

const ordinaryLines = (): string[] =>
  fixture('ordinary.txt')
    .split('\n')
    .filter((l) => l !== '');

function rule(
  partial: Partial<RedactionRuleConfig> & Pick<RedactionRuleConfig, 'name' | 'pattern'>,
): RedactionRuleConfig {
  return { flags: '', severity: 'high', tags: [], action: 'redact', ...partial };
}

/** Every window of `size` characters of the secret (or the whole secret if shorter). */
function windows(secret: string, size: number): string[] {
  if (secret.length <= size) return [secret];
  const out: string[] = [];
  for (let i = 0; i + size <= secret.length; i++) out.push(secret.slice(i, i + size));
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

test('builtin rules are well formed: unique names, global regexes, valid groups', () => {
  const names = BUILTIN_RULES.map((r) => r.name);
  assert.equal(new Set(names).size, names.length);
  for (const r of BUILTIN_RULES) {
    assert.ok(r.pattern.global, `${r.name} must be global`);
    assert.match(r.name, /^[a-z0-9-]+$/);
    assert.equal(r.action, 'redact');
    assert.ok(['low', 'medium', 'high', 'critical'].includes(r.severity));
    assert.ok(r.tags.length > 0);
  }
  for (const expected of ['private-key', 'aws-access-key-id', 'github-token', 'openai-api-key', 'kv-secret', 'jwt']) {
    assert.ok(names.includes(expected), `missing builtin ${expected}`);
  }
});

test('every corpus secret is removed, reported with its sha256 and the right rule, and never leaked', () => {
  const corpus = loadCorpus();
  assert.ok(corpus.length >= 60, `corpus has ${corpus.length} secrets, want >= 60`);
  const redactor = new Redactor();
  const rulesSeen = new Set<string>();
  for (const { rule: expected, secret, line } of corpus) {
    const { text, findings } = redactor.redactText(line);
    const label = `${expected}: ${line.slice(0, 30)}…`;
    assert.ok(!text.includes(secret), `secret survived (${label})`);
    for (const w of windows(secret, 12)) assert.ok(!text.includes(w), `part of the secret survived (${label})`);
    assert.ok(text.includes(`[REDACTED:${expected}]`), `marker missing (${label}): ${text.slice(0, 80)}`);
    const finding = findings.find((f) => f.sha256 === sha256(secret));
    assert.ok(finding, `no finding hashes the secret (${label}); got ${findings.map((f) => f.rule).join(',')}`);
    assert.equal(finding.rule, expected, label);
    assert.equal(finding.location, 'text');
    assert.equal(finding.action, 'redact');
    const serialized = JSON.stringify(findings);
    for (const w of windows(secret, 8)) assert.ok(!serialized.includes(w), `findings leak the secret (${label})`);
    rulesSeen.add(finding.rule);

    // the same line inside a structured value is redacted the same way
    const nested = redactor.redactValue({ event: { lines: [line] } }, 'msg');
    assert.ok(!JSON.stringify(nested.value).includes(secret), `redactValue leaked (${label})`);
    assert.ok(nested.findings.some((f) => f.sha256 === sha256(secret) && f.location === 'msg.event.lines[0]'));
  }
  assert.ok(rulesSeen.size >= 15, `corpus exercises only ${rulesSeen.size} rules`);
});

test('replacements keep the surrounding structure readable', () => {
  const r = new Redactor();
  const cases: Array<[string, string]> = [
    ['password=hunter2x user=bob', 'password=[REDACTED:kv-secret] user=bob'],
    ['postgres://user:pw1234@db:5432/x', 'postgres://user:[REDACTED:url-password]@db:5432/x'],
    ['Authorization: Bearer abcdef0123456789abcdef', 'Authorization: Bearer [REDACTED:bearer-token]'],
    ['{"password":"s3cret value","user":"ada"}', '{"password":"[REDACTED:kv-secret]","user":"ada"}'],
    [
      'https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx',
      'https://hooks.slack.com/services/[REDACTED:slack-webhook]',
    ],
    [
      'key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nq9Zx+/abc=\n-----END RSA PRIVATE KEY-----\ndone',
      'key:\n[REDACTED:private-key]\ndone',
    ],
  ];
  for (const [input, expected] of cases) assert.equal(r.redactText(input).text, expected);
  assert.equal(r.redactText('no secrets here').findings.length, 0);
});

test('false-positive rate on ordinary engineering text is at most 1 %', () => {
  const lines = ordinaryLines();
  assert.ok(lines.length >= 200, `ordinary corpus has ${lines.length} lines, want >= 200`);
  const r = new Redactor();
  const flagged = lines.filter((l) => {
    const { text, findings } = r.redactText(l);
    return findings.length > 0 || text !== l;
  });
  const rate = flagged.length / lines.length;
  console.log(
    `SHHH false positives: ${flagged.length}/${lines.length} (${(rate * 100).toFixed(2)} %)` +
      flagged.map((l) => `\n  ${l}`).join(''),
  );
  assert.ok(rate <= 0.01, `false-positive rate ${(rate * 100).toFixed(2)} % > 1 %`);
});

test('redactValue redacts nested strings with JSON-path locations and never mutates the input', () => {
  const r = new Redactor();
  const input = deepFreeze({
    data: {
      env: ['LOG_LEVEL=debug', 'PATH=/usr/bin', { name: 'db', url: 'postgres://app:pa55word1@db:5432/app' }],
      note: 'token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked',
      'x-meta': ['AKIAABCDEFGHIJKLMNOP'],
      count: 3,
      ok: true,
      nothing: null,
    },
  });
  const snapshot = structuredClone(input);
  const { value, findings } = r.redactValue(input, 'msg');
  assert.deepEqual(input, snapshot);
  assert.notEqual(value, input);
  assert.notEqual(value.data, input.data);
  assert.notEqual(value.data.env, input.data.env);
  assert.deepEqual(value, {
    data: {
      env: [
        'LOG_LEVEL=debug',
        'PATH=/usr/bin',
        { name: 'db', url: 'postgres://app:[REDACTED:url-password]@db:5432/app' },
      ],
      note: 'token [REDACTED:github-token] leaked',
      'x-meta': ['[REDACTED:aws-access-key-id]'],
      count: 3,
      ok: true,
      nothing: null,
    },
  });
  assert.deepEqual(
    findings.map((f) => [f.rule, f.location]),
    [
      ['url-password', 'msg.data.env[2].url'],
      ['github-token', 'msg.data.note'],
      ['aws-access-key-id', 'msg.data["x-meta"][0]'],
    ],
  );
  assert.equal(findings[0]?.sha256, sha256('pa55word1'));
  // default root location and plain strings
  assert.equal(r.redactValue({ a: ['token=abc123def'] }).findings[0]?.location, 'value.a[0]');
  assert.deepEqual(r.redactValue('password=abc123def', 'text').value, 'password=[REDACTED:kv-secret]');
});

test('redactValue replaces whole values whose key name says they are secret', () => {
  const r = new Redactor();
  const input = deepFreeze({
    password: 'correct horse battery staple',
    apiKey: 'plainwords',
    client_secret: 'abc',
    access_token: 'opaque',
    private_key: 'k',
    Authorization: 'Bearer x',
    DB_PASSWORD: 123456,
    credentials: { username: 'ada', pin: 4321, enabled: true },
    session: { token: 'sess-1', csrfToken: 'c-2' },
    // not secrets, despite looking close
    max_tokens: 4096,
    token_count: 12,
    secret_name: 'prod-db',
    tokenizer: 'cl100k',
    next_page_token: 'CiAKGjBp',
    passwordPolicy: { minLength: 12 },
    empty_token: '',
    hasPassword: true,
  });
  const { value, findings } = r.redactValue(input, 'cfg');
  const M = '[REDACTED:secret-field]';
  assert.deepEqual(value, {
    password: M,
    apiKey: M,
    client_secret: M,
    access_token: M,
    private_key: M,
    Authorization: M,
    DB_PASSWORD: M,
    credentials: { username: M, pin: M, enabled: true },
    session: { token: M, csrfToken: M },
    max_tokens: 4096,
    token_count: 12,
    secret_name: 'prod-db',
    tokenizer: 'cl100k',
    next_page_token: 'CiAKGjBp',
    passwordPolicy: { minLength: 12 },
    empty_token: '',
    hasPassword: true,
  });
  const byLocation = new Map(findings.map((f) => [f.location, f]));
  assert.equal(byLocation.get('cfg.password')?.sha256, sha256('correct horse battery staple'));
  assert.equal(byLocation.get('cfg.DB_PASSWORD')?.sha256, sha256('123456'));
  assert.equal(byLocation.get('cfg.credentials.pin')?.rule, 'secret-field');
  assert.ok(byLocation.has('cfg.session.csrfToken'));
  assert.ok(!JSON.stringify(findings).includes('correct horse'));
  // idempotent on already-redacted values
  assert.deepEqual(r.redactValue(value).findings, []);
});

test('redactValue handles odd inputs: __proto__ keys, cycles, Dates, binary, undefined', () => {
  const r = new Redactor();
  const parsed = JSON.parse('{"__proto__": {"password": "x1"}, "a": 1}') as Record<string, unknown>;
  const { value } = r.redactValue(parsed);
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { password: '[REDACTED:secret-field]' });

  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  assert.deepEqual(r.redactValue(cyclic).value, { name: 'loop', self: '[Circular]' });

  const shared = { token: 'abc' };
  assert.deepEqual(r.redactValue({ a: shared, b: shared }).value, {
    a: { token: '[REDACTED:secret-field]' },
    b: { token: '[REDACTED:secret-field]' },
  });

  const when = new Date('2025-01-14T10:00:00Z');
  assert.equal(r.redactValue({ when }).value.when as unknown, '2025-01-14T10:00:00.000Z');
  const bytes = new Uint8Array([1, 2, 3]);
  const out = r.redactValue({ bytes, u: undefined }).value;
  assert.deepEqual(out.bytes, bytes);
  assert.notEqual(out.bytes, bytes);
  assert.ok('u' in out);
});

test('deny rules from config throw SecretDeniedError without the secret', () => {
  const secret = 'PROJECT-NIGHTJAR-7731';
  const r = new Redactor({
    rules: [rule({ name: 'codename', pattern: 'PROJECT-[A-Z]+-\\d{4}', severity: 'critical', action: 'deny' })],
  });
  const line = `status update for ${secret}: launch moved`;
  assert.throws(
    () => r.redactText(line),
    (err: unknown) => {
      assert.ok(err instanceof SecretDeniedError);
      assert.ok(err instanceof ChorusError);
      assert.equal(err.code, 'SHHH_DENIED');
      assert.equal(err.kind, 'error');
      assert.equal(err.message, 'refused by SHHH deny rule "codename" at text');
      assert.ok(!err.message.includes('NIGHTJAR'));
      assert.ok(!JSON.stringify(err.finding).includes('NIGHTJAR'));
      assert.equal(err.finding.sha256, sha256(secret));
      assert.equal(err.finding.action, 'deny');
      assert.equal(err.finding.severity, 'critical');
      return true;
    },
  );
  // in a structured value the location is the JSON path
  assert.throws(
    () => r.redactValue({ data: { notes: ['ok', `see ${secret}`] } }, 'data'),
    (err: unknown) =>
      err instanceof SecretDeniedError &&
      err.message === 'refused by SHHH deny rule "codename" at data.data.notes[1]' &&
      err.finding.location === 'data.data.notes[1]',
  );
  // deny applies even inside a value that would be redacted anyway (key-name and kv rules)
  assert.throws(() => r.redactValue({ password: secret }), SecretDeniedError);
  assert.throws(() => r.redactText(`password=${secret}`), SecretDeniedError);
  // logs: no throw, the match is redacted
  assert.equal(r.scrubLine(line), 'status update for [REDACTED:codename]: launch moved');
  assert.equal(r.scrubLine('nothing to see'), 'nothing to see');
  // text without a denied match still passes
  assert.equal(r.redactText('project nightjar is fine').text, 'project nightjar is fine');
});

test('custom redact rules honour flags, severity and tags; builtins can be turned off', () => {
  const custom = rule({ name: 'employee-id', pattern: '\\bemp-\\d{6}\\b', flags: 'i', severity: 'low', tags: ['pii'] });
  const r = new Redactor({ rules: [custom] });
  const { text, findings } = r.redactText(
    'assigned to EMP-004211 and emp-990001, see ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  );
  assert.equal(text, 'assigned to [REDACTED:employee-id] and [REDACTED:employee-id], see [REDACTED:github-token]');
  const emp = findings.filter((f) => f.rule === 'employee-id');
  assert.equal(emp.length, 2);
  assert.deepEqual(emp[0], {
    rule: 'employee-id',
    severity: 'low',
    tags: ['pii'],
    action: 'redact',
    location: 'text',
    sha256: sha256('EMP-004211'),
  } satisfies RedactionFinding);
  // case-sensitive without the i flag
  const strict = new Redactor({ rules: [{ ...custom, flags: '' }], builtins: false });
  assert.equal(strict.redactText('EMP-004211 emp-004211').text, 'EMP-004211 [REDACTED:employee-id]');
  // builtins off: only config rules, no key-name redaction
  assert.equal(strict.redactText('token=ghp_abcdefghijklmnopqrstuvwxyz0123456789').findings.length, 0);
  assert.deepEqual(strict.redactValue({ password: 'x' }).value, { password: 'x' });
  // m and s flags reach the regex
  const [multi] = compileRules([rule({ name: 'ml', pattern: '^secret-line$', flags: 'm' })]);
  assert.ok(((multi?.pattern.flags() ?? 0) & RE2JS.MULTILINE) !== 0);
  const ml = new Redactor({ rules: [rule({ name: 'ml', pattern: '^secret-line$', flags: 'm' })], builtins: false });
  assert.equal(ml.redactText('a\nsecret-line\nb').text, 'a\n[REDACTED:ml]\nb');
});

test('a bad regex in config is a ConfigError naming shhh.rules[i] and the rule', () => {
  const rules = [rule({ name: 'fine', pattern: 'abc' }), rule({ name: 'broken-rule', pattern: 'token=(unclosed' })];
  for (const make of [() => compileRules(rules), () => new Redactor({ rules })]) {
    assert.throws(make, (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /shhh\.rules\[1\]/);
      assert.match(err.message, /broken-rule/);
      return true;
    });
  }
  assert.throws(() => compileRules([rule({ name: 'empty', pattern: 'x*' })]), /shhh\.rules\[0\].*empty.*empty string/);
  assert.throws(() => compileRules([rule({ name: 'flags', pattern: 'x', flags: 'gy' })]), ConfigError);
  const [ok] = compileRules([rule({ name: 'ok', pattern: 'x+' })]);
  assert.equal(ok?.flags, '');
  assert.equal(ok?.action, 'redact');
});

test('configured rules run on a linear-time engine: a catastrophic pattern costs microseconds, not minutes', () => {
  // (a+)+$ on "aaa…a!" backtracks 2^n times in V8's engine: 24 a's took 1.1 s there, 27 take ~9 s
  const evil = new Redactor({ rules: [rule({ name: 'evil', pattern: '(a+)+$' })], builtins: false });
  const line = `${'a'.repeat(27)}!`;
  let start = performance.now();
  assert.equal(evil.redactText(line).text, line, 'no match: the line ends in "!"');
  assert.ok(performance.now() - start < 250, `${(performance.now() - start).toFixed(0)} ms for 28 characters`);
  // and linear in the input: a 100 KB line on every node's every message still cannot stall it
  const long = `${'a'.repeat(100_000)}!`;
  start = performance.now();
  evil.redactText(long);
  evil.scrubLine(long);
  assert.ok(performance.now() - start < 2000, `${(performance.now() - start).toFixed(0)} ms for 100 KB`);
  assert.equal(evil.redactText('xx aaaa').text, 'xx [REDACTED:evil]', 'and it still matches what it should');
});

test('a leader-pushed SHHH policy is compiled the same way: a catastrophic pattern is harmless, RE2-only syntax named', () => {
  const policy = parsePolicy({ rules: [rule({ name: 'evil', pattern: '(a+)+$' })] });
  const r = new Redactor();
  r.setPolicyRules(policy);
  const start = performance.now();
  r.redactText(`${'a'.repeat(27)}!`);
  assert.ok(performance.now() - start < 250, `${(performance.now() - start).toFixed(0)} ms`);
  assert.throws(
    () => parsePolicy({ rules: [rule({ name: 'ahead', pattern: 'key(?=secret)' })] }),
    (err: unknown) =>
      err instanceof ChorusError &&
      err.kind === 'usage' &&
      /^invalid SHHH policy: rule ahead: pattern not supported by the linear-time engine/.test(err.message),
  );
  assert.throws(() => parsePolicy({ rules: [rule({ name: 'bad', pattern: '(' })] }), /rule bad: invalid pattern/);
});

test('configured rules: lookbehind works, lookahead and backreferences are refused by name, sizes are bounded', () => {
  const lb = new Redactor({ rules: [rule({ name: 'pin', pattern: '(?<=pin=)\\d{4}' })], builtins: false });
  assert.equal(lb.redactText('pin=1234 and pin=99').text, 'pin=[REDACTED:pin] and pin=99');
  for (const pattern of ['token(?=:)', 'x(?!y)', '(a)\\1']) {
    assert.throws(
      () => compileRules([rule({ name: 'fine', pattern: 'abc' }), rule({ name: 'needs-backtracking', pattern })]),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^shhh\.rules\[1\] \("needs-backtracking"\): pattern not supported by the linear-time engine/.test(err.message),
    );
  }
  assert.throws(() => compileRules([rule({ name: 'long', pattern: 'a'.repeat(MAX_PATTERN_LENGTH + 1) })]), /over 4096/);
  const many = Array.from({ length: MAX_RULES + 1 }, (_, i) => rule({ name: `r${i}`, pattern: `x${i}y` }));
  assert.throws(() => compileRules(many), /at most 256/);
  // positions are UTF-16 offsets, as in JS strings
  const emoji = new Redactor({ rules: [rule({ name: 'emp', pattern: 'emp-\\d{6}', flags: 'i' })], builtins: false });
  assert.equal(emoji.redactText('héllo 😀 EMP-004211!').text, 'héllo 😀 [REDACTED:emp]!');
});

test('property: redactText never throws on redact-only rules and is idempotent', () => {
  const corpus = loadCorpus();
  const fragments = [
    'password=',
    'password: ',
    '"token":"',
    "api_key='",
    'secret = ',
    '--token ',
    'Bearer ',
    'Basic ',
    'Authorization: ',
    '://',
    'user:',
    '@',
    '=',
    ':',
    '"',
    "'",
    '\\"',
    '&',
    ' ',
    '\n',
    '\\n',
    '-----BEGIN RSA PRIVATE KEY-----',
    '-----END RSA PRIVATE KEY-----',
    '-----BEGIN PRIVATE KEY-----\n',
    'AKIA',
    'ghp_',
    'sk-',
    'sk-ant-api03-',
    'xoxb-',
    'eyJ',
    '.',
    '[REDACTED:',
    '[REDACTED:kv-secret]',
    ']',
    '${',
    'null',
    ...corpus.slice(0, 20).map((c) => c.secret),
  ];
  const redactors = [
    new Redactor(),
    new Redactor({ rules: [rule({ name: 'custom', pattern: 'zz[0-9]{2,}', flags: 'i', severity: 'low' })] }),
  ];
  const piece = fc.oneof(
    fc.constantFrom(...fragments),
    fc.string({ maxLength: 12 }),
    fc.stringMatching(/^[A-Za-z0-9+/_=-]{0,48}$/),
    fc.string({ unit: 'binary', maxLength: 6 }),
  );
  const input = fc.array(piece, { maxLength: 24 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(input, fc.nat({ max: redactors.length - 1 }), (text, which) => {
      const r = redactors[which] as Redactor;
      const once = r.redactText(text);
      const twice = r.redactText(once.text);
      assert.equal(twice.text, once.text);
      assert.equal(twice.findings.length, 0);
      assert.equal(r.scrubLine(once.text), once.text);
      assert.equal(r.scrubLine(text), once.text);
    }),
    { numRuns: 3000 },
  );
});

test('throughput: 10,000 redactions of a 1 KiB ordinary JSON payload', () => {
  const payload = {
    type: 'task.update',
    taskId: '5f0c6b9e-3c1d-4e7a-9a43-2b8f1d6e7c90',
    from: '12D3KooWGzh2PjyfG8vXSnx2Hq4fDRgVy1fWDvP7Xu5E8u9sB4Tj',
    at: '2025-01-14T10:22:31.123Z',
    status: 'in_progress',
    progress: 0.42,
    summary:
      'Refactored the gossip validator to drop duplicate messages before signature checks; added tests for ' +
      'the token bucket refill and the password reset flow docs.',
    files: ['src/core/gossip/validate.ts', 'src/core/rate/bucket.ts', 'test/unit/bucket.test.ts', 'docs/auth.md'],
    commit: '9c1f4e2b8d7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e',
    usage: { input_tokens: 1832, output_tokens: 411, max_tokens: 4096 },
    links: [
      'https://github.com/acme/chorus/pull/412',
      '/ip4/192.168.1.20/tcp/4001/p2p/12D3KooWRm8J3Yc4bKxk5nGx7vQw2pHtF1sLdZaE9uC6yXoN3iMv',
    ],
    notes:
      'Waiting on review from reviewer-1; CI green on node 26.10.0. Next: wire the redactor into outbound ' +
      'messages and measure the overhead on the 1 KiB payloads.',
    labels: ['shhh', 'perf', 'gossip'],
    owner: 'agent-coder-5',
    reviewers: ['agent-reviewer-1', 'agent-reviewer-2'],
  };
  const json = JSON.stringify(payload);
  assert.ok(json.length >= 1000 && json.length <= 1100, `payload is ${json.length} bytes`);
  const r = new Redactor();
  const N = 10_000;
  let start = performance.now();
  for (let i = 0; i < N; i++) {
    const out = r.redactText(json);
    if (out.findings.length !== 0 || out.text !== json) assert.fail('ordinary payload was changed');
  }
  const textUs = ((performance.now() - start) * 1000) / N;
  start = performance.now();
  for (let i = 0; i < N; i++) {
    const out = r.redactValue(payload);
    if (out.findings.length !== 0) assert.fail('ordinary payload produced findings');
  }
  const valueUs = ((performance.now() - start) * 1000) / N;
  assert.deepEqual(r.redactValue(payload).value, payload);
  console.log(
    `SHHH throughput on a ${json.length}-byte payload: redactText ${textUs.toFixed(1)} µs/op, redactValue ${valueUs.toFixed(1)} µs/op`,
  );
});

test('UCXL addresses (agent:role@project) are not mistaken for URL passwords', () => {
  const r = new Redactor();
  const text = 'decision at ucxl://bob:developer@proj:task/*^/adr.md, db at postgres://app:s3cr3tPw@db:5432/x';
  const out = r.redactText(text).text;
  assert.ok(out.includes('ucxl://bob:developer@proj:task/*^/adr.md'));
  assert.ok(!out.includes('s3cr3tPw'));
});

test('several configured rules scanned together find exactly what each finds alone (flags, lookbehind)', () => {
  const rules = [
    rule({ name: 'emp', pattern: '\\bemp-\\d{6}\\b', flags: 'i' }),
    rule({ name: 'codename', pattern: 'PROJECT-[A-Z]+-\\d{4}' }),
    rule({ name: 'line', pattern: '^internal: .+$', flags: 'm' }),
    rule({ name: 'block', pattern: 'BEGIN.+?END', flags: 's' }),
    rule({ name: 'pin', pattern: '(?<=pin=)\\d{4}' }),
  ];
  const texts = [
    'EMP-123456 met emp-654321 about PROJECT-NIGHTJAR-2026',
    'intro\ninternal: the vault is at 10.0.0.1\noutro',
    'BEGIN\nmultiline\nsecret END and pin=4321, pin=12',
    'nothing here at all, project-x-1 and emp-12345',
    '😀 pin=0000 😀 Emp-000001',
  ];
  const together = new Redactor({ rules, builtins: false });
  const alone = rules.map((r) => new Redactor({ rules: [r], builtins: false }));
  for (const text of texts) {
    const expected = alone
      .flatMap((r) => r.redactText(text).findings)
      .map((f) => `${f.rule}:${f.sha256}`)
      .sort();
    const found = together
      .redactText(text)
      .findings.map((f) => `${f.rule}:${f.sha256}`)
      .sort();
    assert.deepEqual(found, expected, text);
  }
  assert.equal(
    together.redactText(texts[0] as string).text,
    '[REDACTED:emp] met [REDACTED:emp] about [REDACTED:codename]',
  );
});

test('a text found clean is not scanned again under the same rules, and is scanned again once the rules change', () => {
  const text = `progress on the build: ${'all green, nothing to report. '.repeat(12)}codeword=swordfish`;
  const r = new Redactor({ builtins: false });
  assert.equal(r.redactValue({ text }).value.text, text, 'clean under no rules');
  // a configured rule that matches it: the text kept as clean under the old rules is redacted now
  r.setRules([rule({ name: 'codeword', pattern: '(?<=codeword=)\\w+' })]);
  const { value, findings } = r.redactValue({ note: { text } });
  assert.equal(value.note.text, text.replace('swordfish', '[REDACTED:codeword]'));
  assert.equal(findings.length, 1);
  // and a leader's policy that matches it, after the text was seen clean under another one
  const p = new Redactor({ builtins: false });
  p.setPolicyRules([rule({ name: 'other', pattern: 'nomatch' })]);
  assert.equal(p.redactText(text).text, text);
  p.setPolicyRules([rule({ name: 'codeword', pattern: 'swordfish', action: 'deny' })]);
  assert.throws(() => p.redactText(text), SecretDeniedError);
});

test('the clean texts a redactor keeps: long ones only, under one set of rules, within a budget of characters', () => {
  const rulesA = {};
  const rulesB = {};
  const kept = new CleanTexts<object>();
  const long = (i: number, length = 1000): string => `${i}:`.padEnd(length, 'x');
  kept.add('short and cheap to scan', rulesA);
  assert.equal(kept.has('short and cheap to scan', rulesA), false);
  kept.add(long(1), rulesA);
  assert.equal(kept.has(long(1), rulesA), true);
  assert.equal(kept.has(long(1), rulesB), false, 'other rules');
  assert.equal(kept.has(long(2), rulesA), false);
  kept.add(long(2), rulesB);
  assert.equal(kept.has(long(1), rulesA), false, 'dropped when the rules changed');
  assert.equal(kept.has(long(2), rulesB), true);
  kept.add(long(3, 200_000), rulesB);
  assert.equal(kept.has(long(3, 200_000), rulesB), false, 'too long to keep');
  // ~1 MiB of characters at most: the oldest go first
  for (let i = 0; i < 1100; i++) kept.add(long(i + 10), rulesB);
  assert.equal(kept.has(long(2), rulesB), false);
  assert.equal(kept.has(long(10), rulesB), false);
  assert.equal(kept.has(long(1109), rulesB), true);
});
