// Text rendering for `chorus agent`: what it did, once it stopped.
import type { AgentRunResult } from '../../commands/agent/run.ts';

export function renderAgentRun(r: AgentRunResult): string {
  const s = Math.round(r.uptimeMs / 1000);
  return `agent ${r.name} (${r.provider}${r.model ? ` ${r.model}` : ''}) stopped after ${s} s: ${r.completed} completed, ${r.failed} failed, ${r.givenBack} given back, ${r.lost} lost`;
}
