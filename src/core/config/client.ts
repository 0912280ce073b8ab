// The configuration a client verb reads (status, peers, elect …, ucxl …): the data dir, the log settings,
// the DHT deadline and the SHHH rules, resolved without zod or yaml — the config schema and its parser
// cost a client verb more CPU than everything else it does. It answers only when nothing outside those keys
// could change or reject the result: no config file, no CHORUS_* variable it does not handle, and every
// value it handles plainly valid. Otherwise it answers undefined and the caller runs loadConfig, so every
// value and every error message stays exactly that of the full load (test/unit/config-client.test.ts).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { LOG_LEVELS, type LogFormat, type LogLevel } from '../log.ts';
import type { ChorusConfig } from './schema.ts';

/** The part of ChorusConfig a client verb may read; a full ChorusConfig is one. */
export interface ClientConfig {
  dataDir: string;
  log: { level: LogLevel; format: LogFormat };
  dht: Pick<ChorusConfig['dht'], 'timeoutMs'>;
  shhh: Pick<ChorusConfig['shhh'], 'rules'>;
}

/** The defaults of the keys above, as the schema states them (the test compares them with loadConfig's). */
const DHT_TIMEOUT_MS = 10_000;

export function defaultDataDir(home: string = homedir()): string {
  return join(home, '.chorus');
}

const BOOLEAN_WORDS = ['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'];
const FORMATS: readonly string[] = ['text', 'json'];
const isLevel = (v: string): v is LogLevel => (LOG_LEVELS as readonly string[]).includes(v);
const isFormat = (v: string): v is LogFormat => FORMATS.includes(v);

/**
 * The CHORUS_* variables this module reads, each with the check its value must pass to be taken here
 * (a value that fails is left to loadConfig, which rejects it with its own message).
 */
const HANDLED: Record<string, (raw: string) => boolean> = {
  CHORUS_DATA_DIR: () => true,
  CHORUS_LOG_LEVEL: isLevel,
  CHORUS_LOG_FORMAT: isFormat,
  CHORUS_DHT_TIMEOUT_MS: (raw) => raw.trim() !== '' && Number.isInteger(Number(raw)) && Number(raw) >= 100,
  // read by no client verb, but valid or not they decide whether loadConfig would accept the environment
  CHORUS_DEV: (raw) => BOOLEAN_WORDS.includes(raw.trim().toLowerCase()),
  CHORUS_DEV_AUTHORITY: () => true,
};

export interface ClientSources {
  /** A config file named on the command line (--config). */
  file?: string;
  env: Record<string, string | undefined>;
  /** The global flags: --data-dir, --log-level, --log-format. */
  flags: { dataDir?: string; logLevel?: LogLevel; logFormat?: LogFormat };
  home?: string;
}

/** The client config from defaults < CHORUS_* env < flags, or undefined when only loadConfig can tell. */
export function clientConfig(sources: ClientSources): ClientConfig | undefined {
  const { env, flags } = sources;
  if (sources.file !== undefined || env.CHORUS_CONFIG) return undefined;
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('CHORUS_') || raw === undefined || raw === '' || name === 'CHORUS_CONFIG') continue;
    const valid = HANDLED[name];
    if (!valid?.(raw)) return undefined;
  }
  if (flags.dataDir === '') return undefined;
  const level = flags.logLevel ?? env.CHORUS_LOG_LEVEL;
  const format = flags.logFormat ?? env.CHORUS_LOG_FORMAT;
  return {
    dataDir: resolve(flags.dataDir || env.CHORUS_DATA_DIR || defaultDataDir(sources.home)),
    log: { level: level && isLevel(level) ? level : 'info', format: format && isFormat(format) ? format : 'text' },
    dht: { timeoutMs: env.CHORUS_DHT_TIMEOUT_MS ? Number(env.CHORUS_DHT_TIMEOUT_MS) : DHT_TIMEOUT_MS },
    shhh: { rules: [] },
  };
}
