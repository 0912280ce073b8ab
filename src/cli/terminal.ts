// Facts about the terminal the CLI writes to: colour and animation are only for a real TTY.
export interface TerminalFacts {
  color: boolean;
  /** Spinners may animate: stderr is a TTY with a width, not CI, not --json. */
  animate: boolean;
  /** stdout is a terminal (and not --json): views may redraw in place. */
  tty?: boolean;
}

export function terminalFacts(opts: { json: boolean; color: boolean }, env = process.env): TerminalFacts {
  const stdoutTty = Boolean(process.stdout.isTTY);
  const stderrTty = Boolean(process.stderr.isTTY);
  const color = opts.color && !('NO_COLOR' in env) && stdoutTty && env.TERM !== 'dumb';
  const ci = Boolean(env.CI) && env.CI !== 'false';
  const animate = stderrTty && !opts.json && !ci && (process.stderr.columns ?? 0) > 0;
  return { color, animate, tty: stdoutTty && !opts.json && env.TERM !== 'dumb' };
}
