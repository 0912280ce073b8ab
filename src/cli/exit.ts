// The one place where errors become exit codes and one-line messages.
import { ChorusError, describeError } from '../core/errors.ts';

/** 2 and 4 mean no restart can fix it (the systemd unit's RestartPreventExitStatus). */
export const EXIT = { ok: 0, error: 1, usage: 2, check: 3, fatal: 4 } as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof ChorusError) return EXIT[err.kind];
  return EXIT.error;
}

export function errorCode(err: unknown): string {
  if (err instanceof ChorusError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'INTERNAL';
}

/** One line for stderr: "chorus: <message>". */
export function errorLine(err: unknown): string {
  return `chorus: ${describeError(err)}`;
}
