// What a running node does on SIGHUP (and what `chorus node` does at start when assign.url is set):
// fetch the assignment (falling back to the cache), reload file + env + assignment + flags through the
// caller's loader, apply the result to the node, and log what changed. A config that does not load or
// validate is refused with one clear log line; the running configuration stays.
import type { ChorusConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ReloadResult } from './reload.ts';
import { assignmentLayer, resolveAssignment } from './assign.ts';

export type ConfigLoader = (assignment?: Record<string, unknown>) => Promise<ChorusConfig>;

/**
 * Resolves the assignment named by config.assign.url (if any) and returns the config with it merged.
 * At start an unreachable server without a cache throws AssignmentError.
 */
export async function withAssignment(
  config: ChorusConfig,
  load: ConfigLoader,
  logger: Logger,
  signal?: AbortSignal,
): Promise<{ config: ChorusConfig; assignment?: Record<string, unknown> }> {
  if (!config.assign.url) return { config };
  const r = await resolveAssignment({
    url: config.assign.url,
    dataDir: config.dataDir,
    timeoutMs: config.assign.timeoutMs,
    signal,
  });
  if (r.from === 'cache') {
    logger.warn('assignment server unreachable; using the cached assignment', {
      url: config.assign.url,
      error: r.error,
    });
  } else {
    logger.info('assignment received', { url: config.assign.url, assignment: r.assignment });
  }
  const assignment = assignmentLayer(r.assignment);
  return { config: await load(assignment), assignment };
}

/** What the reloader needs of a running node. */
export interface Reloadable {
  reload(next: ChorusConfig): Promise<ReloadResult>;
  reloadRejected(): void;
}

export class ConfigReloader {
  private readonly node: Reloadable;
  private readonly load: ConfigLoader;
  private readonly logger: Logger;
  private assignment: Record<string, unknown> | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: { node: Reloadable; load: ConfigLoader; logger: Logger; assignment?: Record<string, unknown> }) {
    this.node = opts.node;
    this.load = opts.load;
    this.logger = opts.logger;
    this.assignment = opts.assignment;
  }

  /** Reloads once; concurrent calls (signals in quick succession) run one after the other. */
  reload(): Promise<ReloadResult | undefined> {
    const run = this.chain.then(() => this.reloadNow());
    this.chain = run.catch(() => {});
    return run;
  }

  private async reloadNow(): Promise<ReloadResult | undefined> {
    this.logger.info('reloading configuration (SIGHUP)');
    let next: ChorusConfig;
    let assignment = this.assignment;
    try {
      const base = await this.load(assignment);
      if (base.assign.url) {
        try {
          const r = await withAssignment(base, this.load, this.logger);
          next = r.config;
          assignment = r.assignment;
        } catch (err) {
          this.logger.warn('assignment server unreachable on reload; keeping the previous assignment', {
            url: base.assign.url,
            error: describeError(err),
          });
          next = base;
        }
      } else {
        next = assignment === undefined ? base : await this.load(undefined);
        assignment = undefined;
      }
    } catch (err) {
      this.node.reloadRejected();
      this.logger.error('configuration reload rejected; the running configuration stays', {
        error: describeError(err),
      });
      return undefined;
    }
    try {
      const result = await this.node.reload(next);
      this.assignment = assignment;
      this.logger.info('configuration reloaded', {
        applied: result.applied,
        restartRequired: result.restartRequired,
        ...(result.failed.length ? { failed: result.failed } : {}),
      });
      if (result.restartRequired.length) {
        this.logger.warn('some changed keys only take effect after a restart', { keys: result.restartRequired });
      }
      return result;
    } catch (err) {
      this.logger.error('configuration reload rejected; the running configuration stays', {
        error: describeError(err),
      });
      return undefined;
    }
  }
}
