// The node's one lifecycle and its pluggable record namespaces, as units: start order and reverse
// stop, a half-started assembly stopping what started, and namespaces registered into kad-dht's tables.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordNamespaces, UnknownNamespaceError } from '../../src/core/dht/namespaces.ts';
import { Lifecycle } from '../../src/core/lifecycle.ts';

function recorder() {
  const log: string[] = [];
  const svc = (name: string, fail?: 'start' | 'stop') => ({
    start: async () => {
      if (fail === 'start') throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    stop: () => {
      log.push(`stop ${name}`);
      if (fail === 'stop') throw new Error(`${name} cannot stop`);
    },
  });
  return { log, svc };
}

test('services start in order and stop in reverse, once; a failing stop does not keep the rest running', async () => {
  const { log, svc } = recorder();
  const errors: string[] = [];
  const life = new Lifecycle((name, error) => errors.push(`${name}: ${error}`));
  await life.start('a', svc('a'));
  life.adopt('file', () => log.push('close file'));
  await life.start('b', svc('b', 'stop'));
  await life.start('c', svc('c'));
  assert.deepEqual(life.names(), ['a', 'file', 'b', 'c']);
  await Promise.all([life.stop(), life.stop()]);
  assert.deepEqual(log, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'close file', 'stop a']);
  assert.deepEqual(errors, ['b: b cannot stop']);
  await assert.rejects(life.start('d', svc('d')), /stopping/);
});

test('a half-started assembly stops what started, in reverse, and rethrows', async () => {
  const { log, svc } = recorder();
  const life = new Lifecycle();
  await assert.rejects(
    Lifecycle.assemble(life, async (l) => {
      await l.start('a', svc('a'));
      await l.start('b', svc('b'));
      await l.start('c', svc('c', 'start'));
    }),
    /c cannot start/,
  );
  assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
});

test('record namespaces: registered into attached kad-dht tables (now and later), validated, removed on stop', async () => {
  const namespaces = new RecordNamespaces();
  const early = { validators: {} as Record<string, never>, selectors: {} as Record<string, never> };
  namespaces.attach(early);
  const seen: string[] = [];
  const ns = {
    name: 'thing',
    validate: async (key: Uint8Array) => {
      seen.push(new TextDecoder().decode(key));
    },
    select: () => 0,
  };
  const service = namespaces.service(ns);
  service.start();
  const late = { validators: {}, selectors: {} };
  namespaces.attach(late);
  for (const tables of [early, late]) {
    assert.deepEqual(Object.keys(tables.validators), ['thing']);
    assert.deepEqual(Object.keys(tables.selectors), ['thing']);
  }
  await namespaces.validate(new TextEncoder().encode('/thing/1'), new Uint8Array());
  assert.deepEqual(seen, ['/thing/1']);
  assert.throws(() => namespaces.register(ns), /already registered/);
  await assert.rejects(
    namespaces.validate(new TextEncoder().encode('/other/1'), new Uint8Array()),
    (e: unknown) => e instanceof UnknownNamespaceError,
  );
  service.stop();
  assert.deepEqual(namespaces.names(), []);
  assert.deepEqual(Object.keys(early.validators), []);
  assert.deepEqual(Object.keys(late.selectors), []);
});
