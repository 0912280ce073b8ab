// `chorus publish`: through the local daemon's API, or with --join as a one-shot node.
import { ApiClient } from '../../core/api/client.ts';
import { parsePublishRequest, type PublishRequest } from '../../core/api/protocol.ts';
import { UsageError } from '../../core/errors.ts';
import { isMessageType } from '../../core/pubsub/messages.ts';
import type { PublishReceipt } from '../../core/pubsub/pubsub.ts';
import type { CommandContext } from '../context.ts';
import { readPayload } from './input.ts';

export interface PublishOptions {
  data?: string;
  topic?: string;
  raw?: boolean;
  role?: string;
  toRoles?: string[];
  expertise?: string[];
  project?: string;
  priority?: string;
  thread?: string;
  join?: string[];
  confirm: number;
  timeout: number;
}

export interface PublishResult extends PublishReceipt {
  confirmedBy?: string[];
  elapsedMs?: number;
}

export async function run(target: string, opts: PublishOptions, ctx: CommandContext): Promise<PublishResult> {
  const raw = Boolean(opts.raw);
  if (!raw && !isMessageType(target)) {
    throw new UsageError(
      `"${target}" is not a message type; to publish a payload to a topic use --raw`,
      'UNKNOWN_MESSAGE_TYPE',
    );
  }
  const request: PublishRequest = parsePublishRequest({
    type: raw ? undefined : target,
    topic: raw ? target : opts.topic,
    raw,
    data: await readPayload(opts.data, raw),
    fromRole: opts.role,
    toRoles: opts.toRoles,
    requiredExpertise: opts.expertise,
    projectId: opts.project,
    priority: opts.priority,
    threadId: opts.thread,
  });
  if (opts.join?.length) {
    const { publishOnce } = await import('../../core/node/oneshot.ts');
    return publishOnce({
      config: ctx.config,
      logger: ctx.logger,
      join: opts.join,
      request,
      confirm: opts.confirm,
      timeoutMs: opts.timeout,
      signal: ctx.signal,
    });
  }
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<PublishResult>('POST', '/v1/publish', request, ctx.signal);
}
