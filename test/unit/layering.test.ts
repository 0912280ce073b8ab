// The shape of the house: offline verbs load no network stack (the modules a process resolves are
// recorded by a preload hook).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runProcess, SOURCE_ENTRY } from '../helpers/run.ts';

/** Packages of the network stack (and the metrics library) that no offline verb may load. */
const NETWORK_STACK =
  /\/node_modules\/(libp2p|@libp2p\/(gossipsub|kad-dht|mdns|tcp|identify|ping)|@chainsafe|prom-client)\//;

async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-modules-'));
  const list = join(dir, 'modules.txt');
  await runProcess(
    process.execPath,
    ['--import', join(ROOT, 'test/fixtures/module-list.ts'), SOURCE_ENTRY, '--data-dir', dir, ...args],
    { env: { ...process.env, NO_COLOR: '1', CHORUS_MODULE_LIST: list } },
  );
  return readFileSync(list, 'utf8').split('\n').filter(Boolean);
}

for (const args of [
  ['keys', 'combine', '--help'],
  ['log', 'verify', '--help'],
  ['keys', 'combine', 'not-a-share', 'nor-this'],
  ['keys', 'export', '--role', 'developer', '--out', 'x.json'],
  ['log', 'verify'],
  ['log', 'tail'],
]) {
  test(`chorus ${args.join(' ')} loads no libp2p, gossipsub, kad-dht or prom-client module`, async () => {
    const modules = await modulesLoadedBy(args);
    assert.ok(
      modules.some((m) => m.includes('/src/cli/')),
      'the hook saw the CLI load',
    );
    const heavy = modules.filter((m) => NETWORK_STACK.test(m));
    assert.deepEqual(heavy.slice(0, 5), [], `${heavy.length} network-stack modules loaded`);
  });
}
