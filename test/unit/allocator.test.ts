// glibc's allocator settings for processes that live on (src/cli/allocator.ts): which starts restart with them,
// what the restart's environment holds, that the second start takes them back out of process.env, and that a
// start whose execve fails goes on without a word. The executable's own restart is in test/e2e/binary.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { allocatorStep, MALLOC_TUNABLES, RESTART_MARK } from '../../src/cli/allocator.ts';
import { ROOT } from '../helpers/run.ts';

const ENV = { HOME: '/home/someone', PATH: '/usr/bin', CHORUS_DATA_DIR: '/d' };
const LINUX = { platform: 'linux', nodeMajor: 26 };

test('a process that lives on restarts with the settings and the mark, its environment otherwise as it was', () => {
  for (const argv of [
    ['node'],
    ['--data-dir', '/d', 'node', '--dev'],
    ['agent', 'run'],
    ['license', 'serve'],
    ['subscribe', 'CHORUS/coordination/v1'],
    ['task', 'watch'],
  ])
    assert.deepEqual(
      allocatorStep(argv, ENV, LINUX),
      { kind: 'restart', env: { ...ENV, GLIBC_TUNABLES: MALLOC_TUNABLES, [RESTART_MARK]: '1' } },
      argv.join(' '),
    );
  assert.match(MALLOC_TUNABLES, /^glibc\.malloc\.arena_max=1:glibc\.malloc\.trim_threshold=131072$/);
});

test('a verb that ends at once, a benchmark, an operator’s own settings and other systems run as they start', () => {
  for (const argv of [
    ['status'],
    ['ucxl', 'get', 'ucxl://a:b@c:d/*^/x'],
    ['task', 'ls'],
    ['bench', 'dht'],
    [],
    ['node', '--help'],
    ['agent', '-h'],
    ['node', 'install', '--user', 'chorus'],
    ['--data-dir', '/d', 'node', 'uninstall'],
  ])
    assert.deepEqual(allocatorStep(argv, ENV, LINUX), { kind: 'none' }, argv.join(' '));
  for (const tunables of ['', 'glibc.malloc.arena_max=4'])
    assert.deepEqual(allocatorStep(['node'], { ...ENV, GLIBC_TUNABLES: tunables }, LINUX), { kind: 'none' });
  assert.deepEqual(allocatorStep(['node'], ENV, { ...LINUX, platform: 'darwin' }), { kind: 'none' });
  // Node before 26 aborts on a failed execve instead of throwing
  assert.deepEqual(allocatorStep(['node'], ENV, { ...LINUX, nodeMajor: 24 }), { kind: 'none' });
  assert.deepEqual(allocatorStep(['node'], { ...ENV, [RESTART_MARK]: '1' }, LINUX), { kind: 'unmark' });
});

/**
 * Runs tuneAllocator(argv) in a child Node with `env`, after `setup` (code), then prints its process.env; `own`:
 * whether the child counts as running from its executable (a run from source never does).
 */
function runChild(argv: string[], env: Record<string, string>, setup = '', own = true) {
  const code = `import { tuneAllocator } from ${JSON.stringify(join(ROOT, 'src/cli/allocator.ts'))};
${setup}
tuneAllocator(${JSON.stringify(argv)}, () => ${own});
setImmediate(() => console.log(JSON.stringify(process.env)));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return { out: JSON.parse(r.stdout) as Record<string, unknown>, stderr: r.stderr };
}

const PATH = process.env.PATH ?? '/usr/bin';

test('the second start takes the settings and the mark out of its environment, for the processes it starts', () => {
  const seen = runChild(['node'], { PATH, FOO: 'bar', GLIBC_TUNABLES: MALLOC_TUNABLES, [RESTART_MARK]: '1' }).out;
  assert.equal(seen.FOO, 'bar');
  assert.equal(seen.GLIBC_TUNABLES, undefined);
  assert.equal(seen[RESTART_MARK], undefined);
});

test('a start whose execve fails goes on as it started, without execve’s experimental warning', () => {
  // as Node's execve does: the warning first, on the next tick, then the call fails
  const setup = `process.execve = () => {
  process.emitWarning('process.execve is an experimental feature', 'ExperimentalWarning');
  throw Object.assign(new Error('execve: operation not permitted'), { code: 'EPERM' });
};
process.emitWarning('an earlier warning');
setTimeout(() => process.emitWarning('a later warning'), 20);`;
  const { out: env, stderr } = runChild(['node'], { PATH, FOO: 'bar' }, setup);
  assert.equal(env.FOO, 'bar');
  assert.equal(env.GLIBC_TUNABLES, undefined, 'the failed restart left process.env alone');
  assert.doesNotMatch(stderr, /experimental/);
  assert.match(stderr, /an earlier warning/, 'a warning of the same tick is shown as before');
  assert.match(stderr, /a later warning/, 'later warnings are shown as before');
});

test('Node’s execve throws when it fails, which the start relies on to go on', () => {
  const code = `try { process.execve('/nonexistent/chorus', ['chorus']); } catch (e) { console.log(e.code); }`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { PATH } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ENOENT');
});

test('a start through the dynamic loader (its /proc/self/exe is not the executable) runs as it started', () => {
  const setup = `process.execve = () => { console.log('execve'); process.exit(1); };`;
  const { out: env } = runChild(['node'], { PATH, FOO: 'bar' }, setup, false);
  assert.equal(env.FOO, 'bar');
  assert.equal(env.GLIBC_TUNABLES, undefined);
});

test('a restart runs this very executable again, with argv0 and the same arguments', () => {
  const setup = `process.execve = (file, args, env) => {
  console.log(JSON.stringify({ file, args, tunables: env.GLIBC_TUNABLES, mark: env.${RESTART_MARK} }));
  process.exit(0);
};`;
  const argv = ['--data-dir', '/tmp/x y', 'node', '--dev'];
  assert.deepEqual(runChild(argv, { PATH }, setup).out, {
    file: '/proc/self/exe',
    args: [process.execPath, ...argv],
    tunables: MALLOC_TUNABLES,
    mark: '1',
  });
});
