// Which verbs the single executable counts as living on (sea-asset.ts): their bundles are read from the
// executable file, any other verb's through Node's mapping.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longLived } from '../../src/cli/sea-asset.ts';

test('a node, a subscriber, an agent, a benchmark, a lease server and a watch live on, with global options before them', () => {
  for (const argv of [
    ['node'],
    ['node', '--dev', '--listen', '/ip4/127.0.0.1/tcp/0'],
    ['--data-dir', '/tmp/x', 'node'],
    ['--log-level', 'debug', '--json', 'subscribe', 'CHORUS/x'],
    ['--config', 'node', 'agent', 'run'],
    ['bench', 'dht', '--procs', '5'],
    ['--data-dir=/tmp/x', 'license', 'serve', '--port', '9'],
    ['task', 'watch', '--json'],
    ['elect', 'watch'],
  ])
    assert.equal(longLived(argv), true, argv.join(' '));
});

test('other verbs end at once: publish, ucxl, version, other license verbs, an option value that names a verb', () => {
  for (const argv of [
    [],
    ['publish', 'TaskAnnouncement', '--data', '{}'],
    ['ucxl', 'put', 'ucxl://a:b@c:d/*^/x', 'node'],
    ['version', '--json'],
    ['license', 'show'],
    ['license'],
    ['--data-dir', 'node', 'status'],
    ['--log-format', 'json', 'task', 'ls'],
    ['elect', 'status'],
  ])
    assert.equal(longLived(argv), false, argv.join(' '));
});
