// End-to-end ops of the built binary: the ops listener of a real daemon, JSON log lines with SHHH applied
// to every field, SIGHUP reload (applied, restart-only, rejected), `status --watch` as plain and JSON
// lines, and the assignment server at start (fetched, cached, unreachable with and without a cache).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chorus, ChorusProcess, cleanup, Daemon, lines, tempDir, until } from '../helpers/daemon.ts';
import { BINARY } from '../helpers/run.ts';

interface JsonLine {
  time: string;
  level: string;
  component: string;
  message: string;
  fields: Record<string, unknown>;
}

const jsonLines = (text: string): JsonLine[] => lines(text).map((l) => JSON.parse(l) as JsonLine);

after(() => cleanup());

describe('a daemon with a config file and JSON logs', () => {
  let node: Daemon;
  let file = '';
  const SECRET = 'AKIAIOSFODNN7EXAMPLE';

  before(async () => {
    const dir = tempDir();
    file = join(dir, 'chorus.yaml');
    writeFileSync(file, 'agent:\n  role: developer\nops:\n  checkIntervalMs: 500\n  checkTimeoutMs: 1000\n');
    // a bootstrap peer whose host name carries an AWS key id: every dial failure logs it
    const peer = '12D3KooWGzBDgBQiSzN9GTbqvVaMmNd2QRyvFV3Ps4qkVkcMuBDs';
    node = await Daemon.start({
      config: file,
      globalArgs: ['--log-format', 'json'],
      bootstrap: [`/dns4/${SECRET}.invalid/tcp/9/p2p/${peer}`],
    });
  });

  test('every log line is {time, level, component, message, fields}', async () => {
    await node.waitForStderr(/bootstrap dial failed/);
    const entries = jsonLines(node.stderr);
    assert.ok(entries.length >= 2);
    for (const e of entries) {
      assert.deepEqual(Object.keys(e), ['time', 'level', 'component', 'message', 'fields']);
      assert.ok(Date.parse(e.time) > 0);
      assert.equal(typeof e.fields, 'object');
    }
    const running = entries.find((e) => e.message === 'chorus node running');
    assert.equal(running?.component, 'chorus');
    assert.match(String(running?.fields.ops), /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('SHHH applies to log lines: a secret in a logged field never reaches stderr', async () => {
    const failed = jsonLines(node.stderr).find((e) => e.message === 'bootstrap dial failed; retrying');
    assert.ok(failed, node.stderr);
    assert.match(String(failed.fields.peer), /^\/dns4\/\[REDACTED:aws-access-key-id\]\.invalid\/tcp\/9\/p2p\//);
    assert.ok(!node.stderr.includes(SECRET), 'the secret appears nowhere in the logs');
  });

  test('the ops listener answers /healthz, /readyz (red: no peers), /health and /metrics', async () => {
    assert.equal((await node.ops('/healthz')).status, 200);
    const ready = await until('the checks ran', async () => {
      const r = await node.ops('/readyz');
      return r.text.includes('not run yet') ? undefined : r;
    });
    assert.equal(ready.status, 503);
    assert.ok(
      (JSON.parse(ready.text) as { reasons: string[] }).reasons.includes(
        'peers: no peers connected (none of 1 bootstrap peer(s) reachable)',
      ),
    );
    const health = JSON.parse((await node.ops('/health')).text) as { checks: { name: string }[] };
    assert.deepEqual(health.checks.map((c) => c.name).sort(), ['dht', 'license', 'peers', 'pubsub']);
    const metrics = await node.ops('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^process_resident_memory_bytes \d+/m);
    assert.match(metrics.text, /^chorus_peers\{license="unknown"\} 0$/m);
    assert.match(metrics.text, /^chorus_ready 0$/m);
  });

  test('SIGHUP applies reloadable keys, reports restart-only ones, and rejects a broken file', async () => {
    writeFileSync(
      file,
      'agent:\n  role: architect\n  expertise: [rust]\ndht:\n  replication: 4\nops:\n  checkIntervalMs: 500\n  checkTimeoutMs: 1000\n',
    );
    node.child.kill('SIGHUP');
    await node.waitForStderr(/"message":"configuration reloaded"/);
    const done = jsonLines(node.stderr).find((e) => e.message === 'configuration reloaded');
    assert.deepEqual(done?.fields.applied, ['agent.role', 'agent.expertise']);
    assert.deepEqual(done?.fields.restartRequired, ['dht.replication']);
    const s = await node.status();
    assert.equal(s.role, 'architect');
    assert.ok(s.topics.some((t) => t.topic === 'CHORUS/expertise/rust/v1'));

    writeFileSync(file, 'agent:\n  role: [not, a, string]\n');
    node.child.kill('SIGHUP');
    await node.waitForStderr(/"message":"configuration reload rejected; the running configuration stays"/);
    const rejected = jsonLines(node.stderr).find((e) => e.message.startsWith('configuration reload rejected'));
    assert.equal(rejected?.level, 'error');
    assert.match(String(rejected?.fields.error), /config key "agent\.role"/);
    assert.equal((await node.status()).role, 'architect', 'the old configuration stays');
    assert.equal(node.exitStatus, undefined, 'the node keeps running');
  });

  test('status --watch: one plain line per refresh when piped, one JSON frame per line with --json', async () => {
    const plain = new ChorusProcess(['--data-dir', node.dataDir, 'status', '--watch', '--interval', '200ms']);
    await plain.waitFor('two frames', () => (lines(plain.stdout).length >= 2 ? true : undefined));
    const exit = await plain.signalAndWait('SIGINT');
    assert.equal(exit.code, 0, plain.stderr);
    for (const l of lines(plain.stdout)) {
      assert.match(l, /^\S+Z peers=0 topics=\d+ dht=0\/0 election="term \d+, leader" lease="none" NOT READY \(peers: /);
    }
    assert.ok(!plain.stdout.includes('\x1b['), 'no terminal control codes when piped');

    const json = new ChorusProcess(['--data-dir', node.dataDir, '--json', 'status', '--watch', '--interval', '200ms']);
    await json.waitFor('two frames', () => (lines(json.stdout).length >= 2 ? true : undefined));
    await json.signalAndWait('SIGINT');
    const frames = lines(json.stdout).map(
      (l) => JSON.parse(l) as { status: { peerId: string; role: string }; ops: { health: { ready: boolean } } },
    );
    assert.equal(frames[0]?.status.role, 'architect');
    assert.equal(frames[0]?.ops.health.ready, false);
  });
});

test('node install: the unit of the single executable runs the executable itself', async () => {
  const r = await chorus(['--data-dir', '/var/lib/chorus', '--json', 'node', 'install', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  const unit = (JSON.parse(r.stdout) as { unit: string }).unit;
  assert.match(
    unit,
    new RegExp(`^ExecStart=${BINARY.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --data-dir /var/lib/chorus node$`, 'm'),
  );
});

describe('assignment server at start', () => {
  let server: Server;
  let url = '';
  let up = true;

  before(async () => {
    server = createServer((_req, res) => {
      if (!up) return void res.socket?.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ role: 'observer', expertise: ['ops'], joinStagger: 0 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/assignment`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('fetched and applied; cached and used with a warning when the server is down; no cache → exit 1', async () => {
    const dataDir = tempDir();
    const a = await Daemon.start({ dataDir, nodeArgs: ['--assign-url', url] });
    assert.equal((await a.status()).role, 'observer');
    assert.match(a.stderr, /assignment received/);
    await a.signalAndWait('SIGTERM');

    up = false;
    try {
      const b = await Daemon.start({ dataDir, nodeArgs: ['--assign-url', url] });
      assert.equal((await b.status()).role, 'observer');
      assert.match(b.stderr, /WARN .*assignment server unreachable; using the cached assignment/);
      await b.signalAndWait('SIGTERM');

      const fresh = new ChorusProcess([
        '--data-dir',
        tempDir(),
        'node',
        '--dev',
        '--no-mdns',
        '--no-ops',
        '--assign-url',
        url,
      ]);
      const exit = await fresh.exited;
      assert.equal(exit.code, 1, fresh.stderr);
      // one error line (the dev-license notice before it is a log line, not an error)
      assert.equal(lines(fresh.stderr).filter((l) => l.startsWith('chorus: ')).length, 1, fresh.stderr);
      assert.doesNotMatch(fresh.stderr, /^\s+at /m, 'no stack trace');
      assert.match(
        fresh.stderr,
        /^chorus: assignment server http:\S+ is unreachable: .* and no cached assignment exists in /m,
      );
    } finally {
      up = true;
    }
  });
});
