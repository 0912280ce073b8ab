// How a benchmark prints a figure that failed its SLO gate: with the usual decimals, unless that rounding would land
// on the gate or past it, and then as the nearest figure on the failing side. A line never reads as the gate
// itself ("GET p95 20.1 ms > 20 ms" for 20.04, "199.9 transitions/s < 200" for 199.96).

/** `x`, which is above `gate`, with `decimals` decimals, shown above the gate. */
export function over(x: number, gate: number, decimals = 1): string {
  const shown = x.toFixed(decimals);
  return Number(shown) > gate ? shown : (gate + 10 ** -decimals).toFixed(decimals);
}

/** `x`, which is below `gate`, with `decimals` decimals, shown below the gate. */
export function under(x: number, gate: number, decimals = 1): string {
  const shown = x.toFixed(decimals);
  return Number(shown) < gate ? shown : (gate - 10 ** -decimals).toFixed(decimals);
}
