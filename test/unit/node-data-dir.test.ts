// One node per data dir: a second node started on the data dir of a running one is refused before it opens anything
// there or goes on the network with the first one's identity (its stores, its election state, its peer id) — also
// while the first has not bound its control socket yet (the data dir's lock), and a lock dies with its process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { ChorusError } from '../../src/core/errors.ts';
import { takeDataDirLock } from '../../src/core/data-dir-lock.ts';
import { startWithConfig, testConfig } from '../helpers/cluster.ts';

type Config = ReturnType<typeof testConfig>;

/**
 * `config` set to listen on a port this test holds: a node started with it fails with LISTEN_FAILED only if it got
 * as far as the network. close() gives the port back.
 */
async function onTakenPort(config: Config): Promise<{ config: Config; close(): void }> {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as AddressInfo;
  return {
    config: { ...config, p2p: { ...config.p2p, listen: [`/ip4/127.0.0.1/tcp/${port}`] } },
    close: () => taken.close(),
  };
}

test('a second node on a running node’s data dir is refused before it listens on the network', async () => {
  const config = testConfig();
  const first = await startWithConfig(config, {}, undefined, { api: true });
  const second = await onTakenPort(config);
  try {
    await assert.rejects(startWithConfig(second.config, {}, undefined, { api: true }), (err: ChorusError) => {
      assert.equal(err.code, 'ALREADY_RUNNING', String(err));
      assert.match(err.message, /another chorus node is already running with data dir/);
      return true;
    });
    assert.equal(first.status().peerId, first.peerId, 'the first node still runs');
  } finally {
    second.close();
    await first.stop();
  }
});

/** A process of its own that takes `dataDir`'s lock as a starting node does, and holds it until killed. */
async function lockHolder(dataDir: string): Promise<ChildProcess> {
  const lockModule = pathToFileURL(join(import.meta.dirname, '../../src/core/data-dir-lock.ts')).href;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { takeDataDirLock } from ${JSON.stringify(lockModule)};
       globalThis.held = takeDataDirLock(${JSON.stringify(dataDir)}); // referenced: a collected lock is closed
       process.stdout.write('locked\\n');
       setInterval(() => {}, 60_000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.equal(line.toString(), 'locked\n');
  return child;
}

test('a node that has taken the data dir but not bound its socket yet: a second is refused before the network', async () => {
  const config = testConfig();
  const holder = await lockHolder(config.dataDir); // another process in the window before its socket exists
  const second = await onTakenPort(config);
  try {
    await assert.rejects(startWithConfig(second.config, {}, undefined, { api: true }), (err: ChorusError) => {
      assert.equal(err.code, 'ALREADY_RUNNING', String(err)); // without the lock: LISTEN_FAILED, on the network
      return true;
    });
    // the holder dies without cleaning up (SIGKILL): the kernel drops its lock, and a node starts there at once
    const exited = once(holder, 'exit');
    holder.kill('SIGKILL');
    await exited;
    const node = await startWithConfig(config, {}, undefined, { api: true });
    await node.stop();
  } finally {
    holder.kill('SIGKILL');
    second.close();
  }
});

test('the lock is held from start to stop: in this process too, and taken again after a stop or a failed start', async () => {
  const config = testConfig();
  const first = await startWithConfig(config, {}, undefined, { api: true });
  try {
    assert.throws(
      () => takeDataDirLock(config.dataDir),
      (err: ChorusError) => err.code === 'ALREADY_RUNNING',
    );
  } finally {
    await first.stop();
  }
  takeDataDirLock(config.dataDir).release();
  // a start that fails after taking the lock (its listen port is taken) lets the lock go
  const failing = await onTakenPort(config);
  try {
    await assert.rejects(startWithConfig(failing.config, {}, undefined, { api: true }), /EADDRINUSE/);
  } finally {
    failing.close();
  }
  takeDataDirLock(config.dataDir).release();
});
