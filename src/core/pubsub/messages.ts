// The CHORUS message catalogue (31 types in 5 families, listed once in ../message-types.ts) and the
// envelope: its shape, validation, and encoding. Validation is pure; anything received from the network passes through parseEnvelope.
import * as z from 'zod';
import { UsageError } from '../errors.ts';
import { MESSAGE_FAMILIES, MESSAGE_TYPES, type MessageFamily, type MessageType } from '../message-types.ts';
import { TOPICS } from './topics.ts';

export { MESSAGE_FAMILIES, MESSAGE_TYPES, type MessageFamily, type MessageType };

export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];

const familyOf = new Map<string, MessageFamily>();
for (const [family, types] of Object.entries(MESSAGE_FAMILIES) as [MessageFamily, readonly string[]][]) {
  for (const t of types) familyOf.set(t, family);
}

export function isMessageType(value: string): value is MessageType {
  return familyOf.has(value);
}

export function messageFamily(type: MessageType): MessageFamily {
  return familyOf.get(type) as MessageFamily;
}

/** The static topic a message type is published to by default (as the predecessor's Publish*Message). */
export function defaultTopicFor(type: MessageType): string {
  const family = messageFamily(type);
  if (family === 'coordination') return TOPICS.coordination;
  if (family === 'contextFeedback') return TOPICS.contextFeedback;
  return TOPICS.metaDiscussion;
}

/** A role, expertise or project name. */
const NAME = /^[a-zA-Z0-9_.-]+$/;
const name = z.string().regex(NAME);

export const envelopeSchema = z.object({
  type: z.enum(MESSAGE_TYPES as [MessageType, ...MessageType[]]),
  from: z.string().min(1),
  timestamp: z.string().datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
  hop_count: z.number().int().min(0).optional(),
  from_role: name.optional(),
  to_roles: z.array(name).optional(),
  required_expertise: z.array(name).optional(),
  project_id: name.optional(),
  priority: z.enum(PRIORITIES).optional(),
  thread_id: z.string().min(1).max(256).optional(),
  /** Set by publishers that want delivery receipts (chorus publish --join --confirm). */
  ack: z.boolean().optional(),
});

export type Envelope = z.output<typeof envelopeSchema>;

/** Routing fields a publisher may set on an envelope. */
export interface RoutingFields {
  fromRole?: string;
  toRoles?: string[];
  requiredExpertise?: string[];
  projectId?: string;
  priority?: string;
  threadId?: string;
  hopCount?: number;
}

/** Builds and validates an envelope; bad values are UsageErrors naming the field. */
export function buildEnvelope(
  type: string,
  from: string,
  data: Record<string, unknown>,
  routing: RoutingFields = {},
  now: Date = new Date(),
): Envelope {
  if (!isMessageType(type)) {
    throw new UsageError(
      `unknown message type "${type}" (one of: ${MESSAGE_TYPES.join(', ')})`,
      'UNKNOWN_MESSAGE_TYPE',
    );
  }
  if (routing.priority !== undefined && !(PRIORITIES as readonly string[]).includes(routing.priority)) {
    throw new UsageError(`invalid priority "${routing.priority}": one of ${PRIORITIES.join(', ')}`, 'INVALID_PRIORITY');
  }
  const candidate = {
    type,
    from,
    timestamp: now.toISOString(),
    data,
    hop_count: routing.hopCount,
    from_role: routing.fromRole,
    to_roles: routing.toRoles?.length ? routing.toRoles : undefined,
    required_expertise: routing.requiredExpertise?.length ? routing.requiredExpertise : undefined,
    project_id: routing.projectId,
    priority: routing.priority as Priority | undefined,
    thread_id: routing.threadId,
  };
  const parsed = envelopeSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`invalid message field "${issue?.path.join('.')}": ${issue?.message}`, 'INVALID_MESSAGE');
  }
  return stripUndefined(parsed.data);
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

/** Parses bytes from the network into an envelope, or returns the reason it is not one. */
export function parseEnvelope(bytes: Uint8Array): { ok: true; envelope: Envelope } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (isPlainEnvelope(json)) return { ok: true, envelope: json };
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `invalid ${issue?.path.join('.') || 'envelope'}: ${issue?.message}` };
  }
  return { ok: true, envelope: parsed.data };
}

/** The envelope's fields in envelopeSchema's order, each with a check of exactly what the schema accepts. */
const ENVELOPE_FIELDS: readonly (readonly [string, (v: unknown) => boolean])[] = [
  ['type', (v) => typeof v === 'string' && familyOf.has(v)],
  ['from', (v) => typeof v === 'string' && v.length > 0],
  // toISOString's form of a valid instant, a subset of what the schema's datetime accepts (the rest goes to zod)
  ['timestamp', (v) => typeof v === 'string' && v.length === 24 && isCanonicalInstant(v)],
  ['data', isPlainRecord],
  ['hop_count', (v) => Number.isSafeInteger(v) && (v as number) >= 0],
  ['from_role', isName],
  ['to_roles', (v) => Array.isArray(v) && v.every(isName)],
  ['required_expertise', (v) => Array.isArray(v) && v.every(isName)],
  ['project_id', isName],
  ['priority', (v) => typeof v === 'string' && (PRIORITIES as readonly string[]).includes(v)],
  ['thread_id', (v) => typeof v === 'string' && v.length >= 1 && v.length <= 256],
  ['ack', (v) => typeof v === 'boolean'],
];
const REQUIRED_FIELDS = 4; // type, from, timestamp, data
const FIELDS = new Map(ENVELOPE_FIELDS.map(([key, check], at) => [key, { at, check }]));

function isName(v: unknown): boolean {
  return typeof v === 'string' && NAME.test(v);
}

/** A plain object (the schema's record drops an own `__proto__` key: such data goes to it). */
function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    Object.getPrototypeOf(v) === Object.prototype &&
    !Object.hasOwn(v, '__proto__')
  );
}

function isCanonicalInstant(v: string): boolean {
  const t = Date.parse(v);
  return !Number.isNaN(t) && new Date(t).toISOString() === v;
}

/**
 * An envelope as chorus publishes it: every field known, in the schema's order, each valid — what envelopeSchema
 * would return unchanged (as the same fields in the same order), without its copy. Anything else, valid or not,
 * goes to the schema, so its output and its reasons stay the schema's own. A receiving node parses every message
 * it relays; the schema's pass was ~2 % of its CPU (in-process pubsub bench profile).
 */
export function isPlainEnvelope(json: unknown): json is Envelope {
  if (!isPlainRecord(json)) return false;
  let next = 0;
  for (const key in json) {
    const field = FIELDS.get(key);
    if (field === undefined || field.at < next) return false;
    if (next < REQUIRED_FIELDS && field.at !== next) return false; // a required field missing
    if (!field.check(json[key])) return false;
    next = field.at + 1;
  }
  return next >= REQUIRED_FIELDS;
}

/** True when a message addressed to `toRoles` should reach a node with `role`. */
export function addressedTo(envelope: Pick<Envelope, 'to_roles'>, role: string): boolean {
  const to = envelope.to_roles;
  if (!to || to.length === 0) return true;
  const mine = role.toLowerCase();
  return to.some((r) => r.toLowerCase() === mine);
}
