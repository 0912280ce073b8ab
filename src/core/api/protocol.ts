// The control API's shared vocabulary: the socket/token file names, request bodies and error shape.
import { dataFile } from '../datadir.ts';
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

export interface ApiErrorBody {
  error: { code: string; message: string; kind: 'error' | 'usage' | 'check' };
}
