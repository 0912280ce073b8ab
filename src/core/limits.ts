// The documented size limits, one per kind of thing chorus carries: a message (what `publish` sends) and a
// decision (what `ucxl put` stores). The client verbs check them before sending anything; the daemon checks
// the same limits on every request, so a client that skips the check gets the same message. Documented in
// the README ("Limits") and docs/api.md.
import { UsageError } from './errors.ts';

/**
 * A message payload: the JSON text of a typed message's data (`--data`), or a raw payload (the text itself,
 * or its JSON). 256 KiB: every subscriber receives, verifies and logs each message, and GossipSub frames
 * carry several messages within its 4 MiB stream limit.
 */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * A decision's content (before encryption). 512 KiB: the content is age-encrypted to every reader role
 * and base64-encoded into a signed record of at most 1 MiB (MAX_RECORD_BYTES), which it must fit with room
 * for the recipients' stanzas.
 */
export const MAX_DECISION_BYTES = 512 * 1024;

/** The control API's request body: above both limits once encoded (base64, JSON escapes). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** Something larger than its documented limit. Exit 2 (bad input); the message names the size and the limit. */
export class TooLargeError extends UsageError {
  /** The size, when it is known (a streamed body is cut off at the limit). */
  readonly size: number | undefined;
  readonly limit: number;
  constructor(what: string, size: number | undefined, limit: number, hint: string) {
    super(
      size === undefined
        ? `${what} is over the limit of ${formatBytes(limit)} ${hint}`
        : `${what} is ${formatBytes(size)}; the limit is ${formatBytes(limit)} ${hint}`,
      'TOO_LARGE',
    );
    this.name = 'TooLargeError';
    this.size = size;
    this.limit = limit;
  }
}

/** `1048576 bytes (1 MiB)`: exact bytes, and a rounded binary unit when it helps. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = '';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  if (!unit) return `${n} bytes`;
  const rounded = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${n} bytes (${rounded} ${unit})`;
}

/** The size of a message payload as it is sent: a string as UTF-8, anything else as JSON text. */
export function messageSize(payload: unknown): number {
  return Buffer.byteLength(typeof payload === 'string' ? payload : (JSON.stringify(payload) ?? ''));
}

/** Throws TooLargeError when a message payload is over MAX_MESSAGE_BYTES. */
export function checkMessageSize(payload: unknown): void {
  const size = messageSize(payload);
  if (size > MAX_MESSAGE_BYTES) {
    throw new TooLargeError(
      'the message',
      size,
      MAX_MESSAGE_BYTES,
      'per message: send large content as a decision (chorus publish decision) and announce its address',
    );
  }
}

/** Throws TooLargeError when a decision's content is over MAX_DECISION_BYTES. */
export function checkDecisionSize(size: number): void {
  if (size > MAX_DECISION_BYTES) {
    throw new TooLargeError(
      "the decision's content",
      size,
      MAX_DECISION_BYTES,
      'per decision: split it into several decisions (one per path) or store it elsewhere and record its hash',
    );
  }
}

/** A request body over MAX_REQUEST_BYTES (a client that skipped the checks above); size if known. */
export function requestTooLarge(size?: number): TooLargeError {
  return new TooLargeError(
    'the request body',
    size,
    MAX_REQUEST_BYTES,
    `per request (a message may hold ${formatBytes(MAX_MESSAGE_BYTES)}, a decision ${formatBytes(MAX_DECISION_BYTES)})`,
  );
}
