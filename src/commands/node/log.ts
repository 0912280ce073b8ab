// `chorus log tail` and `chorus log verify`: read the node's event log file directly (read-only),
// so they work while the daemon runs and after it died.
import { existsSync } from 'node:fs';
import { CheckFailedError, UsageError } from '../../core/errors.ts';
import { EventLog } from '../../core/eventlog/eventlog.ts';
import type { LogEntry, VerifyReport } from '../../core/eventlog/types.ts';
import { dataFile } from '../../core/datadir.ts';
import { verifyByAuthor } from '../../core/p2p/signer.ts';
import type { CommandContext } from '../context.ts';

function logFile(ctx: CommandContext): string {
  const file = dataFile(ctx.config.dataDir, 'eventLog');
  if (!existsSync(file))
    throw new UsageError(`no event log at ${file} (has a node run with this data dir?)`, 'NOT_FOUND');
  return file;
}

export async function* tail(opts: { lines: number; follow?: boolean }, ctx: CommandContext): AsyncGenerator<LogEntry> {
  const log = EventLog.openReadOnly(logFile(ctx));
  try {
    const entries = log.tail(opts.lines);
    yield* entries;
    if (opts.follow) yield* log.follow(log.head.seq, ctx.signal);
  } finally {
    log.close();
  }
}

export function verify(_opts: object, ctx: CommandContext): VerifyReport {
  const report = EventLog.verifyFile(logFile(ctx), verifyByAuthor);
  if (!report.ok) {
    const p = report.problem;
    throw new CheckFailedError(
      `event log verification failed at entry ${p?.seq}: ${p?.kind} — ${p?.message}`,
      'LOG_VERIFY_FAILED',
      report,
    );
  }
  return report;
}
