// --json: stdout holds exactly one JSON document, whatever the exit code. A verb whose check failed keeps
// its report (which names the failure) and adds nothing; a verb that failed before writing anything
// prints one {error} object. The one-line message is on stderr in both cases.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-json-'));

/** Parses the whole of stdout as one document (throws on a second document or trailing text). */
function oneDocument(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('a failed SLO check prints the report as the only JSON document (exit 3)', async () => {
  const r = await runCli(
    ['bench', 'dht', '--nodes', '3', '--keys', '2', '--ops', '5', '--warmup', '0', '--slo-p95', '0.001ms', '--json'],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 3, r.stderr);
  const doc = oneDocument(r.stdout);
  assert.match(String(doc.failedCheck), /SLO breached: GET p95/);
  assert.ok('report' in doc && 'slo' in doc);
  assert.match(r.stderr, /^chorus: SLO breached: GET p95/m);
});

test('a failed verification prints its result as the only JSON document (exit 3)', async () => {
  const file = join(dir, 'not-a-license.json');
  writeFileSync(file, '{"x":1}\n');
  const r = await runCli(['license', 'verify', file, '--json']);
  assert.equal(r.code, 3, r.stderr);
  const doc = oneDocument(r.stdout);
  assert.equal(doc.valid, false);
  assert.equal(doc.reason, 'malformed');
});

test('an error before any output prints one {error} document', async () => {
  const r = await runCli(['--data-dir', dir, 'status', '--json']);
  assert.equal(r.code, 1);
  const doc = oneDocument(r.stdout) as { error: { code: string; message: string } };
  assert.equal(doc.error.code, 'DAEMON_UNREACHABLE');
  assert.match(doc.error.message, /no chorus node is answering/);
  const usage = await runCli(['ucxl', 'get', 'ucxl://nope', '--json']);
  assert.equal(usage.code, 2);
  assert.equal((oneDocument(usage.stdout) as { error: { code: string } }).error.code, 'UCXL-400-INVALID_ADDRESS');
});
