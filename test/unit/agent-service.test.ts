// The agent inside `chorus node` under systemd: the unit signals only the main process on stop
// (KillMode=mixed), so running tasks get the agent's grace period instead of their processes being
// killed with the node, and the stop timeout covers the default grace period, the time to settle the
// tasks through the node, and the node's own stop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTLE_ON_STOP_MS } from '../../src/core/agent/agent.ts';
import { validateConfig } from '../../src/core/config/load.ts';
import { renderUnit } from '../../src/core/ops/systemd.ts';

test('the systemd unit lets the agent finish or give back its tasks on stop', () => {
  const unit = renderUnit({ exec: ['/usr/local/bin/chorus'], user: 'chorus', dataDir: '/var/lib/chorus' });
  const value = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
  assert.equal(value('KillMode'), 'mixed', 'SIGTERM to chorus only; the rest of the group after the timeout');
  const stopSec = Number(/^(\d+)s$/.exec(value('TimeoutStopSec') ?? '')?.[1]);
  const grace = validateConfig({ dataDir: '/tmp/x' }).agent.gracePeriodMs;
  const nodeStopBudgetMs = 4500; // src/commands/node/run.ts
  const needed = grace + SETTLE_ON_STOP_MS + nodeStopBudgetMs;
  assert.ok(
    stopSec * 1000 >= needed,
    `${stopSec} s covers grace ${grace} + settle ${SETTLE_ON_STOP_MS} + node ${nodeStopBudgetMs} ms`,
  );
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/bin\/chorus --data-dir \/var\/lib\/chorus node$/m,
    'the unit just runs chorus node',
  );
});
