// SIGHUP reload of a running node: which keys changed (from the schema's `reload` metadata), a
// validation pass that can still refuse the whole new config, then applying each reloadable change to
// the service that owns it. Keys that need a restart are reported and keep their running value.
import { configKeys } from '../config/keys.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { ConfigError, describeError } from '../errors.ts';
import { retentionPolicy, type RetentionPolicy } from '../eventlog/retention.ts';
import { peerRateLimit, type PeerRateLimit } from '../eventlog/ratelimit.ts';
import type { Logger } from '../log.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import { setConnectionLimits } from '../p2p/host.ts';
import { parseBootstrap, type BootstrapJoiner } from '../p2p/join.ts';
import type { DecisionStore } from '../decisions/store.ts';
import type { Presence } from '../pubsub/presence.ts';
import type { ChorusPubSub } from '../pubsub/pubsub.ts';
import { topicFor } from '../pubsub/topics.ts';
import { Redactor } from '../shhh/redactor.ts';
import type { OpsService } from './service.ts';

export interface ReloadResult {
  /** Keys whose new value is now in effect. */
  applied: string[];
  /** Keys that changed but only take effect after a restart (they keep their running value). */
  restartRequired: string[];
  /** Reloadable keys whose new value could not be applied (they keep their running value). */
  failed: { key: string; error: string }[];
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const part of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) cur = cur[part] as Record<string, unknown>;
  cur[parts[parts.length - 1] as string] = value;
}

/** Changed keys of two configs, split by whether a running node can apply them. */
export function diffConfig(prev: ChorusConfig, next: ChorusConfig): { reloadable: string[]; restart: string[] } {
  const reloadable: string[] = [];
  const restart: string[] = [];
  for (const k of configKeys()) {
    if (JSON.stringify(getPath(prev, k.path)) === JSON.stringify(getPath(next, k.path))) continue;
    (k.reload ? reloadable : restart).push(k.path);
  }
  return { reloadable, restart };
}

/** The running services a reload reaches into. */
export interface ReloadTargets {
  logger: Logger;
  redactor: Redactor;
  libp2p: ChorusLibp2p;
  pubsub: ChorusPubSub;
  presence: Presence;
  joiner: BootstrapJoiner;
  decisions: DecisionStore;
  eventLog: { setRetentionPolicy(policy: RetentionPolicy): void };
  recorder: { setRateLimit(limit: PeerRateLimit): void };
  ops?: OpsService;
}

function roleTopics(c: ChorusConfig): string[] {
  return [
    topicFor.role(c.agent.role),
    ...c.agent.expertise.map(topicFor.expertise),
    ...c.agent.reportsTo.map(topicFor.hierarchy),
  ];
}

/**
 * Applies `next` to a running node whose config is `prev`. Throws ConfigError (nothing applied) when
 * the new config cannot work at all; otherwise returns what was applied and the effective config.
 */
export async function applyReload(
  t: ReloadTargets,
  prev: ChorusConfig,
  next: ChorusConfig,
): Promise<{ result: ReloadResult; effective: ChorusConfig }> {
  const { reloadable, restart } = diffConfig(prev, next);
  const changed = new Set(reloadable);
  const touched = (prefix: string): boolean => [...changed].some((k) => k === prefix || k.startsWith(`${prefix}.`));
  // validation pass: refuse the whole config before changing anything
  let logRedactor: Redactor | undefined;
  try {
    if (touched('shhh.rules')) logRedactor = new Redactor({ rules: next.shhh.rules });
    if (touched('p2p.bootstrap')) parseBootstrap(next.p2p.bootstrap);
    roleTopics(next);
  } catch (err) {
    throw new ConfigError(`new configuration refused: ${describeError(err)}`, err);
  }
  const failed: ReloadResult['failed'] = [];
  const effective = structuredClone(next) as unknown as Record<string, unknown>;
  for (const key of restart) setPath(effective, key, structuredClone(getPath(prev, key)));

  if (touched('log.level')) t.logger.reconfigure({ level: next.log.level });
  if (touched('log.format')) t.logger.reconfigure({ format: next.log.format });
  if (logRedactor) {
    t.redactor.setRules(next.shhh.rules);
    t.logger.reconfigure({ redact: (line) => t.redactor.scrubLine(line) });
  }
  if (touched('p2p.bootstrap') || touched('p2p.joinStaggerMs')) {
    t.joiner.update(next.p2p.bootstrap, next.p2p.joinStaggerMs);
  }
  if (touched('p2p.maxConnections') || touched('p2p.maxPeersPerIp')) {
    setConnectionLimits(t.libp2p, { maxConnections: next.p2p.maxConnections, maxPeersPerIp: next.p2p.maxPeersPerIp });
  }
  if (touched('pubsub.hopLimit')) t.pubsub.setHopLimit(next.pubsub.hopLimit);
  if (touched('pubsub.meshWaitMs')) t.pubsub.setMeshWait(next.pubsub.meshWaitMs);
  if (touched('dht.timeoutMs') || touched('agent.role')) {
    t.decisions.configure({ role: next.agent.role, timeoutMs: next.dht.timeoutMs });
  }
  if (touched('agent')) {
    const before = new Set(roleTopics(prev));
    const after = new Set(roleTopics(next));
    for (const topic of before) if (!after.has(topic)) t.pubsub.leave(topic);
    t.pubsub.setRole(next.agent.role);
    t.pubsub.joinRoleTopics(next.agent.role, next.agent.expertise, next.agent.reportsTo);
    await t.presence.reconfigure({
      role: next.agent.role,
      expertise: next.agent.expertise,
      capabilities: next.agent.capabilities,
      maxTasks: next.agent.maxTasks,
    });
  }
  if (touched('eventLog.maxAgeDays') || touched('eventLog.maxSizeMb')) {
    t.eventLog.setRetentionPolicy(retentionPolicy(next.eventLog));
  }
  if (touched('eventLog.peerRateLimit')) t.recorder.setRateLimit(peerRateLimit(next.eventLog));
  if (touched('ops') && t.ops) {
    try {
      await t.ops.reconfigure(next.ops);
    } catch (err) {
      for (const key of reloadable.filter((k) => k.startsWith('ops.'))) {
        failed.push({ key, error: describeError(err) });
        setPath(effective, key, structuredClone(getPath(prev, key)));
      }
    }
  }
  const failedKeys = new Set(failed.map((f) => f.key));
  return {
    result: { applied: reloadable.filter((k) => !failedKeys.has(k)), restartRequired: restart, failed },
    effective: effective as unknown as ChorusConfig,
  };
}
