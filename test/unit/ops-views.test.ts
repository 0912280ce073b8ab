// Rendering of `status --watch` frames: a redraw in place on a terminal, one plain line otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderWatch } from '../../src/cli/views/ops.ts';
import type { WatchFrame } from '../../src/commands/node/status.ts';

const frame: WatchFrame = {
  time: '2026-11-22T03:00:00.000Z',
  status: {
    peerId: '12D3KooWtest',
    version: '0.1.0',
    role: 'developer',
    expertise: [],
    addresses: [],
    topics: [{ topic: 'CHORUS/coordination/v1', raw: false, family: 'coordination', peers: 3 }],
    peers: 3,
    startedAt: '2026-11-22T02:00:00.000Z',
    uptimeMs: 3_600_000,
    dataDir: '/d',
    eventLog: { entries: 12, headHash: 'ab' },
    api: { socket: '/d/chorus.sock' },
    ops: 'http://127.0.0.1:9464',
    license: {
      id: 'lic-1',
      licensee: 'local development',
      clusterId: 'dev-0123456789ab',
      dev: true,
      expiresAt: '2036-11-22T03:00:00.000Z',
      file: '/d/license.json',
    },
  },
  ops: {
    health: {
      ready: true,
      reasons: [],
      checks: [{ name: 'peers', critical: true, status: 'pass', failures: 0, detail: '3 peer(s) connected' }],
    },
    dhtRecords: { latest: 2, versions: 5 },
    election: { term: 4, state: 'follower', leaderChanges: 1 },
  },
};

test('on a terminal the frame clears the screen and shows one summary', () => {
  const out = renderWatch(frame, { color: false, animate: true, tty: true });
  assert.ok(out.startsWith('\x1b[H\x1b[2J'));
  assert.match(out, /health {5}ready/);
  assert.match(out, /election {3}term 4, follower/);
  assert.match(out, /lease {6}unknown/);
  assert.match(out, /dht {8}2 decisions, 5 versions/);
  assert.match(out, /^ {4}peers {6}pass {4}3 peer\(s\) connected$/m);
});

test('piped, each frame is one plain line without control codes', () => {
  const out = renderWatch(frame, { color: false, animate: false, tty: false });
  assert.equal(
    out,
    '2026-11-22T03:00:00.000Z peers=3 topics=1 dht=2/5 election="term 4, follower" lease="unknown" ready',
  );
});
