// A node's prospects of meeting a peer (p2p/prospects.ts): what decides whether a publish that finds no
// subscriber waits for the mesh or fails at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Libp2p } from '@libp2p/interface';
import { peerProspects } from '../../src/core/p2p/prospects.ts';

function world() {
  const state = { connections: 0, dials: 0, dialling: false, now: 1_000 };
  const libp2p = {
    getConnections: () => Array.from({ length: state.connections }),
    getDialQueue: () => Array.from({ length: state.dials }),
  } as unknown as Pick<Libp2p, 'getConnections' | 'getDialQueue'>;
  const prospects = peerProspects({ libp2p, dialling: () => state.dialling, graceMs: 500, now: () => state.now });
  return { state, prospects };
}

test('a node just started has prospects for one wait, then none while it has no connection nor dial', () => {
  const { state, prospects } = world();
  assert.equal(prospects(), true);
  state.now += 499;
  assert.equal(prospects(), true);
  state.now += 1;
  assert.equal(prospects(), false);
});

test('after the grace: a connection, a dial in flight or a bootstrap peer being dialled each keeps hope', () => {
  const { state, prospects } = world();
  state.now += 10_000;
  assert.equal(prospects(), false);
  state.connections = 1;
  assert.equal(prospects(), true);
  state.connections = 0;
  state.dials = 1;
  assert.equal(prospects(), true);
  state.dials = 0;
  state.dialling = true;
  assert.equal(prospects(), true);
  state.dialling = false;
  assert.equal(prospects(), false);
});
