// `chorus node` checks every flag and config value before it creates anything: a bad value exits 2 with
// one line that names the flag (or the environment variable, or the config file key) and leaves the data
// dir absent or empty. A data dir that cannot be used (a file, under a file, not writable) and a control
// socket this user may not open get a sentence naming the path, its owner and the fix — never errno text.
// Runs the CLI from source; the permission cases run it as another user (setpriv) when the tests run as root.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli, runProcess, SOURCE_ENTRY, type RunResult } from '../helpers/run.ts';

const base = mkdtempSync(join(tmpdir(), 'chorus-startup-'));
chmodSync(base, 0o755); // another user must be able to look inside
let n = 0;
const fresh = (): string => join(base, `case-${n++}`);
const PEER = '12D3KooWPC2CxG9ZCM1hd4Y2FAWiB4tSsRem1Auj45RXPjVxpCRy';

/** What is in a directory (nothing when it does not exist). */
const contents = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

function assertOneLine(r: RunResult, code: number, line: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr.trim(), line);
  assert.doesNotMatch(r.stderr, /EACCES|EEXIST|ENOTDIR|String multiaddr|Value must be/);
}

/** `chorus --data-dir <dir> node --dev --no-mdns <args>`, with the dev authority in its own fresh dir. */
async function node(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const authority = join(fresh(), 'dev-authority.key');
  const r = await runCli(['--data-dir', dataDir, 'node', '--dev', '--no-mdns', '--ops-port', '0', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: base, NO_COLOR: '1', CHORUS_DEV_AUTHORITY: authority, ...env },
    timeoutMs: 15_000,
  });
  assert.equal(existsSync(authority), false, 'the dev authority was not created');
  return r;
}

/** [flags, the one stderr line]: each must fail before the data dir is touched. */
const BAD_FLAGS: [string[], RegExp][] = [
  [
    ['--listen', 'garbage'],
    /^chorus: --listen: not a multiaddr: garbage \(a multiaddr looks like \/ip4\/0\.0\.0\.0\/tcp\/9000\)$/,
  ],
  [
    ['--listen', '/ip4/0.0.0.0/tcp/70000'],
    /^chorus: --listen: port 70000 is over 65535 in \/ip4\/0\.0\.0\.0\/tcp\/70000$/,
  ],
  [
    ['--listen', '/ip4/300.1.1.1/tcp/1'],
    /^chorus: --listen: not a valid multiaddr: \/ip4\/300\.1\.1\.1\/tcp\/1 \(invalid IPv4 address/,
  ],
  [['--listen', '/ip4/0.0.0.0/udp/9000'], /^chorus: --listen: \/ip4\/0\.0\.0\.0\/udp\/9000 has no \/tcp\/<port>/],
  [['--bootstrap', 'garbage'], /^chorus: --bootstrap: not a multiaddr: garbage/],
  [
    ['--bootstrap', '/ip4/127.0.0.1/tcp/9000'],
    /^chorus: --bootstrap: \/ip4\/127\.0\.0\.1\/tcp\/9000 has no \/p2p\/<peer-id>/,
  ],
  [['--bootstrap', '/ip4/127.0.0.1/tcp/9000/p2p/nope'], /^chorus: --bootstrap: nope in .* is not a peer id/],
  [['--bootstrap', `/ip4/127.0.0.1/tcp/99999/p2p/${PEER}`], /^chorus: --bootstrap: port 99999 is over 65535/],
  [['--api-port', '70000'], /^chorus: --api-port: expected a port from 1 to 65535, got "70000"$/],
  [['--api-port', '0'], /^chorus: --api-port: expected a port from 1 to 65535, got "0"$/],
  [['--ops-port', '65536'], /^chorus: --ops-port: expected a port from 0 to 65535 \(0: any free port\), got "65536"$/],
  [
    ['--assign-url', 'ftp://example.com/a'],
    /^chorus: --assign-url: ftp:\/\/example\.com\/a is not an http:\/\/ or https:\/\/ URL$/,
  ],
  [['--assign-url', 'not a url'], /^chorus: --assign-url: not a URL: not a url/],
  [['--role', 'bad role'], /^chorus: --role: /],
];

describe('a bad flag exits 2 naming the flag, before the data dir is touched', () => {
  test('absent data dir stays absent', async () => {
    for (const [args, line] of BAD_FLAGS) {
      const dir = fresh();
      const r = await node(dir, args);
      assertOneLine(r, 2, line);
      assert.deepEqual(contents(dir), [], `${args.join(' ')} created ${contents(dir).join(', ')}`);
    }
  });

  test('an existing empty data dir stays empty', async () => {
    const dir = fresh();
    mkdirSync(dir);
    assertOneLine(await node(dir, ['--listen', 'garbage']), 2, /^chorus: --listen: not a multiaddr/);
    assert.deepEqual(contents(dir), []);
  });

  test('environment variables and config file keys are named the same way', async () => {
    const dir = fresh();
    const env = await node(dir, [], { CHORUS_LISTEN: 'garbage' });
    assertOneLine(env, 2, /^chorus: environment CHORUS_LISTEN \(config key "p2p\.listen"\): not a multiaddr: garbage/);
    const peers = await node(dir, [], { CHORUS_BOOTSTRAP_PEERS: '/ip4/127.0.0.1/tcp/9000' });
    assertOneLine(
      peers,
      2,
      /^chorus: environment CHORUS_BOOTSTRAP_PEERS \(config key "p2p\.bootstrap"\): .* has no \/p2p/,
    );
    const file = join(base, 'bad.yaml');
    writeFileSync(file, 'api:\n  tcpHost: "not a host!"\nelection:\n  voters: [nope]\n');
    const fromFile = await node(dir, ['--listen', '/ip4/127.0.0.1/tcp/0'], { CHORUS_CONFIG: file });
    assertOneLine(
      fromFile,
      2,
      /^chorus: config file .*bad\.yaml: config key "api\.tcpHost": not a host: not a host! .*; config file .*bad\.yaml: config key "election\.voters": nope .* is not a peer id/,
    );
    assert.deepEqual(contents(dir), []);
  });
});

describe('a data dir that cannot be used is named with the fix', () => {
  test('a file where the data dir belongs, and a data dir under a file', async () => {
    const file = join(base, 'a-file');
    writeFileSync(file, 'x');
    assertOneLine(
      await node(file, []),
      2,
      /^chorus: --data-dir: .*a-file is a file, not a directory: move it aside, or choose another data dir \(--data-dir, CHORUS_DATA_DIR\)$/,
    );
    assertOneLine(
      await node(join(file, 'sub'), []),
      2,
      /^chorus: --data-dir: .*a-file\/sub cannot be created: .*a-file is a file, not a directory/,
    );
  });
});

// ---- as another user: permissions (root bypasses them) ----

const ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const SETPRIV = spawnSync('setpriv', ['--version']).status === 0;
const otherUser = ROOT
  ? SETPRIV
    ? undefined
    : 'running as root without setpriv: no way to run chorus as a user that permissions apply to'
  : undefined;

/** Runs chorus from source as nobody (when root), else as this user. */
function asOtherUser(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const envAll = { PATH: process.env.PATH ?? '', HOME: base, NO_COLOR: '1', ...env };
  if (!ROOT) return runCli(args, { env: envAll });
  return runProcess(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SOURCE_ENTRY, ...args],
    { env: envAll, cwd: base },
  );
}

describe('permissions', { skip: otherUser }, () => {
  const servers: Server[] = [];
  after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  test('an unwritable data dir: exit 2 naming the dir, its owner, who asks and the fix; nothing is written', async () => {
    const dir = fresh();
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, ROOT ? 0o755 : 0o555);
    const r = await asOtherUser(['--data-dir', dir, 'node', '--dev', '--no-mdns', '--ops-port', '0']);
    assertOneLine(
      r,
      2,
      /^chorus: --data-dir: \S+ is not writable by \S+ \(uid \d+\) \(owner \S+ \(uid \d+\), mode 0[57]55\): run chorus as its owner, or change its owner or mode, or choose another data dir/,
    );
    assert.deepEqual(contents(dir), []);
  });

  test('an unwritable dev authority location is named before anything is written', async () => {
    const dir = fresh();
    const locked = fresh();
    mkdirSync(locked, { mode: 0o755 });
    chmodSync(locked, ROOT ? 0o755 : 0o555);
    mkdirSync(dir, { mode: 0o777 });
    chmodSync(dir, 0o777);
    const r = await asOtherUser(['--data-dir', dir, 'node', '--dev', '--no-mdns', '--ops-port', '0'], {
      CHORUS_DEV_AUTHORITY: join(locked, 'dev-authority.key'),
    });
    assertOneLine(
      r,
      2,
      /^chorus: environment CHORUS_DEV_AUTHORITY \(config key "license\.devAuthority"\): \S+dev-authority\.key cannot be created: \S+ is not writable by/,
    );
    assert.deepEqual(contents(dir), []);
  });

  test('a control socket this user may not open: permission denied and whose it is, not "no node is answering"', async () => {
    const dir = fresh();
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const sock = join(dir, 'chorus.sock');
    const server = createServer((c) => c.end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    chmodSync(sock, ROOT ? 0o600 : 0o000);
    const r = await asOtherUser(['--data-dir', dir, 'status']);
    assertOneLine(
      r,
      1,
      /^chorus: permission denied: \S+ \(uid \d+\) may not open the control socket \S+chorus\.sock \(owner \S+ \(uid \d+\), mode 0[06]00\) — run the command as its owner/,
    );
    assert.doesNotMatch(r.stderr, /no chorus node is answering/);

    chmodSync(dir, ROOT ? 0o700 : 0o000);
    const hidden = await asOtherUser(['--data-dir', dir, 'status']);
    chmodSync(dir, 0o755);
    assertOneLine(
      hidden,
      1,
      /^chorus: permission denied: .* may not open the control socket \S+ because \S+ \(owner \S+ \(uid \d+\), mode 0[07]00\) is not searchable/,
    );
  });
});
