// `chorus log tail` and `chorus log verify`: read the node's event log file directly (read-only),
// so they work while the daemon runs and after it died. `chorus log compact` applies retention now:
// through the running node when one answers, else on the file with the node's key, holding the data dir's lock
// (data-dir-lock.ts) so that no node starts on the log while it is rewritten.
import { existsSync } from 'node:fs';
import { ApiClient, DaemonUnreachableError } from '../../core/api/client.ts';
import { takeDataDirLock, type DataDirLock } from '../../core/data-dir-lock.ts';
import { CheckFailedError, ChorusError, UsageError } from '../../core/errors.ts';
import { EventLog, compactLog, retentionPolicy, type CompactResult } from '../../core/eventlog/eventlog.ts';
import type { LogEntry, VerifyReport } from '../../core/eventlog/types.ts';
import { DATA_FILES, dataFile } from '../../core/datadir.ts';
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
    if (p?.kind === 'damaged') {
      throw new CheckFailedError(
        `event log verification failed: ${p.message} (move it aside, or run \`chorus node --repair\`: the node starts a new log)`,
        'LOG_VERIFY_FAILED',
        report,
      );
    }
    throw new CheckFailedError(
      `event log verification failed at entry ${p?.seq}: ${p?.kind} — ${p?.message}`,
      'LOG_VERIFY_FAILED',
      report,
    );
  }
  return report;
}

export interface CompactReport extends CompactResult {
  file: string;
  /** Who compacted: the running node, or this process on the file (no node was running). */
  via: 'node' | 'file';
}

/** A compaction verifies what it removes (~50 µs an entry): a large log takes a while. */
const COMPACT_TIMEOUT_MS = 10 * 60_000;

export async function compact(_opts: object, ctx: CommandContext): Promise<CompactReport> {
  const file = logFile(ctx);
  const client = new ApiClient({ dataDir: ctx.config.dataDir, timeoutMs: COMPACT_TIMEOUT_MS });
  try {
    const result = await client.call<CompactResult>('POST', '/v1/log/compact', {}, ctx.signal);
    return { ...result, file, via: 'node' };
  } catch (err) {
    if (!(err instanceof DaemonUnreachableError)) throw err;
  }
  const lock = lockForCompaction(ctx.config.dataDir);
  try {
    return await compactFile(file, ctx);
  } finally {
    lock.release();
  }
}

/**
 * The data dir's lock for a compaction without a node. A node that holds it but did not answer is starting (it
 * takes the lock before it binds its socket): that node compacts, once it answers.
 */
function lockForCompaction(dataDir: string): DataDirLock {
  try {
    return takeDataDirLock(dataDir);
  } catch (err) {
    if (!(err instanceof ChorusError) || err.code !== 'ALREADY_RUNNING') throw err;
    throw new ChorusError(
      'ALREADY_RUNNING',
      `a chorus node holds data dir ${dataDir} but does not answer on its socket yet: run \`chorus log compact\` again once it does`,
      { cause: err },
    );
  }
}

/** No node runs: compacts the file, signing the checkpoint with the node's own key, never a new one. */
async function compactFile(file: string, ctx: CommandContext): Promise<CompactReport> {
  const [{ loadOrCreateIdentity }, { signerFor }] = await Promise.all([
    import('../../core/p2p/identity.ts'),
    import('../../core/p2p/signer.ts'),
  ]);
  if (!existsSync(dataFile(ctx.config.dataDir, 'identity'))) {
    throw new UsageError(
      `no node identity in ${ctx.config.dataDir} to sign the checkpoint with (${DATA_FILES.identity}); compact with the data dir of the node that wrote the log`,
    );
  }
  const identity = await loadOrCreateIdentity(ctx.config.dataDir);
  const log = EventLog.open(file, signerFor(identity.privateKey), { sync: ctx.config.eventLog.sync });
  try {
    const result = await compactLog(log, retentionPolicy(ctx.config.eventLog), {
      release: true,
      verify: verifyByAuthor,
      signal: ctx.signal,
    });
    return { ...result, file, via: 'file' };
  } finally {
    log.close();
  }
}
