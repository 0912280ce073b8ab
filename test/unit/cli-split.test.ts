// The client entry (src/cli/client.ts) and the split executable: which argv the client tree takes, that
// its verbs are the full tree's verbs (same help, same flags), and that the executable's main bundle holds
// the client verbs without the node's code (libp2p, the DHT, the config schema).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import type { Metafile } from 'esbuild';
import { buildClientBundle, buildFullBundle, buildMainBundle } from '../../scripts/build-binaries.ts';
import { buildClientProgram, clientProgramFor } from '../../src/cli/client.ts';
import { buildProgram } from '../../src/cli/program.ts';
import { ROOT } from '../helpers/run.ts';

const ENV = { HOME: '/home/someone', PATH: '/usr/bin' };
const routed = (argv: string[], env: NodeJS.ProcessEnv = ENV) => clientProgramFor(argv, env) !== undefined;

test('the client tree takes exactly the client verbs, with any global flags around them', () => {
  for (const argv of [
    ['status'],
    ['--json', 'status'],
    ['--data-dir', '/d', 'status', '--json'],
    ['--data-dir=/d', '--log-level', 'debug', 'status'],
    ['status', '--watch', '--interval', '5s'],
    ['status', '--frobnicate'], // the same status definition rejects it, with the same line
    ['status', '--help'],
    ['elect', 'status'],
    ['elect', '--json', 'status', '--require-leader'],
    ['ucxl', 'get', 'ucxl://a:b@c:d/*^/x', '--out', 'f'],
    ['ucxl', 'get'], // missing argument: the same get definition says so
    ['--version'],
    ['-V'],
    ['--json', '--data-dir', '/d', '--version'],
  ])
    assert.ok(routed(argv), argv.join(' '));
  for (const argv of [
    [],
    ['--help'],
    ['--version', '--help'], // commander shows the full tree's help
    ['--version', '--frobnicate'],
    ['help', 'status'],
    ['version'],
    ['peers'],
    ['stauts'],
    ['elect'],
    ['elect', 'watch'],
    ['elect', 'help', 'status'],
    ['ucxl', 'put', 'ucxl://a:b@c:d/*^/x'],
    ['--frobnicate', 'status'],
    ['--log-level', 'loud', 'status'], // commander rejects the global flag: the full program reports it
    ['--config', 'chorus.yaml', 'status'], // only loadConfig reads a config file
  ])
    assert.ok(!routed(argv), argv.join(' '));
  assert.ok(!routed(['status'], { ...ENV, CHORUS_P2P_MDNS: 'false' }), 'a variable clientConfig leaves to loadConfig');
  assert.ok(!routed(['status'], { ...ENV, CHORUS_LOG_LEVEL: 'loud' }), 'a value loadConfig must reject');
  assert.ok(routed(['status'], { ...ENV, CHORUS_DATA_DIR: '/d', CHORUS_LOG_LEVEL: 'warn' }));
});

function leaf(program: Command, path: string[]): Command {
  let cmd = program;
  for (const word of path) {
    const next = cmd.commands.find((c) => c.name() === word);
    assert.ok(next, `${path.join(' ')} exists`);
    cmd = next;
  }
  return cmd;
}

test('a client verb is the full tree’s verb: same help, arguments and flags', () => {
  const full = buildProgram();
  const client = buildClientProgram();
  for (const path of [['status'], ['elect', 'status'], ['ucxl', 'get']]) {
    const [a, b] = [leaf(full, path), leaf(client, path)];
    assert.equal(b.helpInformation(), a.helpInformation(), path.join(' '));
    assert.deepEqual(
      b.options.map((o) => [o.flags, o.defaultValue]),
      a.options.map((o) => [o.flags, o.defaultValue]),
    );
    assert.deepEqual(
      b.registeredArguments.map((x) => [x.name(), x.required]),
      a.registeredArguments.map((x) => [x.name(), x.required]),
    );
  }
  // the root's flags too (its help, which lists every verb, is the full program's to print)
  assert.deepEqual(
    client.options.map((o) => [o.flags, o.description]),
    full.options.map((o) => [o.flags, o.description]),
  );
});

/** The source files a bundle's output holds (meta.inputs also lists files esbuild read but tree-shook away). */
function bundled(meta: Metafile): string[] {
  const held = Object.values(meta.outputs)[0]!.inputs;
  return Object.keys(held)
    .filter((f) => held[f]!.bytesInOutput > 0)
    .map((f) => relative(ROOT, join(process.cwd(), f)));
}

test('the executable’s main script loads its client asset, or the full program for a process that lives on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-split-'));
  try {
    const out = join(dir, 'main.cjs');
    const inputs = bundled(await buildMainBundle(out)).sort();
    assert.deepEqual(inputs, [
      '<stdin>',
      'src/cli/allocator.ts',
      'src/cli/sea-asset.ts',
      'src/cli/sea-full.ts',
      'src/cli/sea-main.ts',
      'src/core/code-cache.ts',
    ]);
    const code = readFileSync(out, 'utf8');
    assert.match(code, /"chorus-client\.js"/);
    assert.match(code, /"chorus-client\.cache"/);
    assert.match(code, /"chorus-full\.js"/);
    assert.match(code, /"chorus-full\.cache"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the executable’s client asset holds the client verbs, not the node, the config schema or SHHH', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-split-'));
  try {
    const out = join(dir, 'client.cjs');
    const meta = await buildClientBundle(out);
    const inputs = bundled(meta);
    for (const needed of [
      'src/cli/entry.ts',
      'src/cli/client.ts',
      'src/cli/verbs/node.ts',
      'src/commands/node/status.ts',
      'src/cli/verbs/version.ts',
      'src/commands/version.ts',
      'src/cli/sea-full.ts',
    ])
      assert.ok(inputs.includes(needed), needed);
    const forbidden = inputs.filter(
      (f) =>
        /node_modules\/(@libp2p|libp2p|@chainsafe|zod|yaml|re2js)\//.test(f) ||
        /^src\/core\/(p2p|dht|pubsub|eventlog|decisions\/store|node\/node)/.test(f) ||
        ['src/cli/main.ts', 'src/cli/program.ts', 'src/core/config/load.ts', 'src/core/shhh/redactor.ts'].includes(f),
    );
    assert.deepEqual(forbidden, []);
    const code = readFileSync(out, 'utf8');
    for (const lazy of ['node:child_process', 'node:fs/promises', 'node:http'])
      assert.ok(!code.includes(`require("${lazy}")`), `${lazy} is required on first use`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the executable’s full program holds the zod it uses: English messages and no other locale', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-split-'));
  try {
    const out = join(dir, 'full.cjs');
    const inputs = bundled(await buildFullBundle(out));
    const zod = inputs.filter((f) => f.startsWith('node_modules/zod/'));
    assert.ok(zod.includes('node_modules/zod/v4/core/schemas.js'), 'zod itself is there');
    const locales = zod.filter((f) => f.includes('/locales/'));
    assert.ok(locales.includes('node_modules/zod/v4/locales/en.js'), 'the English locale is there');
    assert.deepEqual(
      locales.filter((f) => !/\/locales\/(en|index)\.js$/.test(f)),
      [],
    );
    assert.ok(readFileSync(out, 'utf8').includes('Invalid input: expected'), 'the English messages are there');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
