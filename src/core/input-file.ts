// Files a user names on the command line (a payload, a description, a report, shares): read them, or say in
// one line why not — the errno reason as a sentence with its fix, never "ENOENT: no such file …" — as bad
// input (exit 2). The reasons are shared with the CLI's rendering of any system error (cli/exit.ts).
import { readFile } from 'node:fs/promises';
import { describeError, UsageError } from './errors.ts';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied — run as the user that owns it, or fix its owner and mode (ls -ld shows them)',
  EPERM: 'operation not permitted — run as the user that owns it, or fix its owner and mode',
  ENOENT: 'it does not exist — check the path',
  EEXIST: 'something is already there (a file where a directory belongs?) — move it aside or choose another path',
  ENOTDIR: 'a part of the path is a file, not a directory — choose another path',
  EISDIR: 'it is a directory, not a file — give a file path',
  EROFS: 'the file system is read-only — choose a writable path',
  ENOSPC: 'no space left on the device — free some space',
  EDQUOT: 'the disk quota is exhausted — free some space',
  EMFILE: 'too many open files — raise the limit (ulimit -n)',
  EADDRINUSE: 'the address is already in use — stop what uses it or choose another port',
  EADDRNOTAVAIL: 'the address is not on this host — choose an address of a local interface',
};

/** The sentence for a system error's errno code (with its fix); undefined for other errors. */
export function systemReason(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code ? REASONS[code] : undefined;
}

/** Reads a file the user named; `label` (a flag, say) starts the message when it cannot be read. */
export async function readInputFile(file: string, label?: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const why = systemReason(err) ?? describeError(err);
    throw new UsageError(`${label ? `${label}: ` : ''}cannot read ${file}: ${why}`, 'INPUT_UNREADABLE');
  }
}
