// Text rendering of `chorus bench agents`: the run, its figures and the SLO verdict.
import type { BenchAgentsResult } from '../../commands/bench/agents.ts';
import { renderTable } from '../table.ts';
import type { TerminalFacts } from '../terminal.ts';

const ms = (x: number): string => x.toFixed(1);

export function renderBenchAgents(r: BenchAgentsResult, term: TerminalFacts): string {
  const p = r.params;
  const f = r.figures;
  const per = f.perAgent.map((a, i) => `agent ${i}: ${a.tasks} tasks, busy ${(a.busyMs / 1000).toFixed(2)} s`);
  return [
    `chorus bench agents — ${p.tasks} tasks (exec, ${p.minMs}–${p.maxMs} ms of work each, seed ${p.seed}), ${p.agents} agents on ${p.nodes} node processes (cluster up in ${(r.startupMs / 1000).toFixed(1)} s)`,
    renderTable(
      ['figure', 'p50', 'p95', 'max'],
      [
        ['claim round trip (ms)', ms(f.claims.ms.p50), ms(f.claims.ms.p95), ms(f.claims.ms.max)],
        ['claim → start (ms)', ms(f.claimToStartMs.p50), ms(f.claimToStartMs.p95), ms(f.claimToStartMs.max)],
        ['end → completed (ms)', ms(f.settleMs.p50), ms(f.settleMs.p95), ms(f.settleMs.max)],
      ],
      term.color,
    ),
    `total ${(f.durationMs / 1000).toFixed(2)} s for ${(f.idealMs / 1000).toFixed(2)} s ideal (sum of work / agents): ${f.ratio.toFixed(3)}×`,
    `claims: ${f.claims.won} won, ${f.claims.raced} lost to another agent; the ${p.tasks} tasks were created in ${(r.createdMs / 1000).toFixed(2)} s (8 at a time)`,
    `idle while work waited: ${ms(f.idle.totalMs)} ms in ${f.idle.gaps} gap(s), longest ${ms(f.idle.maxGapMs)} ms`,
    `done exactly once: ${f.completedOnce} of ${f.tasks}${f.ranTwice.length ? `; ran twice: ${f.ranTwice.join(', ')}` : ''}${f.notCompleted.length ? `; not completed: ${f.notCompleted.join(', ')}` : ''}`,
    ...per,
    `SLO: claim-to-start p95 ≤ ${p.sloClaimStartP95} ms, idle gap ≤ ${p.sloIdleGap} ms, total ≤ ${p.sloRatio}× ideal, every task once — ${r.slo.breached.length ? 'BREACHED' : 'met'}`,
  ].join('\n');
}
