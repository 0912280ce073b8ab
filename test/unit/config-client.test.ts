// The client verbs' config (src/core/config/client.ts) against the full load: whenever it answers, its
// values are loadConfig's for the same sources; whenever loadConfig would reject the sources, it does not
// answer (so the caller runs loadConfig and the user gets loadConfig's message).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clientConfig, type ClientSources } from '../../src/core/config/client.ts';
import { loadConfig, setPath, type ConfigLayer } from '../../src/core/config/load.ts';

async function full(s: ClientSources) {
  const flags: ConfigLayer = {};
  if (s.flags.dataDir !== undefined) setPath(flags, 'dataDir', s.flags.dataDir);
  if (s.flags.logLevel) setPath(flags, 'log.level', s.flags.logLevel);
  if (s.flags.logFormat) setPath(flags, 'log.format', s.flags.logFormat);
  const c = await loadConfig({ file: s.file, env: s.env, flags, home: s.home });
  return { dataDir: c.dataDir, log: c.log, dht: { timeoutMs: c.dht.timeoutMs }, shhh: { rules: c.shhh.rules } };
}

test('with nothing set it gives the defaults loadConfig gives', async () => {
  const s: ClientSources = { env: {}, flags: {}, home: '/home/ada' };
  assert.deepEqual(clientConfig(s), await full(s));
});

test('env and flags: the same values and precedence as loadConfig (a relative data dir is resolved)', async () => {
  const s: ClientSources = {
    env: {
      CHORUS_DATA_DIR: '/srv/chorus',
      CHORUS_LOG_LEVEL: 'debug',
      CHORUS_LOG_FORMAT: 'json',
      CHORUS_DHT_TIMEOUT_MS: '2500',
      CHORUS_DEV: 'yes',
      CHORUS_DEV_AUTHORITY: '/tmp/auth.key',
      CHORUS_CONFIG: '',
      PATH: '/usr/bin',
    },
    flags: { dataDir: 'rel/dir', logLevel: 'warn' },
  };
  const c = clientConfig(s);
  assert.ok(c);
  assert.equal(c.dataDir, `${process.cwd()}/rel/dir`);
  assert.deepEqual(c, await full(s));
});

test('it leaves to loadConfig a config file, CHORUS_CONFIG, variables it does not read, and values it doubts', () => {
  const none = (env: Record<string, string>, flags: ClientSources['flags'] = {}, file?: string) =>
    assert.equal(clientConfig({ env, flags, file }), undefined, JSON.stringify({ env, flags, file }));
  none({}, {}, '/etc/chorus.yaml');
  none({ CHORUS_CONFIG: '/etc/chorus.yaml' });
  none({ CHORUS_OPS_PORT: '0' }); // valid, but not this module's to judge
  none({ CHORUS_SOMETHING_ELSE: 'x' });
  none({ CHORUS_LOG_LEVEL: 'loud' });
  none({ CHORUS_DHT_TIMEOUT_MS: '99' });
  none({ CHORUS_DHT_TIMEOUT_MS: '1.5e3x' });
  none({ CHORUS_DEV: 'maybe' });
  none({}, { dataDir: '' });
});

test('property: when it answers, loadConfig accepts the same sources and agrees', async () => {
  const value = fc.oneof(
    fc.constantFrom('', ' ', 'info', 'debug', 'json', 'text', 'true', 'off', 'maybe', '100', '99', '2000', '1e4'),
    fc.string({ maxLength: 6 }),
  );
  const names = ['CHORUS_DATA_DIR', 'CHORUS_LOG_LEVEL', 'CHORUS_LOG_FORMAT', 'CHORUS_DHT_TIMEOUT_MS', 'CHORUS_DEV'];
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(fc.constantFrom(...names, 'CHORUS_DEV_AUTHORITY', 'CHORUS_OPS_PORT', 'HOME'), value),
      fc.record({ dataDir: fc.option(fc.constantFrom('', 'x', '/abs'), { nil: undefined }) }),
      async (env, flags) => {
        const s: ClientSources = { env, flags, home: '/home/ada' };
        const c = clientConfig(s);
        if (c === undefined) return;
        assert.deepEqual(c, await full(s));
      },
    ),
    { numRuns: 300 },
  );
});
