import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/core/log.ts';

const fixed = () => new Date('2026-01-02T03:04:05.000Z');

test('levels below the threshold are dropped', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', format: 'text', sink: (l) => lines.push(l), now: fixed });
  log.info('hidden');
  log.debug('hidden');
  log.warn('shown', { peer: 'abc' });
  log.error('also shown');
  assert.equal(lines.length, 2);
  assert.equal(lines[0], '2026-01-02T03:04:05.000Z WARN  chorus: shown peer=abc');
  assert.equal(log.enabled('info'), false);
});

test('json format has time, level, component, message and fields; children namespace', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format: 'json', sink: (l) => lines.push(l), now: fixed }).child('p2p');
  log.debug('dialled', { peers: 3, err: new Error('boom') });
  assert.deepEqual(JSON.parse(lines[0] as string), {
    time: '2026-01-02T03:04:05.000Z',
    level: 'debug',
    component: 'p2p',
    message: 'dialled',
    fields: { peers: 3, err: 'boom' },
  });
});

test('the redact hook sees every line before the sink', () => {
  const lines: string[] = [];
  const log = createLogger({
    level: 'info',
    format: 'text',
    sink: (l) => lines.push(l),
    redact: (l) => l.replace(/hunter2/g, '[REDACTED]'),
  });
  log.info('password is hunter2', { again: 'hunter2' });
  assert.ok(!lines[0]?.includes('hunter2'));
  assert.match(lines[0] as string, /\[REDACTED\]/);
});
