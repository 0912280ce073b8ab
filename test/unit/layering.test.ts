// The shape of the house: offline verbs load no network stack (the modules a process resolves are
// recorded by a preload hook); src/core's layers point down and the import graph has no cycle (the
// lint rules, on bad fixtures); no file in src/core is over ~500 lines without a reason in its header.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
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

// ---- the import-boundary lint rules (eslint-rules/boundaries.js), on bad fixtures ----------------

async function lint(text: string, filePath: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: ROOT }).lintText(text, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

test('lint forbids upward imports from the lower layers of src/core (type-only and dynamic included)', async () => {
  const cases: [string, string, RegExp][] = [
    [
      "import { decisionNamespaces } from '../decisions/namespace.ts';\nexport const x = decisionNamespaces;\n",
      'src/core/dht/upward.ts',
      /chorus\/layers: core\/dht \(dht\) may not import core\/decisions \(features\)/,
    ],
    [
      "import type { ChorusNode } from '../node/node.ts';\nexport type X = ChorusNode;\n",
      'src/core/p2p/upward.ts',
      /chorus\/layers: core\/p2p \(p2p\) may not import core\/node/,
    ],
    [
      "export const load = () => import('../ops/service.ts');\n",
      'src/core/eventlog/upward.ts',
      /chorus\/layers: core\/eventlog \(libraries\) may not import core\/ops/,
    ],
    [
      "import type { DirectReplicas } from '../dht/direct.ts';\nexport type X = DirectReplicas;\n",
      'src/core/crypto/upward.ts',
      /chorus\/layers: core\/crypto \(libraries\) may not import core\/dht/,
    ],
    [
      "import type { Identity } from '../p2p/identity.ts';\nexport type X = Identity;\n",
      'src/core/ucxl/upward.ts',
      /chorus\/layers: core\/ucxl \(libraries\) may not import core\/p2p/,
    ],
  ];
  for (const [text, file, expected] of cases) {
    const messages = await lint(text, file);
    assert.ok(
      messages.some((m) => expected.test(m)),
      `${file}: ${messages.join('; ') || 'no error'}`,
    );
  }
  // downward and sideways-between-features imports are fine
  assert.deepEqual(
    await lint(
      "import { DirectReplicas } from '../dht/direct.ts';\nexport const x = DirectReplicas;\n",
      'src/core/decisions/ok.ts',
    ),
    [],
  );
});

test('lint forbids import cycles, type-only ones included', async () => {
  // log.ts is imported by nearly everything; a type import of the node assembly closes a cycle
  const messages = await lint(
    "import type { ChorusNode } from './node/node.ts';\nexport type X = ChorusNode;\n",
    'src/core/log.ts',
  );
  assert.ok(
    messages.some((m) =>
      /^chorus\/no-cycle: import cycle: src\/core\/log\.ts → src\/core\/node\/node\.ts → .+ → src\/core\/log\.ts$/.test(
        m,
      ),
    ),
    messages.join('; '),
  );
});

test('no file in src/core is over ~500 lines without a reason (a "Size:" line) in its header', () => {
  const long: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const lines = readFileSync(path, 'utf8').split('\n');
        const header = lines.slice(
          0,
          lines.findIndex((l) => !l.startsWith('//')),
        );
        if (lines.length > 520 && !header.some((l) => /^\/\/ Size: \S/.test(l))) long.push(`${path} (${lines.length})`);
      }
    }
  };
  walk(join(ROOT, 'src/core'));
  assert.deepEqual(long, []);
});
