// `chorus log compact`: through the running node when one answers on the socket, else on the file with the
// node's own key, under the data dir's lock (not while a starting node holds it); then `chorus log verify` proves
// the kept entries from the checkpoint on.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiServer } from '../../src/core/api/server.ts';
import { validateConfig } from '../../src/core/config/load.ts';
import { takeDataDirLock } from '../../src/core/data-dir-lock.ts';
import { EventLog } from '../../src/core/eventlog/eventlog.ts';
import { silentLogger } from '../../src/core/log.ts';
import { logRoutes } from '../../src/core/node/log-routes.ts';
import { loadOrCreateIdentity } from '../../src/core/p2p/identity.ts';
import { signerFor } from '../../src/core/p2p/signer.ts';
import { runCli } from '../helpers/run.ts';

const ENV = { ...process.env, NO_COLOR: '1', CHORUS_EVENT_LOG_MAX_SIZE_MB: '0.25' } as Record<string, string>;

/** A data dir with a node identity and a ~1.2 MiB event log it signed (2,000 entries). */
async function dataDirWithLog(): Promise<{ dataDir: string; file: string; open: () => EventLog }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chorus-compact-'));
  const identity = await loadOrCreateIdentity(dataDir);
  const file = join(dataDir, 'events.db');
  const open = (): EventLog => EventLog.open(file, signerFor(identity.privateKey));
  const log = open();
  for (let i = 0; i < 2000; i += 1) log.append('task_progress', { i, note: 'n'.repeat(500) });
  log.close();
  return { dataDir, file, open };
}

interface Compacted {
  removed: number;
  from: number;
  via: string;
  fileBytesBefore: number;
  fileBytesAfter: number;
}

describe('chorus log compact', () => {
  const servers: ApiServer[] = [];
  after(() => Promise.all(servers.map((s) => s.stop())));

  it('without a node: compacts the file with the node key, then log verify proves the rest', async () => {
    const { dataDir } = await dataDirWithLog();
    const r = await runCli(['--data-dir', dataDir, 'log', 'compact'], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^removed \d+ entries \(retention: 90 days, 0\.3 MiB\); the log now verifies from entry \d+/,
    );
    assert.match(r.stdout, /on the file/);
    const json = await runCli(['--data-dir', dataDir, '--json', 'log', 'compact'], { env: ENV });
    assert.equal((JSON.parse(json.stdout) as Compacted).removed, 0, 'within the limits now');
    const verified = await runCli(['--data-dir', dataDir, 'log', 'verify'], { env: ENV });
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(
      verified.stdout,
      /^event log verified: \d+ entries, chain intact from entry \d+ \(signed checkpoint of /,
    );
  });

  it('with a node running: the node compacts (and the file shrinks)', async () => {
    const { dataDir, open } = await dataDirWithLog();
    const log = open();
    const config = validateConfig({ dataDir, eventLog: { maxSizeMb: 0.25 } });
    const server = new ApiServer({ dataDir, routes: logRoutes({ eventLog: log, config }), logger: silentLogger });
    await server.start();
    servers.push(server);
    const r = await runCli(['--data-dir', dataDir, '--json', 'log', 'compact'], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Compacted;
    assert.equal(out.via, 'node');
    assert.ok(out.removed > 1000, `removed ${out.removed}`);
    assert.ok(out.fileBytesAfter < out.fileBytesBefore / 2, `${out.fileBytesBefore} → ${out.fileBytesAfter}`);
    assert.equal(log.verify().from, out.from);
    assert.equal(log.verify().ok, true);
  });

  it('without an answering node, but with its lock held (a node starting): refuses in one line and leaves the log', async () => {
    const { dataDir, open } = await dataDirWithLog();
    const lock = takeDataDirLock(dataDir); // held by this process, as a starting node holds it before its socket
    try {
      const r = await runCli(['--data-dir', dataDir, 'log', 'compact'], { env: ENV });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^chorus: a chorus node holds data dir .* but does not answer on its socket yet: run `chorus log compact` again once it does\n$/,
      );
    } finally {
      lock.release();
    }
    const log = open();
    try {
      assert.equal(log.verify().from, 1, 'nothing was removed');
      assert.equal(log.head.seq, 2000);
    } finally {
      log.close();
    }
    // the lock let go, the same command compacts
    const r = await runCli(['--data-dir', dataDir, '--json', 'log', 'compact'], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as Compacted).removed > 1000);
  });

  it('refuses to sign a checkpoint with anything but the node key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chorus-compact-'));
    const identity = await loadOrCreateIdentity(mkdtempSync(join(tmpdir(), 'chorus-other-')));
    const log = EventLog.open(join(dataDir, 'events.db'), signerFor(identity.privateKey));
    log.append('node_started', {});
    log.close();
    const r = await runCli(['--data-dir', dataDir, 'log', 'compact'], { env: ENV });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^chorus: no node identity in .* to sign the checkpoint with/);
  });

  it('has help that names the config keys', async () => {
    const r = await runCli(['log', 'compact', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /eventLog\.maxAgeDays/);
    assert.match(r.stdout, /eventLog\.maxSizeMb/);
  });
});
