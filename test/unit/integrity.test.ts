// The node's start-up check of its stores, with real damaged files: garbage written over the middle of a
// database, a database cut short, JSON state that no longer parses. Each is named with its fix (exit 4), and
// `chorus node --repair` moves the ones that can start fresh aside and starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Key } from 'interface-datastore';
import { validateConfig } from '../../src/core/config/load.ts';
import { ChorusDatastore } from '../../src/core/dht/datastore.ts';
import { ChorusError } from '../../src/core/errors.ts';
import { EventLog } from '../../src/core/eventlog/eventlog.ts';
import { silentLogger } from '../../src/core/log.ts';
import { checkNodeStores } from '../../src/core/node/integrity.ts';
import { loadOrCreateIdentity } from '../../src/core/p2p/identity.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { StoreDamagedError, checkStores } from '../../src/core/store-check.ts';
import { CONSENSUS_LOG_FILE, SqliteLogStorage } from '../../src/core/election/log-store.ts';
import { garbageInMiddle, truncateFile } from '../helpers/damage.ts';
import { SOURCE_ENTRY, runCli } from '../helpers/run.ts';

const authority = join(mkdtempSync(join(tmpdir(), 'chorus-integrity-authority-')), 'dev-authority.key');
const ENV = { ...process.env, NO_COLOR: '1', CHORUS_DEV_AUTHORITY: authority } as Record<string, string>;

/** A data dir whose dht.db holds 2,000 records (~1.2 MiB) and whose events.db 400 entries, both closed. */
async function dataDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-integrity-'));
  const ds = new ChorusDatastore(join(dir, 'dht.db'));
  for (let i = 0; i < 2000; i += 1) await ds.put(new Key(`/dht/record/k${i}`), new Uint8Array(500).fill(i % 251));
  ds.close();
  const identity = await loadOrCreateIdentity(dir);
  const log = EventLog.open(join(dir, 'events.db'), signerFor(identity.privateKey));
  for (let i = 0; i < 400; i += 1) log.append('task_progress', { i, note: 'n'.repeat(300) });
  log.close();
  return dir;
}

const nodeArgs = (dir: string, ...extra: string[]): string[] => [
  '--data-dir',
  dir,
  'node',
  '--dev',
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--no-mdns',
  '--no-ops',
  ...extra,
];

const DAMAGES = [
  ['garbage in the middle', garbageInMiddle],
  ['truncated', truncateFile],
] as const;

describe('the start-up check names a damaged store and its fix', () => {
  for (const store of ['dht.db', 'events.db']) {
    for (const [how, damage] of DAMAGES) {
      it(`${store}, ${how}: chorus node exits 4 with one line naming the file and --repair`, async () => {
        const dir = await dataDir();
        damage(join(dir, store));
        const r = await runCli(nodeArgs(dir), { env: ENV, timeoutMs: 20_000 });
        assert.equal(r.code, 4, `exit ${r.code} ${r.signal ?? ''}: ${r.stderr}`);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('chorus: '));
        assert.equal(errors.length, 1, r.stderr);
        assert.ok(errors[0]?.startsWith(`chorus: ${join(dir, store)} is damaged (`), r.stderr);
        assert.match(errors[0] ?? '', /run `chorus node --repair` to move it aside and start fresh/);
        assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      });
    }
  }

  it('a damaged consensus log is named with its fix, and --repair leaves it alone (a voter must not forget entries)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-integrity-log-'));
    const config = validateConfig({ dataDir: dir });
    const store = new SqliteLogStorage(join(dir, CONSENSUS_LOG_FILE));
    store.append(
      Array.from({ length: 300 }, (_, i) => ({ index: i + 1, term: 1, kind: 'tasks', data: 'x'.repeat(400) })),
    );
    store.close();
    garbageInMiddle(join(dir, CONSENSUS_LOG_FILE));
    for (const repair of [false, true]) {
      assert.throws(
        () => checkNodeStores(config, { repair, logger: silentLogger }),
        (err: unknown) =>
          err instanceof StoreDamagedError &&
          /consensus log.*restore it from a backup.*--repair will not/.test(err.message),
      );
    }
    assert.ok(existsSync(join(dir, CONSENSUS_LOG_FILE)), 'still in place');
  });

  it('JSON state files: the lease and leader records may start fresh; the keyring and election state never', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-integrity-json-'));
    const config = validateConfig({ dataDir: dir });
    const cases: [string, RegExp][] = [
      ['lease.json', /run `chorus node --repair`.*new lease/],
      ['leader-records.json', /run `chorus node --repair`.*not imported/],
      ['election.json', /term, vote and voter set.*--repair will not/],
      ['keyring.json', /role secret keys.*chorus keys export.*--repair will not/],
    ];
    for (const [name, fix] of cases) {
      const file = join(dir, name);
      writeFileSync(file, '{"term": 3, "votedFor": "12D3Ko'); // cut short mid-write
      assert.throws(
        () => checkNodeStores(config, { logger: silentLogger }),
        (err: unknown) => {
          assert.ok(err instanceof StoreDamagedError);
          assert.equal(err.kind, 'fatal');
          assert.equal(err.file, file);
          assert.match(err.message, new RegExp(`^${file.replace(/[.]/g, '\\.')} is damaged \\(not JSON`));
          assert.match(err.message, fix);
          return true;
        },
      );
      const safe = !/will not/.test(fix.source);
      if (safe) {
        const repaired = checkNodeStores(config, { repair: true, logger: silentLogger });
        assert.equal(repaired.length, 1);
        assert.equal(existsSync(file), false);
        assert.match(repaired[0]?.movedTo[0] ?? '', new RegExp(`${name}\\.damaged-\\d{8}T\\d{6}Z$`));
      } else {
        assert.throws(() => checkNodeStores(config, { repair: true, logger: silentLogger }), StoreDamagedError);
        assert.equal(existsSync(file), true, `--repair left ${name} alone`);
        writeFileSync(file, '{}');
      }
    }
    assert.deepEqual(checkNodeStores(config, { logger: silentLogger }), [], 'intact stores pass');
  });

  it('a SQLite store is moved aside with its WAL; an absent store is not an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-integrity-wal-'));
    const file = join(dir, 'x.db');
    writeFileSync(file, 'this is not a database, just text long enough to fill a header of a hundred bytes....');
    writeFileSync(`${file}-wal`, 'wal');
    const spec = { file, format: 'sqlite' as const, repair: { fresh: 'starts empty' } };
    assert.throws(
      () => checkStores([spec], { repair: false }),
      (err: unknown) => err instanceof ChorusError && /x\.db is damaged \(file is not a database\)/.test(err.message),
    );
    const now = new Date('2026-11-30T14:59:23.456Z');
    const [r] = checkStores([spec], { repair: true, now });
    // (SQLite's read-only open beside a WAL made an -shm file: it goes too)
    assert.deepEqual(r?.movedTo.slice(0, 2), [
      `${file}.damaged-20261130T145923Z`,
      `${file}-wal.damaged-20261130T145923Z`,
    ]);
    assert.equal(existsSync(file) || existsSync(`${file}-wal`) || existsSync(`${file}-shm`), false);
    assert.deepEqual(checkStores([spec], { repair: false }), []);
  });
});

describe('chorus node --repair', () => {
  const children: ReturnType<typeof spawn>[] = [];
  after(() => children.forEach((c) => c.kill('SIGKILL')));

  it('moves a damaged dht.db aside, says so, and the node starts', { timeout: 60_000 }, async () => {
    const dir = await dataDir();
    garbageInMiddle(join(dir, 'dht.db'));
    const child = spawn(process.execPath, [SOURCE_ENTRY, ...nodeArgs(dir, '--repair')], {
      env: ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    const running = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('chorus node running')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`node exited ${code}: ${stderr}`)));
    });
    await running;
    assert.match(stderr, /moved a damaged store aside: the DHT refills from replicas/);
    assert.match(stderr, /dht\.db\.damaged-\d{8}T\d{6}Z/);
    const moved = readdirSync(dir).filter((f) => f.startsWith('dht.db.damaged-'));
    assert.equal(moved.length, 1, readdirSync(dir).join(', '));
    assert.ok(existsSync(join(dir, 'dht.db')), 'a fresh dht.db');
    assert.ok(existsSync(join(dir, 'identity.key')), 'the identity is untouched');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });
});
