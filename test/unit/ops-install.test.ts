// `chorus node install` / `uninstall` from source: the unit names this executable, restarts on failure,
// reloads with SIGHUP and carries the hardening options; `systemd-analyze verify` accepts it without a
// single warning where systemd is installed (elsewhere a structural check runs and says why).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT } from '../../src/cli/exit.ts';
import { renderUnit } from '../../src/core/ops/systemd.ts';
import { runCli, SOURCE_ENTRY } from '../helpers/run.ts';

/** The [Section] → key → values of a unit file. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && current, `unit line is "Key=value" inside a section: ${line}`);
    current.set(kv[1] as string, [...(current.get(kv[1] as string) ?? []), kv[2] as string]);
  }
  return sections;
}

function structuralCheck(text: string, dataDir: string): void {
  const unit = parseUnit(text);
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  const svc = unit.get('Service')!;
  const one = (k: string) => svc.get(k)?.[0];
  assert.equal(one('Restart'), 'on-failure');
  // an expired license or a damaged store is not restarted every 5 s forever
  assert.equal(one('RestartPreventExitStatus'), '2 4');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('ReadWritePaths'), dataDir);
  assert.equal(one('PrivateTmp'), 'yes');
  assert.equal(one('CapabilityBoundingSet'), '');
  assert.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
  const exec = one('ExecStart') ?? '';
  assert.ok(exec.startsWith(`${process.execPath} ${SOURCE_ENTRY} --data-dir ${dataDir}`), exec);
  assert.match(exec, / node$| node --assign-url \S+$/);
}

test('install --dry-run prints the unit for this executable and writes nothing', async () => {
  const unitDir = mkdtempSync(join(tmpdir(), 'chorus-units-'));
  const r = await runCli([
    '--json',
    'node',
    'install',
    '--dry-run',
    '--unit-dir',
    unitDir,
    '--data-dir',
    '/var/lib/chorus',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { path: string; action: string; dryRun: boolean; unit: string };
  assert.deepEqual([out.path, out.action, out.dryRun], [join(unitDir, 'chorus.service'), 'created', true]);
  assert.ok(!existsSync(out.path));
  structuralCheck(out.unit, '/var/lib/chorus');
  assert.match(out.unit, /^User=chorus$/m);
  assert.match(out.unit, /^StateDirectory=chorus$/m);
  assert.match(out.unit, /^ProtectHome=yes$/m);
});

test('install writes a unit systemd accepts; uninstall removes it', async (t) => {
  const unitDir = mkdtempSync(join(tmpdir(), 'chorus-units-'));
  const dataDir = '/home/ada/chorus data';
  const args = ['node', 'install', '--unit-dir', unitDir, '--user', 'ada', '--assign-url', 'http://10.0.0.1/a'];
  const r = await runCli(['--data-dir', dataDir, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const file = join(unitDir, 'chorus.service');
  assert.match(r.stdout, new RegExp(`^wrote ${file}\\nnext:\\n`));
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^ProtectHome=read-only$/m, 'a data dir under /home stays reachable');
  assert.match(text, /^ReadWritePaths="\/home\/ada\/chorus data"$/m);
  assert.match(text, /--data-dir "\/home\/ada\/chorus data" node --assign-url http:\/\/10\.0\.0\.1\/a$/m);
  structuralCheck(text.replace(/"\/home\/ada\/chorus data"/g, dataDir), dataDir);

  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  if (!analyze) {
    t.diagnostic('systemd-analyze is not installed here: only the structural check of the unit ran');
  } else {
    const v = spawnSync(analyze, ['verify', file], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    // verify exits 0 even for unknown keys or bad values: it must not print a single warning
    assert.equal(`${v.stdout}${v.stderr}`.trim(), '', 'systemd-analyze verify printed warnings');
  }

  const again = await runCli(['--data-dir', dataDir, ...args]);
  assert.match(again.stdout, /is already up to date/);
  const rm = await runCli(['node', 'uninstall', '--unit-dir', unitDir]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, new RegExp(`^removed ${file}`));
  assert.ok(!existsSync(file));
  const none = await runCli(['node', 'uninstall', '--unit-dir', unitDir]);
  assert.match(none.stdout, /does not exist; nothing to remove/);
});

test('bad input is a usage error', async () => {
  assert.throws(() => renderUnit({ exec: ['/bin/chorus'], user: 'a b', dataDir: '/x' }), { kind: 'usage' });
  assert.throws(() => renderUnit({ exec: ['/bin/chorus'], user: 'a', dataDir: 'rel' }), /must be absolute/);
  const r = await runCli(['node', 'install', '--dry-run', '--user', 'bad user', '--data-dir', '/var/lib/c']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^chorus: invalid user name "bad user"$/m);
});

test('the exits the unit does not restart are the ones no restart can fix', async () => {
  assert.deepEqual([EXIT.usage, EXIT.fatal], [2, 4]);
  const unit = renderUnit({ exec: ['/usr/local/bin/chorus'], user: 'chorus', dataDir: '/var/lib/chorus' });
  assert.match(unit, /^Restart=on-failure\nRestartSec=5s\nRestartPreventExitStatus=2 4$/m);
  // a bad flag exits 2; a node without a license exits 4: the unit would give up on both
  const usage = await runCli(['node', '--api-port', 'nope']);
  assert.equal(usage.code, 2, usage.stderr);
  const dataDir = mkdtempSync(join(tmpdir(), 'chorus-nolicense-'));
  const unlicensed = await runCli(['--data-dir', dataDir, 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']);
  assert.equal(unlicensed.code, 4, unlicensed.stderr);
  assert.match(unlicensed.stderr, /^chorus: no license at /m);
});
