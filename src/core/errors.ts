// Typed errors for the whole library. Each has a stable `code`; its `kind` tells the CLI which exit
// code to use (usage → 2, check → 3, fatal → 4, anything else → 1). Core throws these and never exits.

/**
 * error: may pass on retry (1) · usage: bad input or config (2) · check: a check ran and failed (3) ·
 * fatal: cannot run until an operator acts — a damaged store, an invalid license (4). A service manager
 * must not restart a node that exited 2 or 4: no restart can fix it.
 */
export type ErrorKind = 'error' | 'usage' | 'check' | 'fatal';

export class ChorusError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  /** The HTTP status the control API answers with, when the code's default (api/server.ts) does not fit. */
  readonly status: number | undefined;

  constructor(code: string, message: string, options: { kind?: ErrorKind; cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ChorusError';
    this.code = code;
    this.kind = options.kind ?? 'error';
    this.status = options.status;
  }
}

/** Bad input from the user: a malformed flag value, address, file or config key. Exit 2. */
export class UsageError extends ChorusError {
  constructor(message: string, code = 'USAGE', cause?: unknown) {
    super(code, message, { kind: 'usage', cause });
    this.name = 'UsageError';
  }
}

/** Configuration that fails validation; the message names the key path. Exit 2. */
export class ConfigError extends UsageError {
  constructor(message: string, cause?: unknown) {
    super(message, 'CONFIG_INVALID', cause);
    this.name = 'ConfigError';
  }
}

/** A check that ran and failed: an SLO breached, a verification that did not hold. Exit 3. */
export class CheckFailedError extends ChorusError {
  readonly details: unknown;
  constructor(message: string, code = 'CHECK_FAILED', details?: unknown) {
    super(code, message, { kind: 'check' });
    this.name = 'CheckFailedError';
    this.details = details;
  }
}

/** The operation was cancelled or ran out of time. */
export class TimeoutError extends ChorusError {
  constructor(message: string, cause?: unknown) {
    super('TIMEOUT', message, { cause });
    this.name = 'TimeoutError';
  }
}

export function isChorusError(err: unknown): err is ChorusError {
  return err instanceof ChorusError;
}

/** A short, single-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] || err.name;
  return String(err);
}
