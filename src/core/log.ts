// Structured, namespaced logging. Core code logs through a Logger it is given; the logger writes
// finished lines to a sink chosen by the caller (the CLI points it at stderr), so core never prints.

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  trace(message: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  child(component: string): Logger;
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

function formatLine(opts: LoggerOptions, level: LogLevel, message: string, fields: LogFields | undefined): string {
  const time = (opts.now ?? (() => new Date()))().toISOString();
  const component = opts.component ?? 'chorus';
  if (opts.format === 'json') {
    const entry: LogFields = { time, level, component, message };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) entry[k] = v instanceof Error ? v.message : v;
    }
    return JSON.stringify(entry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
  const tail = fields
    ? Object.entries(fields)
        .map(([k, v]) => ` ${k}=${renderValue(v)}`)
        .join('')
    : '';
  return `${time} ${level.toUpperCase().padEnd(5)} ${component}: ${message}${tail}`;
}

export function createLogger(opts: LoggerOptions): Logger {
  const threshold = rank[opts.level];
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (rank[level] > threshold) return;
    const line = formatLine(opts, level, message, fields);
    opts.sink(opts.redact ? opts.redact(line) : line);
  };
  return {
    level: opts.level,
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    trace: (m, f) => emit('trace', m, f),
    enabled: (level) => rank[level] <= threshold,
    child: (component) =>
      createLogger({ ...opts, component: opts.component ? `${opts.component}:${component}` : component }),
  };
}

/** A logger that discards everything (tests, library use without a sink). */
export const silentLogger: Logger = createLogger({ level: 'error', format: 'text', sink: () => {} });
