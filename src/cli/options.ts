// Small commander helpers: repeatable and comma-separated options, integer parsing with clear errors.
import { InvalidArgumentError } from 'commander';

/** Collects a repeatable option; each value may itself be a comma-separated list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export function integer(min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    return n;
  };
}

/** A TCP port from `min` (0 = any free port, where allowed) to 65535. */
export function port(min: 0 | 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > 65535) {
      throw new InvalidArgumentError(`expected a port from ${min} to 65535${min === 0 ? ' (0: any free port)' : ''}`);
    }
    return n;
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration: "1500", "1500ms", "2s", "1m", "12h", "365d". */
export function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a duration such as 500ms, 2s, 1m, 12h or 30d');
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
}
