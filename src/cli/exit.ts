// The one place where errors become exit codes and one-line messages. Raw system errors (errno text such
// as "EACCES: permission denied, open '…'") are turned into a sentence that names the path and the fix.
import { ChorusError, describeError } from '../core/errors.ts';
import { systemReason } from '../core/input-file.ts';

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

const ACTION: Record<string, string> = {
  open: 'open',
  mkdir: 'create the directory',
  rename: 'replace',
  unlink: 'remove',
  write: 'write',
  read: 'read',
  scandir: 'list',
  stat: 'inspect',
  lstat: 'inspect',
  chmod: 'change the mode of',
  access: 'access',
  copyfile: 'copy',
  fsync: 'sync',
  symlink: 'link',
  listen: 'listen on',
  bind: 'bind',
  connect: 'connect to',
};

/** A system error (with errno code and syscall) as a sentence; undefined for anything else. */
export function describeSystemError(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const reason = systemReason(e);
  if (!reason || !e.syscall) return undefined;
  const target = e.path ?? (e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : undefined);
  const action = ACTION[e.syscall] ?? e.syscall;
  return target ? `cannot ${action} ${target}: ${reason}` : `${e.syscall} failed: ${reason}`;
}

/** The message of any error, on one line (without the "chorus: " prefix). */
export function errorMessage(err: unknown): string {
  return describeSystemError(err) ?? describeError(err);
}

/** One line for stderr: "chorus: <message>". */
export function errorLine(err: unknown): string {
  return `chorus: ${errorMessage(err)}`;
}
