// Leadership scoring: the predecessor's five components (uptime, capabilities, resources, network
// quality, experience), each in [0, 1], combined with configurable weights. A higher score shortens
// a node's randomized election timeout and can trigger a graceful hand-over; it never changes who
// may vote or win (that is decided by terms and majorities alone).
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';

export interface ScoreWeights {
  uptime: number;
  capabilities: number;
  resources: number;
  network: number;
  experience: number;
}

export interface ScoreComponents extends ScoreWeights {
  /** The weighted total, in [0, 1]. */
  total: number;
}

export const DEFAULT_WEIGHTS: ScoreWeights = {
  uptime: 0.3,
  capabilities: 0.2,
  resources: 0.2,
  network: 0.2,
  experience: 0.1,
};

/** Uptime reaching this counts fully. */
export const FULL_UPTIME_MS = 3_600_000;
/** Capabilities announced: this many count fully. */
export const FULL_CAPABILITIES = 4;
/** Terms led: this many count fully. */
export const FULL_EXPERIENCE = 10;

export interface ScoreInputs {
  uptimeMs: number;
  capabilities: number;
  /** Free memory ratio and load per CPU. */
  freeMemRatio: number;
  loadPerCpu: number;
  /** Fraction of the other voters reachable now (1 when there are none). */
  reachable: number;
  termsLed: number;
}

const clamp = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
const round = (x: number): number => Math.round(x * 1000) / 1000;

export function scoreOf(inputs: ScoreInputs, weights: ScoreWeights = DEFAULT_WEIGHTS): ScoreComponents {
  const c: ScoreWeights = {
    uptime: clamp(inputs.uptimeMs / FULL_UPTIME_MS),
    capabilities: clamp(inputs.capabilities / FULL_CAPABILITIES),
    resources: clamp((clamp(inputs.freeMemRatio) + (1 - clamp(inputs.loadPerCpu))) / 2),
    network: clamp(inputs.reachable),
    experience: clamp(inputs.termsLed / FULL_EXPERIENCE),
  };
  const sum = weights.uptime + weights.capabilities + weights.resources + weights.network + weights.experience;
  const total =
    sum > 0
      ? (c.uptime * weights.uptime +
          c.capabilities * weights.capabilities +
          c.resources * weights.resources +
          c.network * weights.network +
          c.experience * weights.experience) /
        sum
      : 0;
  return {
    uptime: round(c.uptime),
    capabilities: round(c.capabilities),
    resources: round(c.resources),
    network: round(c.network),
    experience: round(c.experience),
    total: round(total),
  };
}

/** Free memory ratio and load per CPU of this host. */
export function hostResources(): { freeMemRatio: number; loadPerCpu: number } {
  return { freeMemRatio: freemem() / totalmem(), loadPerCpu: (loadavg()[0] ?? 0) / availableParallelism() };
}
