// The control API's shared vocabulary: the socket/token paths, request bodies (with the parsers of
// publish and decision-write requests, shared by the daemon's routes and the commands) and the error shape.
import { dataFile } from '../datadir.ts';
import { UsageError, type ErrorKind } from '../errors.ts';
import { checkMessageSize } from '../limits.ts';
import type { RoutingFields } from '../pubsub/messages.ts';

export const socketPath = (dataDir: string): string => dataFile(dataDir, 'socket');
export const tokenPath = (dataDir: string): string => dataFile(dataDir, 'apiToken');

/** A publish through the API: the routing fields of the envelope (hop count excepted) plus what to send. */
export interface PublishRequest extends Omit<RoutingFields, 'hopCount'> {
  /** A message type (envelope) or, with raw, nothing. */
  type?: string;
  topic?: string;
  raw?: boolean;
  data: unknown;
}

/** A decision write through the API (`chorus ucxl put`, `chorus publish decision`). */
export interface PutRequest {
  address: string;
  /** base64 */
  content: string;
  contentType?: string;
  roles?: string[];
  announce?: boolean;
}

export interface ApiErrorBody {
  error: { code: string; message: string; kind: ErrorKind };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, field: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new UsageError(`${field} must be a list of strings`);
  return v;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`${field} must be a string`);
  return v;
}

/** Validates a publish request body (it comes from outside the process). */
export function parsePublishRequest(body: unknown): PublishRequest {
  if (!isRecord(body)) throw new UsageError('publish body must be a JSON object');
  checkMessageSize(body.data ?? {}); // the client checks before sending, the daemon again
  return {
    type: optionalString(body.type, 'type'),
    topic: optionalString(body.topic, 'topic'),
    raw: body.raw === true,
    data: body.data ?? {},
    fromRole: optionalString(body.fromRole, 'fromRole'),
    toRoles: stringList(body.toRoles, 'toRoles'),
    requiredExpertise: stringList(body.requiredExpertise, 'requiredExpertise'),
    projectId: optionalString(body.projectId, 'projectId'),
    priority: optionalString(body.priority, 'priority'),
    threadId: optionalString(body.threadId, 'threadId'),
  };
}

/** Validates a decision write's body (it comes from outside the process). */
export function parsePutRequest(body: unknown): PutRequest {
  if (!isRecord(body) || typeof body.address !== 'string' || typeof body.content !== 'string') {
    throw new UsageError('put needs {address, content (base64)}');
  }
  const roles = body.roles;
  if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) {
    throw new UsageError('roles must be a list of role names');
  }
  return {
    address: body.address,
    content: body.content,
    contentType: typeof body.contentType === 'string' ? body.contentType : undefined,
    roles: roles as string[] | undefined,
    announce: body.announce === true,
  };
}
