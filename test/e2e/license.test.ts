// Licensing through the built binary: fail-closed startup, the authority's and the licensee's tools,
// offline verify exit codes (the reason printed once), a 3-node cluster licensed step by step as
// docs/licensing.md tells an operator (request, enroll, lease server with its key), a copied
// certificate and a fourth node refused, `license status`, and --dev.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ChorusProcess, chorus, cleanup, Daemon, freePort, lines, tempDir, until } from '../helpers/daemon.ts';

after(cleanup);

describe('licensing (binary)', () => {
  const dir = tempDir('chorus-e2e-license-');
  const key = join(dir, 'authority.key');
  const licenseeKey = join(dir, 'acme-licensee.key');
  const lic = join(dir, 'acme.license.json');
  let authority = '';

  test('a node without a license exits 4 (no restart can fix it) with one line and listens on nothing', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    const r = await chorus(['--data-dir', dataDir, 'node', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-mdns']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^chorus: no license at .*license\.json: set license\.file, or run `chorus node --dev`/);
  });

  test('keygen, issue to a licensee key, show and verify (exit 3 with the reason, printed once)', async () => {
    const k = await chorus(['license', 'keygen', '--out', key, '--json']);
    assert.equal(k.code, 0, k.stderr);
    authority = (JSON.parse(k.stdout) as { publicKey: string }).publicKey;
    assert.match(authority, /^ed25519:/);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    const again = await chorus(['license', 'keygen', '--out', key]);
    assert.equal(again.code, 2, 'never overwrites an authority key');
    const lk = await chorus(['license', 'keygen', '--licensee', '--out', licenseeKey]);
    assert.equal(lk.code, 0, lk.stderr);
    assert.match(lk.stdout, /^licensee public key: {2}ed25519:/m);
    assert.equal(statSync(licenseeKey).mode & 0o777, 0o600);
    const issue = (extra: string[]) =>
      chorus([
        'license',
        'issue',
        '--authority-key',
        key,
        '--licensee',
        'Acme',
        '--cluster',
        'prod',
        '--max-nodes',
        '3',
        '--valid-for',
        '30d',
        '--out',
        lic,
        ...extra,
      ]);
    const missing = await issue([]);
    assert.equal(missing.code, 2, 'a license names its licensee key');
    assert.match(missing.stderr, /--licensee-key/);
    const i = await issue(['--licensee-key', `${licenseeKey}.pub`]);
    assert.equal(i.code, 0, i.stderr);
    const show = await chorus(['license', 'show', lic]);
    assert.match(show.stdout, /licensee:\s+Acme/);
    assert.match(show.stdout, /licensee key:\s+ed25519:/);
    assert.match(show.stdout, /max nodes:\s+3/);
    const ok = await chorus(['license', 'verify', lic, '--authority', authority, '--cluster', 'prod']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^valid: /);
    // invalid: the verdict on stdout, the reason once, on stderr
    const wrong = await chorus(['license', 'verify', lic, '--authority', authority, '--cluster', 'staging']);
    assert.equal(wrong.code, 3);
    assert.equal(wrong.stdout, `invalid: ${lic}\n`);
    assert.equal(lines(wrong.stderr).length, 1, wrong.stderr);
    assert.match(
      wrong.stderr,
      /^chorus: license .*: for cluster "prod", not this cluster "staging" \(wrong_cluster\)$/m,
    );
    const json = await chorus(['license', 'verify', lic, '--authority', authority, '--cluster', 'staging', '--json']);
    assert.equal(json.code, 3);
    assert.match(json.stdout, /"reason": "wrong_cluster"/);
    const corrupt = join(dir, 'corrupt.json');
    writeFileSync(corrupt, readFileSync(lic, 'utf8').replace('"maxNodes": 3', '"maxNodes": 9'));
    const bad = await chorus(['license', 'verify', corrupt, '--authority', authority]);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /\(bad_signature\)$/m);
    writeFileSync(corrupt, '{"format":');
    const malformed = await chorus(['license', 'verify', corrupt, '--authority', authority]);
    assert.equal(malformed.code, 3);
    assert.match(malformed.stderr, /\(malformed\)$/m);
  });

  test('an operator licenses a 3-node cluster step by step; a copied certificate and a 4th node are refused', async () => {
    // the lease server, with its own key (nodes pin its public half)
    const port = await freePort();
    const serverKey = join(dir, 'lease-server.key');
    const server = new ChorusProcess([
      '--data-dir',
      tempDir(),
      'license',
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--authority',
      authority,
      '--key',
      serverKey,
    ]);
    await server.waitForStderr(/chorus lease server running .*key=ed25519:/);
    const serverPublic = readFileSync(`${serverKey}.pub`, 'utf8').trim();
    const env = {
      CHORUS_LICENSE_AUTHORITY: authority,
      CHORUS_LICENSE_SERVER: `http://127.0.0.1:${port}`,
      CHORUS_LICENSE_SERVER_KEY: serverPublic,
    };
    // each node host: its peer ID; the licensee host: a certificate for it; back to the node's data dir
    const enrol = async (): Promise<{ dataDir: string; peerId: string; cert: string }> => {
      const dataDir = tempDir('chorus-e2e-enrolled-');
      const req = await chorus(['--data-dir', dataDir, 'license', 'request', '--json']);
      assert.equal(req.code, 0, req.stderr);
      const { peerId } = JSON.parse(req.stdout) as { peerId: string };
      const cert = join(dir, `${peerId.slice(-8)}.license.json`);
      const e = await chorus([
        'license',
        'enroll',
        '--license',
        lic,
        '--licensee-key',
        licenseeKey,
        '--peer',
        peerId,
        '--out',
        cert,
      ]);
      assert.equal(e.code, 0, e.stderr);
      const v = await chorus(['license', 'verify', cert, '--authority', authority, '--peer', peerId]);
      assert.equal(v.code, 0, v.stderr);
      copyFileSync(cert, join(dataDir, 'license.json'));
      return { dataDir, peerId, cert };
    };
    const hosts = [await enrol(), await enrol(), await enrol()];
    const first = await Daemon.start({ dataDir: hosts[0]!.dataDir, dev: false, env });
    const addr = (await first.status()).addresses.find((a) => a.startsWith('/ip4/127.0.0.1/'))!;
    const rest = [];
    for (const h of hosts.slice(1))
      rest.push(await Daemon.start({ dataDir: h.dataDir, dev: false, env, bootstrap: [addr] }));
    const nodes = [first, ...rest];
    for (const [i, n] of nodes.entries()) {
      const others = hosts.filter((_, j) => j !== i).map((h) => h.peerId);
      const info = await until(`${n.dataDir} to admit the two others`, async () => {
        const r = await n.cli(['license', 'status', '--json']);
        const s = JSON.parse(r.stdout) as {
          license: { dev: boolean; lease: { state: string } };
          admitted: { peerId: string; via: string }[];
        };
        return others.every((o) => s.admitted.some((p) => p.peerId === o && p.via === 'direct')) ? s : undefined;
      });
      assert.equal(info.license.dev, false);
      assert.equal(info.license.lease.state, 'held');
    }
    // node 1's certificate copied to a fourth host: refused before it does anything
    const copied = tempDir();
    copyFileSync(hosts[0]!.cert, join(copied, 'license.json'));
    const thief = new ChorusProcess(
      ['--data-dir', copied, 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-ops'],
      { env },
    );
    assert.equal((await thief.exited).code, 4, thief.stderr); // an operator must act: never restarted
    assert.equal(lines(thief.stderr).length, 1, thief.stderr);
    assert.match(thief.stderr, /^chorus: .*is a node certificate for peer .*, but .* holds no node key/);
    // a fourth node, properly enrolled: the license allows 3
    const fourth = await enrol();
    const full = new ChorusProcess(
      ['--data-dir', fourth.dataDir, 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-ops'],
      { env },
    );
    const exit = await full.exited;
    assert.equal(exit.code, 1, full.stderr);
    const errors = lines(full.stderr).filter((l) => l.startsWith('chorus: '));
    assert.equal(errors.length, 1, full.stderr);
    assert.doesNotMatch(full.stderr, /^\s+at /m, 'no stack trace');
    assert.match(
      full.stderr,
      /^chorus: lease refused: license .* allows 3 node\(s\) and 3 hold a lease: the cluster is full/m,
    );
    // a node that stops gives its lease back: the fourth fits now
    assert.equal((await first.signalAndWait('SIGTERM')).code, 0);
    const late = await Daemon.start({ dataDir: fourth.dataDir, dev: false, env });
    for (const n of [late, ...rest]) await n.signalAndWait('SIGTERM');
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
