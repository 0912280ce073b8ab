// End-to-end: the built single executable, run from an empty directory with an empty environment,
// and the same smoke test of the ESM bundle under Deno.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BINARY, BUNDLE, ROOT, runProcess } from '../helpers/run.ts';

const empty = mkdtempSync(join(tmpdir(), 'chorus-e2e-'));
const bare = (args: string[]) => runProcess('/usr/bin/env', ['-i', BINARY, ...args], { cwd: empty, env: {} });

test('the binary exists and SHA256SUMS verifies it', () => {
  assert.ok(existsSync(BINARY), 'run npm run build first');
  const sums = readFileSync(join(ROOT, 'dist/SHA256SUMS'), 'utf8');
  const line = sums.split('\n').find((l) => l.endsWith('  chorus-linux-x64'));
  assert.ok(line, 'SHA256SUMS lists the binary');
  const digest = createHash('sha256').update(readFileSync(BINARY)).digest('hex');
  assert.equal(line.split('  ')[0], digest);
});

test('env -i binary --version from an empty directory', async () => {
  const r = await bare(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^chorus:\s+\d+\.\d+\.\d+/m);
  assert.match(r.stdout, /target:\s+linux-x64 \(single executable\)/);
  assert.match(r.stdout, /built:\s+\d{4}-\d\d-\d\dT/);
  assert.equal(r.stderr, '');
});

test('env -i binary --json output parses', async () => {
  const r = await bare(['version', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { runtime: string; commit: string };
  assert.match(info.runtime, /^node v2\d\./);
  const config = await bare(['config', '--json', '--data-dir', empty]);
  assert.equal(config.code, 0, config.stderr);
  assert.equal((JSON.parse(config.stdout) as { dataDir: string }).dataDir, empty);
});

test('env -i binary: an unknown flag exits 2 with one line on stderr', async () => {
  const r = await bare(['--no-such-flag']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^chorus: unknown option "--no-such-flag"/);
});

test('env -i binary: help and completion work', async () => {
  const help = await bare(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: chorus/);
  const completion = await bare(['completion', 'bash']);
  assert.equal(completion.code, 0);
  assert.match(completion.stdout, /complete -o default -F _chorus_complete chorus/);
});

test('the ESM bundle runs under Deno (same smoke test)', async () => {
  const deno = join(ROOT, 'node_modules/@deno/linux-x64-glibc/deno');
  const denoDir = mkdtempSync(join(tmpdir(), 'chorus-deno-'));
  const env = { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
  const run = (args: string[]) =>
    runProcess(
      '/usr/bin/env',
      ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), deno, 'run', '-A', BUNDLE, ...args],
      {
        cwd: empty,
        env: {},
      },
    );
  const version = await run(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /runtime:\s+deno \d+\.\d+/);
  const json = await run(['version', '--json']);
  assert.equal((JSON.parse(json.stdout) as { name: string }).name, 'chorus');
  const bad = await run(['--no-such-flag']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});
