// The host's libp2p logger: inert where DEBUG enables nothing (no `debug` instance per stream or scope),
// @libp2p/logger's own — printing — where DEBUG enables the name, its scope, or its error logger.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { disable, enable } from '@libp2p/logger';
import { libp2pLogger } from '../../src/core/p2p/libp2p-logger.ts';
import { startNode } from '../helpers/cluster.ts';

function withDebug(namespaces: string, run: () => void): void {
  enable(namespaces);
  try {
    run();
  } finally {
    disable();
    enable(process.env.DEBUG ?? ''); // what weald read at start-up
  }
}

test('with nothing enabled, a component and its scopes get an inert logger', () => {
  withDebug('', () => {
    const log = libp2pLogger.forComponent('chorus-test:muxer');
    assert.equal(log.enabled, false);
    const scoped = log.newScope('stream:1');
    assert.equal(scoped.enabled, false);
    // @libp2p/logger's default would hand out a `debug` instance (it has a namespace) even when it is off
    assert.equal('namespace' in log || 'namespace' in scoped || 'namespace' in scoped.error, false);
    assert.doesNotThrow(() => {
      scoped('a %s', 'message');
      scoped.error('an error %e', new Error('x'));
      scoped.trace('a trace');
    });
  });
});

test('where DEBUG enables a name, its scope or its error logger, that logger is @libp2p/logger’s own', () => {
  withDebug('chorus-test:muxer', () => {
    assert.equal(libp2pLogger.forComponent('chorus-test:muxer').enabled, true);
    assert.equal(libp2pLogger.forComponent('chorus-test:other').enabled, false);
  });
  withDebug('chorus-test:muxer:stream*', () => {
    const log = libp2pLogger.forComponent('chorus-test:muxer');
    assert.equal(log.enabled, false);
    assert.equal(log.newScope('stream:7').enabled, true, 'a scope DEBUG names is enabled below an inert parent');
  });
  withDebug('chorus-test:muxer:error', () => {
    const log = libp2pLogger.forComponent('chorus-test:muxer');
    assert.equal(log.enabled, false, 'the logger itself stays off');
    assert.equal((log.error as unknown as { enabled: boolean }).enabled, true, 'its error logger prints');
  });
});

test('a node’s libp2p host logs through this logger', async () => {
  const node = await startNode();
  try {
    assert.equal(node.libp2p.logger, libp2pLogger);
  } finally {
    await node.stop();
  }
});
