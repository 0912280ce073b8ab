// End-to-end: the built single executable, run from an empty directory with an empty environment,
// and the same smoke test of the ESM bundle under Deno.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, realpathSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { spawn } from 'node:child_process';
import { chorus, CHILD_ENV, cleanup, Daemon, tempDir, until } from '../helpers/daemon.ts';
import { BINARY, BUNDLE, ROOT, runProcess } from '../helpers/run.ts';

const empty = mkdtempSync(join(tmpdir(), 'chorus-e2e-'));
after(() => cleanup());

const bare = (args: string[]) => runProcess('/usr/bin/env', ['-i', BINARY, ...args], { cwd: empty, env: {} });

test('the binary exists and SHA256SUMS verifies it', () => {
  assert.ok(existsSync(BINARY), 'run npm run build first');
  const sums = readFileSync(join(ROOT, 'dist/SHA256SUMS'), 'utf8');
  const line = sums.split('\n').find((l) => l.endsWith('  chorus-linux-x64'));
  assert.ok(line, 'SHA256SUMS lists the binary');
  const digest = createHash('sha256').update(readFileSync(BINARY)).digest('hex');
  assert.equal(line.split('  ')[0], digest);
});

test('env -i binary --version from an empty directory', async () => {
  const r = await bare(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^chorus:\s+\d+\.\d+\.\d+/m);
  assert.match(r.stdout, /target:\s+linux-x64 \(single executable\)/);
  assert.match(r.stdout, /built:\s+\d{4}-\d\d-\d\dT/);
  // the flag runs from the client asset alone: the full program is never loaded
  assert.match(r.stdout, /^code cache:\s+chorus-client\.js used$/m);
  // the client bundle, which every verb runs, is read through Node's mapping of the executable (sea-main.ts)
  assert.match(r.stdout, /^bundles:\s+chorus-client\.js from the mapped executable$/m);
  assert.equal(r.stderr, '');
});

test('env -i binary --json output parses', async () => {
  const r = await bare(['version', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as {
    runtime: string;
    commit: string;
    codeCache?: Record<string, string>;
    bundleSource?: Record<string, string>;
  };
  assert.match(info.runtime, /^node v2\d\./);
  // the main script ran the client entry, and the client entry the full program, each from the build's code cache
  assert.deepEqual(info.codeCache, { 'chorus-client.js': 'used', 'chorus-full.js': 'used' });
  // a verb that ends at once reads both through Node's mapping of the executable (sea-full.ts)
  assert.deepEqual(info.bundleSource, { 'chorus-client.js': 'mapping', 'chorus-full.js': 'mapping' });
  const config = await bare(['config', '--json', '--data-dir', empty]);
  assert.equal(config.code, 0, config.stderr);
  assert.equal((JSON.parse(config.stdout) as { dataDir: string }).dataDir, empty);
});

/** The places the build's asset index (the executable's last bytes, src/cli/sea-asset.ts) names. */
function assetIndex(bytes: Buffer): Record<string, { offset: number; length: number }> {
  const magic = 'chorus-assets/1\n';
  assert.equal(bytes.subarray(bytes.length - magic.length).toString('latin1'), magic, 'the executable has an index');
  const length = bytes.readUInt32LE(bytes.length - magic.length - 4);
  const end = bytes.length - magic.length - 4;
  return JSON.parse(bytes.subarray(end - length, end).toString()) as Record<string, { offset: number; length: number }>;
}

/** How many of the pages of a range of `file` are resident in process `pid`'s mappings of it (of how many). */
function residentPages(
  pid: number,
  file: string,
  offset: number,
  length: number,
): { resident: number; pages: number; seen: number } {
  const page = 4096;
  const first = Math.floor(offset / page);
  const last = Math.floor((offset + length - 1) / page);
  const pagemap = openSync(`/proc/${pid}/pagemap`, 'r');
  let resident = 0;
  let seen = 0; // pages of the range found in the process's mappings of the file
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
      const [range, , off, , , path] = line.trim().split(/\s+/);
      if (path !== file || !range || !off) continue;
      const [start, end] = range.split('-').map((h) => Number.parseInt(h, 16)) as [number, number];
      const fileStart = Number.parseInt(off, 16) / page;
      const fileEnd = fileStart + (end - start) / page;
      for (let p = Math.max(first, fileStart); p <= Math.min(last, fileEnd - 1); p++) {
        const entry = Buffer.alloc(8);
        seen++;
        readSync(pagemap, entry, 0, 8, (start / page + (p - fileStart)) * 8);
        if (entry.readBigUInt64LE() >> 63n === 1n) resident++;
      }
    }
  } finally {
    closeSync(pagemap);
  }
  return { resident, pages: last - first + 1, seen };
}

/**
 * `chorus node` from `executable` (run by `through`, e.g. the dynamic loader, if given), once it logged that it
 * runs; killed when `use`, given its pid, its stderr and its data dir, is done.
 */
async function withNode(
  executable: string,
  use: (pid: number, stderr: string, dataDir: string) => void | Promise<void>,
  through?: string,
): Promise<void> {
  const dataDir = tempDir('chorus-e2e-node-');
  const args = [
    '--data-dir',
    dataDir,
    'node',
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--no-mdns',
    '--dev',
    '--ops-port',
    '0',
  ];
  const [command, ...pre] = through ? [through, executable] : [executable];
  const child = spawn(command as string, [...pre, ...args], {
    env: CHILD_ENV,
    cwd: dataDir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start within 15 s: ${stderr}`)), 15_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/chorus node running/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited ${code}: ${stderr}`));
      });
    });
    await use(child.pid as number, stderr, dataDir);
  } finally {
    child.kill('SIGKILL');
  }
}

test('a node reads its program from the executable file: its bundles do not stay resident in it', async () => {
  const index = assetIndex(readFileSync(BINARY));
  assert.deepEqual(Object.keys(index).sort(), [
    'chorus-client.cache',
    'chorus-client.js',
    'chorus-full.cache',
    'chorus-full.js',
  ]);
  await withNode(BINARY, (pid) => {
    // read through Node's mapping, every page of the bundles and their caches would be resident; from the file,
    // only those around the asset table Node reads at start (the kernel maps 64 KB around each page read)
    const counts = Object.entries(index).map(([name, { offset, length }]) => ({
      name,
      ...residentPages(pid, realpathSync(BINARY), offset, length),
    }));
    const said = counts.map((c) => `${c.name} ${c.resident} of ${c.pages}`).join(', ');
    const sum = (k: 'resident' | 'pages' | 'seen') => counts.reduce((n, c) => n + c[k], 0);
    assert.ok(sum('pages') > 1000, said);
    assert.equal(sum('seen'), sum('pages'), 'every page of the assets is in a mapping of the executable');
    assert.ok(sum('resident') < sum('pages') / 5, `pages resident in the node: ${said}`);
    const full = counts.find((c) => c.name === 'chorus-full.js') as { resident: number; pages: number };
    assert.ok(full.resident < full.pages / 10, `pages resident in the node: ${said}`);
  });
});

/** glibc's per-thread malloc arenas in process `pid`: anonymous mappings on a 64 MiB boundary that span 64 MiB. */
function mallocArenas(pid: number): number {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [range = '', perms, , , inode, path] = line.split(/\s+/);
      const [start, end] = range.split('-').map((h) => BigInt(`0x${h}`));
      return { start: start as bigint, end: end as bigint, perms, anonymous: inode === '0' && !path };
    });
  const heap = 64n << 20n;
  return maps.filter(
    (m, i) =>
      m.anonymous &&
      m.perms === 'rw-p' &&
      m.start % heap === 0n &&
      (m.end === m.start + heap ||
        (maps[i + 1]?.anonymous === true &&
          maps[i + 1]?.perms === '---p' &&
          maps[i + 1]?.start === m.end &&
          maps[i + 1]?.end === m.start + heap)),
  ).length;
}

test('a node starts again with glibc’s allocator settings (one arena); an operator’s own settings stand', async () => {
  const tuned = await Daemon.start();
  const own = await Daemon.start({ env: { GLIBC_TUNABLES: '' } });
  try {
    const pid = tuned.child.pid as number; // the same process id: execve, not a child
    assert.match(readFileSync(`/proc/${pid}/environ`, 'latin1'), /(^|\0)CHORUS_MALLOC_TUNED=1\0/);
    assert.equal((await tuned.cli(['status'])).code, 0);
    assert.equal(mallocArenas(pid), 0, 'every thread allocates from the one arena');
    // glibc's defaults: V8's and libuv's threads take arenas of their own
    assert.doesNotMatch(readFileSync(`/proc/${own.child.pid}/environ`, 'latin1'), /CHORUS_MALLOC_TUNED/);
    await until('a thread arena in the node with glibc’s defaults', async () => {
      assert.equal((await own.cli(['status'])).code, 0);
      return mallocArenas(own.child.pid as number) > 0;
    });
    assert.equal(mallocArenas(pid), 0);
  } finally {
    await Promise.all([tuned.kill(), own.kill()]);
  }
});

const LOADER = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((f) => existsSync(f));

test(
  'a node started through the dynamic loader runs as it started (its /proc/self/exe is the loader)',
  {
    skip: LOADER === undefined && 'no glibc dynamic loader here',
  },
  async () => {
    await withNode(
      BINARY,
      async (pid, _stderr, dataDir) => {
        assert.doesNotMatch(readFileSync(`/proc/${pid}/environ`, 'latin1'), /CHORUS_MALLOC_TUNED/);
        assert.equal((await chorus(['--data-dir', dataDir, 'status'])).code, 0);
      },
      LOADER,
    );
  },
);

test('an executable whose asset index does not match reads its program through the mapping, says so, and runs', async () => {
  // the index (the file's last bytes, sea-asset.ts) names the full program one byte off: the loader's check of
  // what it read against the digest finds it
  const bytes = readFileSync(BINARY);
  const full = assetIndex(bytes)['chorus-full.js'];
  assert.ok(full, 'the index names the full program');
  const named = `"chorus-full.js":{"offset":${full.offset},`;
  const at = bytes.lastIndexOf(named);
  assert.ok(at > bytes.length - 64 * 1024, 'the entry is in the index');
  const moved = [full.offset + 1, full.offset - 1].find((o) => String(o).length === String(full.offset).length);
  bytes.write(`"chorus-full.js":{"offset":${moved},`, at, 'latin1');
  // written in small pieces, as a copy or a download is (one write of the whole file leaves it in the page cache in
  // large folios, which a process then maps more of than it touched)
  const copy = join(tempDir('chorus-e2e-exe-'), 'chorus');
  const fd = openSync(copy, 'w', 0o755);
  try {
    for (let o = 0; o < bytes.length; o += 64 * 1024) writeSync(fd, bytes, o, Math.min(64 * 1024, bytes.length - o));
  } finally {
    closeSync(fd);
  }
  assert.equal(assetIndex(readFileSync(copy))['chorus-full.js']?.offset, moved);
  await withNode(copy, (pid, stderr) => {
    assert.match(
      stderr,
      /^chorus: warning: the executable's index of its assets does not match them .*chorus-full\.js was read through its mapping$/m,
    );
    const { resident, pages, seen } = residentPages(pid, copy, full.offset, full.length);
    assert.equal(seen, pages);
    assert.ok(resident > pages * 0.9, `${resident} of the bundle's ${pages} pages resident in the node`);
  });
  const r = await runProcess('/usr/bin/env', ['-i', copy, 'version', '--json'], { cwd: empty, env: {} });
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { codeCache?: Record<string, string> };
  assert.deepEqual(info.codeCache, { 'chorus-client.js': 'used', 'chorus-full.js': 'used' });
});

test('env -i binary: an unknown flag exits 2 with one line on stderr', async () => {
  const r = await bare(['--no-such-flag']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^chorus: unknown option "--no-such-flag"/);
});

test('env -i binary: help and completion work', async () => {
  const help = await bare(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: chorus/);
  const completion = await bare(['completion', 'bash']);
  assert.equal(completion.code, 0);
  assert.match(completion.stdout, /complete -o default -F _chorus_complete chorus/);
});

test('env -i binary: the client verbs (its main script) answer as the full program (its asset) does', async () => {
  // `<verb> --help` runs in the client entry, `help <verb>` in the full program
  for (const path of [['status'], ['elect', 'status'], ['ucxl', 'get']]) {
    const [client, full] = await Promise.all([bare([...path, '--help']), bare(['help', ...path])]);
    assert.equal(client.code, 0, client.stderr);
    assert.match(client.stdout, new RegExp(`^Usage: chorus ${path.join(' ')} \\[options\\]`));
    assert.equal(client.stdout, full.stdout, path.join(' '));
  }
  // no node: the same one line from a client verb and from `peers` (a client verb of the full program)
  const dir = ['--data-dir', empty];
  const peers = await bare([...dir, 'peers']);
  assert.equal(peers.code, 1);
  assert.match(
    peers.stderr,
    /^chorus: no chorus node is answering at \S+chorus\.sock: start one with `chorus node`\n$/,
  );
  for (const verb of [['status'], ['elect', 'status'], ['ucxl', 'get', 'ucxl://a:b@c:d/*^/x']]) {
    const r = await bare([...dir, ...verb]);
    assert.deepEqual([r.code, r.stderr, r.stdout], [1, peers.stderr, ''], verb.join(' '));
  }
  const badAddress = await bare([...dir, 'ucxl', 'get', 'nonsense']);
  assert.equal(badAddress.code, 2);
  assert.match(badAddress.stderr, /^chorus: UCXL-400-INVALID_ADDRESS: invalid scheme in "nonsense"[^\n]*\n$/);
  const badFlag = await bare([...dir, 'status', '--frobnicate', '--json']);
  assert.equal(badFlag.code, 2);
  assert.equal(badFlag.stderr, 'chorus: unknown option "--frobnicate" (see chorus --help)\n');
  assert.deepEqual(JSON.parse(badFlag.stdout), {
    error: { code: 'commander.unknownOption', message: 'unknown option "--frobnicate" (see chorus --help)' },
  });
});

test('the ESM bundle runs under Deno (same smoke test)', async () => {
  const deno = join(ROOT, 'node_modules/@deno/linux-x64-glibc/deno');
  const denoDir = mkdtempSync(join(tmpdir(), 'chorus-deno-'));
  const env = { DENO_DIR: denoDir, HOME: denoDir, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
  const run = (args: string[]) =>
    runProcess(
      '/usr/bin/env',
      ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), deno, 'run', '-A', BUNDLE, ...args],
      {
        cwd: empty,
        env: {},
      },
    );
  const version = await run(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /runtime:\s+deno \d+\.\d+/);
  const json = await run(['version', '--json']);
  assert.equal((JSON.parse(json.stdout) as { name: string }).name, 'chorus');
  const bad = await run(['--no-such-flag']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});
