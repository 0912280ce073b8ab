// `chorus subscribe`: stream messages from the local daemon until interrupted.
import { ApiClient } from '../../core/api/client.ts';
import type { ReceivedMessage } from '../../core/pubsub/pubsub.ts';
import { validateTopic } from '../../core/pubsub/topics.ts';
import type { CommandContext } from '../context.ts';

export async function* run(
  topics: string[],
  opts: { raw?: boolean },
  ctx: CommandContext,
): AsyncGenerator<ReceivedMessage> {
  const query = new URLSearchParams(topics.map((t) => ['topic', validateTopic(t)]));
  if (opts.raw) query.set('raw', 'true');
  const client = new ApiClient({ dataDir: ctx.config.dataDir });
  for await (const item of client.stream<ReceivedMessage | { subscribed: string[] }>(
    `/v1/subscribe?${query}`,
    ctx.signal,
  )) {
    if ('subscribed' in item) ctx.logger.info('subscribed', { topics: item.subscribed });
    else yield item;
  }
}
