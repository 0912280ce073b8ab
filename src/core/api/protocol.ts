// The control API's shared vocabulary: the socket/token file names, request bodies and error shape.
import { join } from 'node:path';
import type { ErrorKind } from '../errors.ts';
import type { RoutingFields } from '../pubsub/messages.ts';

export const SOCKET_FILE = 'chorus.sock';
export const TOKEN_FILE = 'api.token';

export const socketPath = (dataDir: string): string => join(dataDir, SOCKET_FILE);
export const tokenPath = (dataDir: string): string => join(dataDir, TOKEN_FILE);

/** A publish through the API: the routing fields of the envelope (hop count excepted) plus what to send. */
export interface PublishRequest extends Omit<RoutingFields, 'hopCount'> {
  /** A message type (envelope) or, with raw, nothing. */
  type?: string;
  topic?: string;
  raw?: boolean;
  data: unknown;
}

export interface ApiErrorBody {
  error: { code: string; message: string; kind: ErrorKind };
}
