import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderConfigDocs } from '../../src/core/config/docs.ts';
import { configKeys } from '../../src/core/config/keys.ts';
import { loadConfig, validateConfig } from '../../src/core/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { ROOT } from '../helpers/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'chorus-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('defaults apply when nothing is given, with the data dir under home', async () => {
  const c = await loadConfig({ home: '/home/ada', env: {} });
  assert.equal(c.dataDir, '/home/ada/.chorus');
  assert.equal(c.log.level, 'info');
  assert.deepEqual(c.p2p.listen, ['/ip4/0.0.0.0/tcp/9000']);
  assert.equal(c.p2p.mdns, true);
});

test('precedence: defaults < file < env < flags', async () => {
  const yaml = file('layers.yaml', 'log:\n  level: warn\n  format: json\np2p:\n  maxConnections: 10\n  mdns: false\n');
  const fromFile = await loadConfig({ file: yaml, env: {} });
  assert.equal(fromFile.log.level, 'warn');
  assert.equal(fromFile.log.format, 'json');
  const fromEnv = await loadConfig({ file: yaml, env: { CHORUS_LOG_LEVEL: 'debug', CHORUS_MAX_CONNECTIONS: '20' } });
  assert.equal(fromEnv.log.level, 'debug');
  assert.equal(fromEnv.p2p.maxConnections, 20);
  assert.equal(fromEnv.log.format, 'json', 'file value kept where env is silent');
  const fromFlags = await loadConfig({
    file: yaml,
    env: { CHORUS_LOG_LEVEL: 'debug' },
    flags: { log: { level: 'error' } },
  });
  assert.equal(fromFlags.log.level, 'error');
  assert.equal(fromFlags.p2p.mdns, false);
});

test('JSON files and CHORUS_CONFIG are read', async () => {
  const json = file('c.json', JSON.stringify({ agent: { role: 'architect', expertise: ['go', 'k8s'] } }));
  const c = await loadConfig({ env: { CHORUS_CONFIG: json } });
  assert.equal(c.agent.role, 'architect');
  assert.deepEqual(c.agent.expertise, ['go', 'k8s']);
});

test('env lists are comma-separated and booleans are parsed', async () => {
  const c = await loadConfig({
    env: { CHORUS_BOOTSTRAP_PEERS: '/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2', CHORUS_MDNS: 'no' },
  });
  assert.deepEqual(c.p2p.bootstrap, ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2']);
  assert.equal(c.p2p.mdns, false);
});

test('unknown keys are rejected with the key path and the file', async () => {
  const bad = file('unknown.yaml', 'p2p:\n  listen: []\n  maxConection: 3\n');
  await assert.rejects(loadConfig({ file: bad, env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /unknown config key "p2p\.maxConection"/);
    assert.match(err.message, /unknown\.yaml/);
    return true;
  });
  assert.throws(() => validateConfig({ dataDir: '/x', nope: 1 }), /unknown config key "nope"/);
});

test('wrong types are rejected with the key path', async () => {
  const bad = file('types.yaml', 'p2p:\n  maxConnections: many\n');
  await assert.rejects(loadConfig({ file: bad, env: {} }), /"p2p\.maxConnections".*expected number/);
  await assert.rejects(
    loadConfig({ env: { CHORUS_MAX_CONNECTIONS: 'lots' } }),
    /CHORUS_MAX_CONNECTIONS \(config key p2p\.maxConnections\): expected a number/,
  );
  await assert.rejects(loadConfig({ env: { CHORUS_LOG_LEVEL: 'loud' } }), /"log\.level"/);
  await assert.rejects(loadConfig({ flags: { agent: { role: 'bad role!' } } }), /"agent\.role"/);
});

test('an unreadable or malformed config file is a clear ConfigError', async () => {
  await assert.rejects(loadConfig({ file: join(dir, 'missing.yaml'), env: {} }), /cannot read config file/);
  const broken = file('broken.yaml', 'p2p: [unclosed\n');
  await assert.rejects(loadConfig({ file: broken, env: {} }), /not valid YAML or JSON/);
  const list = file('list.yaml', '- a\n- b\n');
  await assert.rejects(loadConfig({ file: list, env: {} }), /must hold a mapping/);
});

test('every key is documented and has a unique environment variable', () => {
  const envs = configKeys()
    .map((k) => k.env)
    .filter(Boolean);
  assert.equal(new Set(envs).size, envs.length);
  for (const k of configKeys()) assert.ok(k.description.length > 10, `${k.path} has a description`);
});

test('docs/config.md is generated from the schema and up to date', () => {
  const onDisk = readFileSync(join(ROOT, 'docs/config.md'), 'utf8');
  assert.equal(onDisk, renderConfigDocs(), 'run `npm run docs:config`');
  for (const k of configKeys()) assert.ok(onDisk.includes(`\`${k.path}\``), `${k.path} documented`);
});
