// Licensing through the built binary: fail-closed startup, the authority's tools, offline verify
// exit codes, the lease server with max_nodes, `license status`, and --dev.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ChorusProcess, chorus, cleanup, Daemon, freePort, lines, tempDir } from '../helpers/daemon.ts';

after(cleanup);

describe('licensing (binary)', () => {
  const dir = tempDir('chorus-e2e-license-');
  const key = join(dir, 'authority.key');
  const lic = join(dir, 'license.json');
  let authority = '';

  test('a node without a license exits 4 (no restart can fix it) with one line and listens on nothing', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    const r = await chorus(['--data-dir', dataDir, 'node', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-mdns']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^chorus: no license at .*license\.json: set license\.file, or run `chorus node --dev`/);
  });

  test('keygen, issue, show and verify (exit 3 with the reason when invalid)', async () => {
    const k = await chorus(['license', 'keygen', '--out', key, '--json']);
    assert.equal(k.code, 0, k.stderr);
    authority = (JSON.parse(k.stdout) as { publicKey: string }).publicKey;
    assert.match(authority, /^ed25519:/);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    const again = await chorus(['license', 'keygen', '--out', key]);
    assert.equal(again.code, 2, 'never overwrites an authority key');
    const i = await chorus([
      'license',
      'issue',
      '--authority-key',
      key,
      '--licensee',
      'Acme',
      '--cluster',
      'prod',
      '--max-nodes',
      '1',
      '--valid-for',
      '30d',
      '--out',
      lic,
    ]);
    assert.equal(i.code, 0, i.stderr);
    const show = await chorus(['license', 'show', lic]);
    assert.match(show.stdout, /licensee:\s+Acme/);
    assert.match(show.stdout, /max nodes:\s+1/);
    const ok = await chorus(['license', 'verify', lic, '--authority', authority, '--cluster', 'prod']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^valid: /);
    const wrong = await chorus(['license', 'verify', lic, '--authority', authority, '--cluster', 'staging', '--json']);
    assert.equal(wrong.code, 3);
    assert.match(wrong.stdout, /"reason": "wrong_cluster"/);
    assert.match(wrong.stderr, /^chorus: license .*: for cluster "prod", not this cluster "staging"/);
    const corrupt = join(dir, 'corrupt.json');
    writeFileSync(corrupt, readFileSync(lic, 'utf8').replace('"maxNodes": 1', '"maxNodes": 9'));
    const bad = await chorus(['license', 'verify', corrupt, '--authority', authority]);
    assert.equal(bad.code, 3);
    assert.match(bad.stdout, /^invalid \(bad_signature\)/);
    writeFileSync(corrupt, '{"format":');
    const malformed = await chorus(['license', 'verify', corrupt, '--authority', authority]);
    assert.equal(malformed.code, 3);
    assert.match(malformed.stdout, /^invalid \(malformed\)/);
  });

  test('lease server: max_nodes 1 admits one node, refuses the second; status shows the lease', async () => {
    const port = await freePort();
    const server = new ChorusProcess([
      '--data-dir',
      tempDir(),
      'license',
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--authority',
      authority,
    ]);
    await server.waitForStderr(/chorus lease server running/);
    // the authority and the server come from the environment, as an operator would set them
    const env = { CHORUS_LICENSE_AUTHORITY: authority, CHORUS_LICENSE_SERVER: `http://127.0.0.1:${port}` };
    const first = await Daemon.start({ dev: false, nodeArgs: ['--license', lic], env });
    const status = await first.cli(['license', 'status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const info = JSON.parse(status.stdout) as { license: { id: string; dev: boolean; lease: { state: string } } };
    assert.equal(info.license.dev, false);
    assert.equal(info.license.lease.state, 'held');
    const second = new ChorusProcess(
      ['--data-dir', tempDir(), 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-ops', '--license', lic],
      { env },
    );
    const exit = await second.exited;
    assert.equal(exit.code, 1, second.stderr);
    const errors = lines(second.stderr).filter((l) => l.startsWith('chorus: '));
    assert.equal(errors.length, 1, second.stderr);
    assert.doesNotMatch(second.stderr, /^\s+at /m, 'no stack trace');
    assert.match(
      second.stderr,
      /^chorus: lease refused: license .* allows 1 node\(s\) and 1 hold a lease: the cluster is full/m,
    );
    // the first node stops cleanly and gives its lease back
    assert.equal((await first.signalAndWait('SIGTERM')).code, 0);
    const third = await Daemon.start({ dev: false, nodeArgs: ['--license', lic], env });
    await third.signalAndWait('SIGTERM');
    await server.signalAndWait('SIGTERM');
  });

  test('--dev creates a dev authority and license once, and says so', async () => {
    const dataDir = tempDir();
    const node = await Daemon.start({ dataDir });
    assert.match(node.stderr, /issued a development license for this node \(dev mode\)/);
    const s = await node.status();
    assert.equal(s.license.dev, true);
    assert.match(s.license.clusterId, /^dev-[0-9a-f]{12}$/);
    await node.signalAndWait('SIGTERM');
    const again = await Daemon.start({ dataDir });
    assert.doesNotMatch(again.stderr, /issued a development license/);
    assert.equal((await again.status()).license.id, s.license.id, 'the same license on restart');
    await again.signalAndWait('SIGTERM');
  });
});
