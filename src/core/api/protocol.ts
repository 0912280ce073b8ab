// The control API's shared vocabulary: the socket/token file names, request bodies and error shape.
import { join } from 'node:path';

export const SOCKET_FILE = 'chorus.sock';
export const TOKEN_FILE = 'api.token';

export const socketPath = (dataDir: string): string => join(dataDir, SOCKET_FILE);
export const tokenPath = (dataDir: string): string => join(dataDir, TOKEN_FILE);

export interface PublishRequest {
  /** A message type (envelope) or, with raw, nothing. */
  type?: string;
  topic?: string;
  raw?: boolean;
  data: unknown;
  fromRole?: string;
  toRoles?: string[];
  requiredExpertise?: string[];
  projectId?: string;
  priority?: string;
  threadId?: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string; kind: 'error' | 'usage' | 'check' };
}
