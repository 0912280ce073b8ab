// Aligned "key: value" text for single-object results (kept apart from cli-table3 for fast start-up).
export function renderPairs(pairs: [string, string | number | undefined][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`)
    .join('\n');
}
