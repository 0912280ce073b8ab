// Structured, namespaced logging. Core code logs through a Logger it is given; the logger writes
// finished lines to a sink chosen by the caller (the CLI points it at stderr), so core never prints.
// A logger and all its children share live settings (level, format, redaction), so a SIGHUP reload
// can change them in one place.

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, unknown>;

/** What reconfigure() may change on a running logger (and every child of it). */
export interface LiveLogSettings {
  level?: LogLevel;
  format?: LogFormat;
  /** Applied to every finished line before it reaches the sink (SHHH redaction of logs). */
  redact?: (line: string) => string;
}

export interface Logger {
  readonly level: LogLevel;
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  trace(message: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  child(component: string): Logger;
  /** Changes level, format or redaction for this logger, its parent and all their children. */
  reconfigure(settings: LiveLogSettings): void;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  sink: (line: string) => void;
  component?: string;
  /** Applied to every finished line before it reaches the sink (SHHH redaction of logs). */
  redact?: (line: string) => string;
  now?: () => Date;
}

const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

function renderValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /^[\w./:@-]+$/.test(value) ? value : JSON.stringify(value);
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
  } catch {
    return String(value);
  }
}

interface Shared {
  level: LogLevel;
  format: LogFormat;
  redact?: (line: string) => string;
  sink: (line: string) => void;
  now?: () => Date;
}

/**
 * One line. JSON lines always have exactly these keys: time, level, component, message, fields
 * (an object, empty when there are none), so a field can never shadow the envelope.
 */
function formatLine(
  shared: Shared,
  component: string,
  level: LogLevel,
  message: string,
  fields: LogFields | undefined,
): string {
  const time = (shared.now ?? (() => new Date()))().toISOString();
  if (shared.format === 'json') {
    const out: LogFields = {};
    for (const [k, v] of Object.entries(fields ?? {})) out[k] = v instanceof Error ? v.message : v;
    const entry = { time, level, component, message, fields: out };
    try {
      return JSON.stringify(entry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    } catch {
      return JSON.stringify({ time, level, component, message, fields: { unserializable: true } });
    }
  }
  const tail = fields
    ? Object.entries(fields)
        .map(([k, v]) => ` ${k}=${renderValue(v)}`)
        .join('')
    : '';
  return `${time} ${level.toUpperCase().padEnd(5)} ${component}: ${message}${tail}`;
}

function make(shared: Shared, component: string): Logger {
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (rank[level] > rank[shared.level]) return;
    const line = formatLine(shared, component, level, message, fields);
    shared.sink(shared.redact ? shared.redact(line) : line);
  };
  return {
    get level() {
      return shared.level;
    },
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    trace: (m, f) => emit('trace', m, f),
    enabled: (level) => rank[level] <= rank[shared.level],
    child: (name) => make(shared, component === 'chorus' ? name : `${component}:${name}`),
    reconfigure: (s) => {
      if (s.level) shared.level = s.level;
      if (s.format) shared.format = s.format;
      if (s.redact) shared.redact = s.redact;
    },
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  const shared: Shared = {
    level: opts.level,
    format: opts.format,
    redact: opts.redact,
    sink: opts.sink,
    now: opts.now,
  };
  return make(shared, opts.component ?? 'chorus');
}

/** A logger that discards everything (tests, library use without a sink). Its settings cannot change. */
export const silentLogger: Logger = { ...createLogger({ level: 'error', format: 'text', sink: () => {} }) };
silentLogger.reconfigure = () => {};
silentLogger.child = () => silentLogger;
