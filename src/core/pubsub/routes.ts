// The pubsub route group of the control API: POST /v1/publish and GET /v1/subscribe (NDJSON stream),
// and publishRequest, the one code path of a publish (the API and one-shot --join mode).
import { parsePublishRequest, type PublishRequest } from '../api/protocol.ts';
import type { Route } from '../api/server.ts';
import { openStream } from '../api/stream.ts';
import { UsageError } from '../errors.ts';
import { ClientTopics } from './client-topics.ts';
import type { ChorusPubSub, ReceivedMessage } from './pubsub.ts';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Publishes a validated request through a node's pubsub (shared by the API and one-shot --join mode). */
export async function publishRequest(
  pubsub: Pick<ChorusPubSub, 'join' | 'publish' | 'publishRaw'>,
  req: PublishRequest,
  opts: { ack?: boolean; signal?: AbortSignal } = {},
) {
  if (req.raw) {
    if (!req.topic) throw new UsageError('a raw publish needs a topic');
    pubsub.join(req.topic, { raw: true });
    return pubsub.publishRaw(req.topic, req.data, { signal: opts.signal });
  }
  if (!req.type) throw new UsageError('publish needs a message type (or --raw with a topic)');
  if (!isRecord(req.data)) throw new UsageError('message data must be a JSON object');
  return pubsub.publish(req.type, req.data, { ...req, ack: opts.ack, signal: opts.signal });
}

/** The pubsub routes; `clientTopics` counts the topics joined for clients (shared with the portal's rooms). */
export function pubsubRoutes(
  c: { pubsub: ChorusPubSub },
  clientTopics = new ClientTopics(c.pubsub),
): Record<string, Route> {
  const { pubsub } = c;
  return {
    'POST /v1/publish': async ({ body, signal }) =>
      publishRequest(pubsub, parsePublishRequest(await body()), { signal }),
    'GET /v1/subscribe': async ({ url, res, signal }) => {
      const topics = url.searchParams.getAll('topic');
      const raw = url.searchParams.get('raw') === 'true';
      if (topics.length === 0) throw new UsageError('subscribe needs at least one topic');
      const release = clientTopics.hold(topics, { raw });
      const stream = openStream(res, { signal }); // bounded: a client that stops reading is dropped
      stream.send({ subscribed: topics });
      const wanted = new Set(topics);
      const onMessage = (m: ReceivedMessage): void => {
        if (wanted.has(m.topic)) stream.send(m);
      };
      pubsub.on('message', onMessage);
      await stream.done;
      pubsub.off('message', onMessage);
      release();
      stream.close();
      return undefined;
    },
  };
}
