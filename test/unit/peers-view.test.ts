// `chorus peers` (src/cli/views/node.ts): a peer that DHT writes and reads pass over says so in its status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPeers } from '../../src/cli/views/node.ts';

test('a peer passed over by the DHT shows "not answering" next to its status; the others do not', () => {
  const peer = (id: string, extra: object) => ({
    peerId: id.padEnd(52, 'x'),
    connected: true,
    addresses: [],
    ...extra,
  });
  const rows = renderPeers(
    [peer('hungpeer', { status: 'ready', passedOver: true }), peer('finepeer', { status: 'ready' })],
    { color: false, animate: false },
  ).split('\n');
  const row = (name: string): string => rows.find((l) => l.includes(name)) ?? assert.fail(`no row for ${name}`);
  assert.match(row('hungpeer'), /ready, not answering/);
  assert.match(row('finepeer'), /ready/);
  assert.doesNotMatch(row('finepeer'), /not answering/);
});
