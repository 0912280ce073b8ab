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
  // the flag runs from the client asset alone: the full program is never loaded
  assert.match(r.stdout, /^code cache:\s+chorus-client\.js used$/m);
  assert.equal(r.stderr, '');
});

test('env -i binary --json output parses', async () => {
  const r = await bare(['version', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { runtime: string; commit: string; codeCache?: Record<string, string> };
  assert.match(info.runtime, /^node v2\d\./);
  // the main script ran the client entry, and the client entry the full program, each from the build's code cache
  assert.deepEqual(info.codeCache, { 'chorus-client.js': 'used', 'chorus-full.js': 'used' });
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

test('env -i binary: the client verbs (its main script) answer as the full program (its asset) does', async () => {
  // `<verb> --help` runs in the client entry, `help <verb>` in the full program
  for (const path of [['status'], ['elect', 'status'], ['ucxl', 'get']]) {
    const [client, full] = await Promise.all([bare([...path, '--help']), bare(['help', ...path])]);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, new RegExp(`^Usage: chorus ${path.join(' ')} \\[options\\]`));
    assert.equal(client.stdout, full.stdout, path.join(' '));
  }
  // no node: the same one line from a client verb and from `peers` (a client verb of the full program)
  const dir = ['--data-dir', empty];
  const peers = await bare([...dir, 'peers']);
  assert.equal(peers.code, 1);
  assert.match(
    peers.stderr,
    /^chorus: no chorus node is answering at \S+chorus\.sock: start one with `chorus node`\n$/,
  );
  for (const verb of [['status'], ['elect', 'status'], ['ucxl', 'get', 'ucxl://a:b@c:d/*^/x']]) {
    const r = await bare([...dir, ...verb]);
    assert.deepEqual([r.code, r.stderr, r.stdout], [1, peers.stderr, ''], verb.join(' '));
  }
  const badAddress = await bare([...dir, 'ucxl', 'get', 'nonsense']);
  assert.equal(badAddress.code, 2);
  assert.match(badAddress.stderr, /^chorus: UCXL-400-INVALID_ADDRESS: invalid scheme in "nonsense"[^\n]*\n$/);
  const badFlag = await bare([...dir, 'status', '--frobnicate', '--json']);
  assert.equal(badFlag.code, 2);
  assert.equal(badFlag.stderr, 'chorus: unknown option "--frobnicate" (see chorus --help)\n');
  assert.deepEqual(JSON.parse(badFlag.stdout), {
    error: { code: 'commander.unknownOption', message: 'unknown option "--frobnicate" (see chorus --help)' },
  });
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
