// SIGHUP reload and runtime assignment against running in-process nodes: reloadable keys take effect
// (role topics, presence re-announce, log level, SHHH rules, hop limit), restart-only keys are reported
// and keep their running value, a broken config changes nothing; the assignment server (a real local
// HTTP server) is merged above file and env, cached, and used from the cache when it is down.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/core/config/load.ts';
import { createLogger } from '../../src/core/log.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { ASSIGNMENT_FILE, AssignmentError, parseAssignment } from '../../src/core/ops/assign.ts';
import { ConfigReloader, withAssignment } from '../../src/core/ops/reloader.ts';
import { TOPICS } from '../../src/core/pubsub/topics.ts';
import { startCluster, startWithConfig, stopAll, testConfig, waitForMesh } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) });
  const parsed = () =>
    lines.map((l) => JSON.parse(l) as { level: string; message: string; fields: Record<string, unknown> });
  return { logger, lines, parsed };
}

describe('node.reload', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    nodes = await startCluster(2);
  });
  after(() => stopAll(nodes));

  test('reloadable keys apply now, restart-only keys are reported and keep their value', async () => {
    const [a, b] = nodes as [ChorusNode, ChorusNode];
    // the re-announcement is one broadcast: B must be in A's mesh for it (a busy machine forms it late)
    await waitForMesh(nodes, TOPICS.coordination, 1);
    const next = structuredClone(a.config);
    next.agent.role = 'architect';
    next.agent.expertise = ['rust'];
    next.agent.capabilities = ['review'];
    next.pubsub.hopLimit = 5;
    next.p2p.listen = ['/ip4/127.0.0.1/tcp/1'];
    next.shhh.rules = [
      { name: 'codename', pattern: 'BLUEBIRD-\\d+', flags: '', severity: 'high', tags: [], action: 'redact' },
    ];
    const r = await a.reload(next);
    assert.deepEqual(r.restartRequired, ['p2p.listen']);
    assert.deepEqual(
      [...r.applied].sort(),
      ['agent.capabilities', 'agent.expertise', 'agent.role', 'pubsub.hopLimit', 'shhh.rules'].sort(),
    );
    assert.deepEqual(r.failed, []);
    assert.equal(a.config.agent.role, 'architect');
    assert.deepEqual(a.config.p2p.listen, ['/ip4/127.0.0.1/tcp/0'], 'restart-only keys keep their running value');
    const topics = a.status().topics.map((t) => t.topic);
    assert.ok(topics.includes('CHORUS/roles/architect/v1'));
    assert.ok(topics.includes('CHORUS/expertise/rust/v1'));
    assert.ok(!topics.includes('CHORUS/roles/developer/v1'), 'the old role topic was left');
    // presence re-announced: the peer learns the new role and capabilities
    await until('B sees A as architect', () => {
      const p = b.presence.peer(a.peerId);
      return p?.role === 'architect' && p.capabilities.includes('review');
    });
    // the new SHHH rule applies to what A publishes
    const receipt = await a.pubsub.publish('TaskAnnouncement', { task_id: 't', note: 'BLUEBIRD-7 ships' });
    assert.equal(receipt.redactions, 1);
  });

  test('event-log retention and the per-peer limit apply on reload (SIGHUP), without a restart', async () => {
    const [a] = nodes as [ChorusNode];
    assert.equal(a.eventLog.checkpoint(), undefined, 'nothing was cut yet');
    const next = structuredClone(a.config);
    next.eventLog.maxSizeMb = 0.001; // ~1 KiB: the log of a running node is larger
    next.eventLog.peerRateLimit = 5;
    const r = await a.reload(next);
    assert.deepEqual([...r.applied].sort(), ['eventLog.maxSizeMb', 'eventLog.peerRateLimit']);
    assert.deepEqual(r.restartRequired, []);
    const cut = await until('retention to cut the log under the new size', () => a.eventLog.checkpoint());
    assert.ok(cut.seq > 0);
    assert.equal(a.config.eventLog.maxSizeMb, 0.001);
  });

  test('a config that cannot work is refused whole and changes nothing', async () => {
    const [a] = nodes as [ChorusNode];
    const before = structuredClone(a.config);
    const next = structuredClone(a.config);
    next.agent.role = 'observer';
    next.shhh.rules = [{ name: 'broken', pattern: '(', flags: '', severity: 'high', tags: [], action: 'redact' }];
    await assert.rejects(a.reload(next), { code: 'CONFIG_INVALID', message: /new configuration refused: .*broken/ });
    assert.deepEqual(a.config, before);
    assert.ok(a.status().topics.some((t) => t.topic === `CHORUS/roles/${before.agent.role}/v1`));
  });
});

describe('ConfigReloader (the SIGHUP path) with a config file and an assignment server', () => {
  let server: Server;
  let url = '';
  let assignment: unknown = { role: 'architect', expertise: ['go'], joinStagger: 250 };
  let up = true;
  const dir = mkdtempSync(join(tmpdir(), 'chorus-reload-'));
  const file = join(dir, 'chorus.yaml');
  let node: ChorusNode | undefined;

  before(async () => {
    server = createServer((req, res) => {
      if (!up) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(assignment));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}/assign`;
  });
  after(async () => {
    await node?.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const base = testConfig();
  const loader =
    (env: Record<string, string> = {}, flags: Record<string, unknown> = {}) =>
    (layer?: Record<string, unknown>) =>
      loadConfig({
        file,
        env,
        assignment: layer,
        flags: {
          dataDir: base.dataDir,
          license: base.license,
          p2p: { listen: base.p2p.listen, mdns: false },
          ops: { port: 0 },
          ...flags,
        },
      });

  test('precedence: defaults < file < env < assignment < flags; the assignment is cached', async () => {
    writeFileSync(file, `agent:\n  role: developer\n  expertise: [python]\nassign:\n  url: ${url}\n`);
    const { logger } = capture();
    const load = loader({ CHORUS_ROLE: 'observer', CHORUS_EXPERTISE: 'java' });
    const r = await withAssignment(await load(), load, logger);
    assert.equal(r.config.agent.role, 'architect');
    assert.deepEqual(r.config.agent.expertise, ['go']);
    assert.equal(r.config.p2p.joinStaggerMs, 250);
    assert.ok(existsSync(join(base.dataDir, ASSIGNMENT_FILE)));
    const flagged = loader({ CHORUS_ROLE: 'observer' }, { agent: { role: 'admin' } });
    assert.equal((await withAssignment(await flagged(), flagged, logger)).config.agent.role, 'admin');
  });

  test('an invalid assignment is refused with the field named (the cached one stays in use)', async () => {
    assignment = { role: 'observer', colour: 'blue' };
    const { logger, parsed } = capture();
    const load = loader();
    const r = await withAssignment(await load(), load, logger);
    assert.equal(r.config.agent.role, 'architect', 'the cached assignment, not the invalid one');
    const warn = parsed().find((l) => l.level === 'warn');
    assert.match(String(warn?.fields.error), /invalid assignment from .*: unknown field\(s\) colour/);
    assert.throws(() => parseAssignment({ role: 'a b' }, 'test'), AssignmentError);
    assignment = { role: 'architect', expertise: ['go'] };
  });

  test('server down: the cached assignment is used with a warning; no cache is a clear error', async () => {
    up = false;
    try {
      const { logger, parsed } = capture();
      const load = loader();
      const r = await withAssignment(await load(), load, logger);
      assert.equal(r.config.agent.role, 'architect');
      const warn = parsed().find((l) => l.level === 'warn');
      assert.equal(warn?.message, 'assignment server unreachable; using the cached assignment');
      const fresh = testConfig();
      const noCache = (layer?: Record<string, unknown>) =>
        loadConfig({ env: {}, assignment: layer, flags: { dataDir: fresh.dataDir, assign: { url } } });
      await assert.rejects(withAssignment(await noCache(), noCache, logger), {
        code: 'ASSIGNMENT_UNAVAILABLE',
        message:
          /^assignment server http:\/\/127\.0\.0\.1:\d+\/assign is unreachable: .* and no cached assignment exists in /,
      });
    } finally {
      up = true;
    }
  });

  test('SIGHUP path: file edits and a new assignment apply; a broken file is rejected and the old config stays', async () => {
    writeFileSync(file, `assign:\n  url: ${url}\n`);
    const { logger, parsed } = capture();
    const load = loader();
    const start = await withAssignment(await load(), load, logger);
    node = await startWithConfig(start.config, {}, undefined, { logger });
    const reloader = new ConfigReloader({ node, load, logger, assignment: start.assignment });
    assert.equal(node.config.agent.role, 'architect');

    writeFileSync(
      file,
      `assign:\n  url: ${url}\nlog:\n  level: debug\npubsub:\n  meshWaitMs: 1234\nshhh:\n  rules:\n    - name: codename\n      pattern: "BLUEBIRD-\\\\d+"\n`,
    );
    assignment = { role: 'observer', expertise: ['go'] };
    const r = await reloader.reload();
    assert.ok(r);
    assert.deepEqual([...r.applied].sort(), ['agent.role', 'log.level', 'pubsub.meshWaitMs', 'shhh.rules']);
    // the new SHHH rule now scrubs log lines too
    logger.child('test').info('shipping', { codename: 'BLUEBIRD-42' });
    assert.deepEqual(parsed().at(-1)?.fields, { codename: '[REDACTED:codename]' });
    assert.equal(node.config.agent.role, 'observer');
    assert.equal(logger.level, 'debug');
    const done = parsed().find((l) => l.message === 'configuration reloaded');
    assert.deepEqual(done?.fields.applied, r.applied);

    writeFileSync(file, `assign:\n  url: ${url}\nagent:\n  role: "not a role!"\n`);
    assert.equal(await reloader.reload(), undefined);
    const rejected = parsed().find((l) => l.message.startsWith('configuration reload rejected'));
    assert.equal(rejected?.level, 'error');
    assert.match(String(rejected?.fields.error), /agent\.role/);
    assert.equal(node.config.agent.role, 'observer');
    assert.equal(logger.level, 'debug');
  });
});

describe('reload of the ops listener and connection limits', () => {
  let node: ChorusNode;
  before(async () => {
    node = await startWithConfig(testConfig({ ops: { checkIntervalMs: 60_000 } }), {}, undefined, { ops: true });
  });
  after(() => node.stop());

  test('ops can be switched off and on; a port that is taken is refused and the listener stays', async () => {
    const first = node.ops!.url()!;
    assert.equal((await fetch(`${first}/healthz`)).status, 200);

    const off = structuredClone(node.config);
    off.ops.enabled = false;
    assert.deepEqual((await node.reload(off)).applied, ['ops.enabled']);
    assert.equal(node.ops!.url(), undefined);
    assert.equal(node.status().ops, undefined);
    await assert.rejects(fetch(`${first}/healthz`, { signal: AbortSignal.timeout(2000) }));

    const on = structuredClone(node.config);
    on.ops.enabled = true;
    const restarted = Date.now();
    await node.reload(on);
    const second = node.ops!.url()!;
    assert.equal((await fetch(`${second}/healthz`)).status, 200);
    await until('the checks run again after the restart', () =>
      node.ops!.health.report().checks.every((c) => Date.parse(c.lastRun ?? '') >= restarted),
    );

    // a port another process holds: the reload reports it and the running listener keeps serving
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const taken = structuredClone(node.config);
      taken.ops.port = (blocker.address() as { port: number }).port;
      const r = await node.reload(taken);
      assert.deepEqual(r.applied, []);
      assert.equal(r.failed[0]?.key, 'ops.port');
      assert.match(r.failed[0]?.error ?? '', /already in use/);
      assert.equal(node.config.ops.port, 0, 'the running value stays');
      assert.equal((await fetch(`${node.ops!.url()}/healthz`)).status, 200);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('connection limits apply to the running host', async () => {
    const next = structuredClone(node.config);
    next.p2p.maxConnections = 17;
    next.p2p.maxPeersPerIp = 5;
    const r = await node.reload(next);
    assert.deepEqual([...r.applied].sort(), ['p2p.maxConnections', 'p2p.maxPeersPerIp']);
    const cm = (node.libp2p as unknown as { components: { connectionManager: { getMaxConnections(): number } } })
      .components.connectionManager;
    assert.equal(cm.getMaxConnections(), 17);
  });
});
