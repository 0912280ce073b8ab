// The CHORUS pubsub service over GossipSub: static and dynamic topics, the signed envelope with
// role routing, raw payloads, hop limits, SHHH redaction before anything leaves, own-message
// filtering, and a record of every message in and out in the event log.
import type { GossipSub, GossipsubMessage } from '@libp2p/gossipsub';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { describeError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { authorId } from './author-ids.ts';
import { NoSubscribersError } from './errors.ts';
import {
  addressedTo,
  buildEnvelope,
  defaultTopicFor,
  encodeEnvelope,
  isMessageType,
  parseEnvelope,
  type Envelope,
  type RoutingFields,
} from './messages.ts';
import { isRawTopic, STATIC_TOPICS, topicFamily, topicFor, validateTopic } from './topics.ts';

/** A message delivered to this node's handlers. */
export interface ReceivedMessage {
  topic: string;
  /** The signing author (peer ID string). */
  from: string;
  /** The neighbour that relayed it to us. */
  via: string;
  /** Content id (see contentId); the same on every receiver and in the publisher's receipt. */
  msgId: string;
  gossipId: string;
  raw: boolean;
  /** Present for envelope topics. */
  envelope?: Envelope;
  /** For raw topics: the payload as JSON when it parses, else as UTF-8 text. */
  payload?: unknown;
  receivedAt: string;
}

export interface PublishReceipt {
  topic: string;
  msgId: string;
  type?: string;
  /** Peers the message was sent to directly. */
  recipients: number;
  redactions: number;
}

/** What the pubsub needs from the SHHH sentinel. */
export interface OutboundRedactor {
  redactValue<T>(
    value: T,
    location?: string,
  ): { value: T; findings: { rule: string; location: string; sha256: string; severity: string; tags: string[] }[] };
}

/** What the pubsub needs from the event log. */
export interface MessageRecorder {
  record(type: string, data: unknown): void;
  /** Resolves once what was recorded so far is written (a recorder that writes at once may leave it out). */
  written?(): Promise<void>;
}

export interface PubSubOptions {
  gossip: GossipSub;
  selfId: PeerId;
  role: string;
  hopLimit: number;
  meshWaitMs: number;
  logger: Logger;
  redactor?: OutboundRedactor;
  recorder?: MessageRecorder;
  /** Admission of authors and relays (licenses): true, false, or a promise while it is being established. */
  admit?: (peer: string) => boolean | Promise<boolean>;
}

export interface PublishOptions extends RoutingFields {
  topic?: string;
  /** Ask receivers for an acknowledgement (see AckService). */
  ack?: boolean;
  signal?: AbortSignal;
}

/**
 * Subscribers we can send to right now. A peer's SUBSCRIBE can arrive before our own outbound stream
 * to it is open; a publish in that window silently skips it, so only peers with an open outbound
 * stream count (gossipsub keeps them in `streamsOutbound`).
 */
function reachableSubscribers(gossip: GossipSub, topic: string): number {
  return reachableSubscriberIds(gossip, topic).length;
}

function reachableSubscriberIds(gossip: GossipSub, topic: string): string[] {
  // the exported GossipSub interface hides the implementation's public `streamsOutbound` map
  const outbound = (gossip as unknown as { streamsOutbound?: Map<string, unknown> }).streamsOutbound;
  const subscribers = gossip.getSubscribers(topic).map((p) => p.toString());
  return outbound ? subscribers.filter((p) => outbound.has(p)) : subscribers;
}

/** Content id of a published payload: what receipts and acknowledgements refer to (computed once per delivery). */
export function contentId(bytes: Uint8Array): string {
  // one-shot, no Hash object: ~0.8 µs for a 1 KiB message against createHash's ~1.1
  return hash('sha256', bytes, 'hex').slice(0, 32);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export interface PubSubEvents {
  /** A message delivered to this node's handlers. */
  message: [ReceivedMessage];
  /** A received message rejected as invalid, forged or over the hop limit. */
  dropped: [{ topic: string; reason: string; from?: string }];
  /** A valid message not addressed to this node's role (to_roles). */
  skipped: [{ topic: string; msgId: string; toRoles: string[] }];
  /** A publish of this node that failed (code: NO_SUBSCRIBERS, SHHH_DENIED, …). */
  publishError: [{ topic: string; code: string }];
}

export class ChorusPubSub extends EventEmitter<PubSubEvents> {
  private readonly opts: PubSubOptions;
  private readonly joined = new Map<string, { raw: boolean }>();
  private hopLimit: number;
  private role: string;
  private prospects: (() => boolean) | undefined;
  private readonly onGossip = (evt: CustomEvent<GossipsubMessage>): void => this.receive(evt.detail);
  /** Envelopes parsed by the validator, reused on delivery (each message is parsed once). */
  private readonly parsed = new WeakMap<Uint8Array, Envelope>();

  constructor(opts: PubSubOptions) {
    super();
    this.opts = opts;
    this.hopLimit = opts.hopLimit;
    this.role = opts.role;
  }

  get selfId(): string {
    return this.opts.selfId.toString();
  }

  /** Subscribes to the static topics. */
  start(): void {
    this.opts.gossip.addEventListener('gossipsub:message', this.onGossip);
    for (const topic of STATIC_TOPICS) this.join(topic);
  }

  stop(): void {
    for (const topic of [...this.joined.keys()]) this.leaveTopic(topic);
    this.opts.gossip.removeEventListener('gossipsub:message', this.onGossip);
  }

  setRole(role: string): void {
    this.role = role;
  }

  setHopLimit(limit: number): void {
    this.hopLimit = limit;
  }

  setMeshWait(ms: number): void {
    this.opts.meshWaitMs = ms;
  }

  /**
   * Sets whether a peer could still subscribe within a publish's wait (a connection, a dial in flight, a
   * bootstrap peer being dialled, a node just started: see p2p/prospects.ts). When it says no, a publish
   * that finds no subscriber fails at once instead of waiting out meshWaitMs for a mesh that cannot form.
   */
  setPeerProspects(prospects: () => boolean): void {
    this.prospects = prospects;
  }

  /** False when no peer could subscribe within a publish's wait (setPeerProspects; unset: true). */
  mayMeetPeers(): boolean {
    return this.prospects?.() ?? true;
  }

  /** Joins a topic (idempotent). Raw topics carry payloads without the envelope. */
  join(topic: string, opts: { raw?: boolean } = {}): void {
    validateTopic(topic);
    if (this.joined.has(topic)) return;
    const raw = opts.raw ?? isRawTopic(topic);
    this.joined.set(topic, { raw });
    if (!raw) this.opts.gossip.topicValidators.set(topic, (peer, msg) => this.admitThen(peer, msg, this.validate));
    else if (this.opts.admit) this.opts.gossip.topicValidators.set(topic, (peer, msg) => this.admitThen(peer, msg));
    this.opts.gossip.subscribe(topic);
    this.opts.logger.debug('joined topic', { topic, raw });
  }

  /** Leaves a dynamic topic (idempotent). The static topics stay joined. */
  leave(topic: string): void {
    if (STATIC_TOPICS.includes(topic)) throw new UsageError(`${topic} is a static topic and cannot be left`);
    this.leaveTopic(topic);
  }

  private leaveTopic(topic: string): void {
    if (!this.joined.delete(topic)) return;
    this.opts.gossip.unsubscribe(topic);
    this.opts.gossip.topicValidators.delete(topic);
  }

  /** Joins the role, expertise and hierarchy topics for this agent (as JoinRoleBasedTopics). */
  joinRoleTopics(role: string, expertise: string[], reportsTo: string[]): string[] {
    const topics = [topicFor.role(role), ...expertise.map(topicFor.expertise), ...reportsTo.map(topicFor.hierarchy)];
    for (const t of topics) this.join(t);
    return topics;
  }

  /** Subscribers of `topic` this node can send to now (their SUBSCRIBE seen and our stream open). */
  reachableSubscribers(topic: string): number {
    return reachableSubscribers(this.opts.gossip, topic);
  }

  /** The same subscribers by peer ID. */
  reachableSubscriberIds(topic: string): string[] {
    return reachableSubscriberIds(this.opts.gossip, topic);
  }

  topics(): { topic: string; raw: boolean; family: string; peers: number }[] {
    return [...this.joined].map(([topic, { raw }]) => ({
      topic,
      raw,
      family: topicFamily(topic),
      peers: this.opts.gossip.getSubscribers(topic).length,
    }));
  }

  /** Publishes a typed message in the CHORUS envelope. */
  publish(type: string, data: Record<string, unknown>, opts: PublishOptions = {}): Promise<PublishReceipt> {
    return this.reportFailure(opts.topic ?? (isMessageType(type) ? defaultTopicFor(type) : ''), () =>
      this.publishEnvelope(type, data, opts),
    );
  }

  /** Runs a publish; a failure is also emitted as `publishError` (metrics) before it is rethrown. */
  private async reportFailure<T>(topic: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const { code, name } = err as { code?: unknown; name?: unknown };
      const reason =
        typeof code === 'string'
          ? code
          : name === 'TimeoutError'
            ? 'TIMEOUT'
            : name === 'AbortError'
              ? 'ABORTED'
              : 'ERROR';
      this.emit('publishError', { topic, code: reason });
      throw err;
    }
  }

  private async publishEnvelope(
    type: string,
    data: Record<string, unknown>,
    opts: PublishOptions,
  ): Promise<PublishReceipt> {
    const draft = buildEnvelope(type, this.selfId, data, { ...opts, fromRole: opts.fromRole ?? this.role });
    const topic = validateTopic(opts.topic ?? defaultTopicFor(draft.type));
    if (this.joined.get(topic)?.raw) throw new UsageError(`${topic} is a raw topic: publish with --raw`);
    const { value: clean, findings } = this.redact(draft.data, 'data', topic, draft.type);
    const envelope: Envelope = { ...draft, data: clean, ...(opts.ack ? { ack: true } : {}) };
    const receipt = await this.send(topic, encodeEnvelope(envelope), opts.signal);
    await this.recordOut('message_out', { topic, message_type: envelope.type, envelope, msg_id: receipt.msgId });
    return { ...receipt, type: envelope.type, redactions: findings };
  }

  /** Publishes a payload as-is (no envelope), after redaction. */
  publishRaw(topic: string, payload: unknown, opts: { signal?: AbortSignal } = {}): Promise<PublishReceipt> {
    return this.reportFailure(topic, () => this.publishRawNow(topic, payload, opts));
  }

  private async publishRawNow(
    topic: string,
    payload: unknown,
    opts: { signal?: AbortSignal },
  ): Promise<PublishReceipt> {
    validateTopic(topic);
    const { value, findings } = this.redact(payload, 'payload', topic, 'raw');
    const bytes = encoder.encode(typeof value === 'string' ? value : JSON.stringify(value));
    const receipt = await this.send(topic, bytes, opts.signal);
    await this.recordOut('raw_message', { direction: 'out', topic, payload: value, msg_id: receipt.msgId });
    return { ...receipt, redactions: findings };
  }

  /** Relays a received envelope onwards with hop_count + 1; refuses past the hop limit. */
  async relay(message: ReceivedMessage, topic = message.topic, signal?: AbortSignal): Promise<PublishReceipt> {
    if (!message.envelope) throw new UsageError('only envelope messages can be relayed');
    const hops = (message.envelope.hop_count ?? 0) + 1;
    if (hops > this.hopLimit) {
      throw new UsageError(`hop limit ${this.hopLimit} reached: message not relayed`, 'HOP_LIMIT');
    }
    const envelope: Envelope = { ...message.envelope, from: this.selfId, hop_count: hops };
    const receipt = await this.send(topic, encodeEnvelope(envelope), signal);
    await this.recordOut('message_out', { topic, message_type: envelope.type, envelope, relayed: true });
    return { ...receipt, type: envelope.type, redactions: 0 };
  }

  /**
   * Resolves once `min` peers (default 1) subscribed to the topic can be sent to, or throws
   * NoSubscribers after `waitMs` (default pubsub.meshWaitMs) — or as soon as this node has no peer it
   * could meet in that time (setPeerProspects).
   */
  async waitForSubscribers(
    topic: string,
    signal?: AbortSignal,
    waitMs = this.opts.meshWaitMs,
    min = 1,
  ): Promise<number> {
    const gossip = this.opts.gossip;
    const count = (): number => reachableSubscribers(gossip, topic);
    if (count() >= min) return count();
    const alone = (): boolean => !this.mayMeetPeers();
    if (alone()) throw new NoSubscribersError(topic, 0, true);
    if (waitMs <= 0) throw new NoSubscribersError(topic, 0);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const onChange = (): void => {
      if (count() >= min) resolve(count());
      else if (alone()) reject(new NoSubscribersError(topic, 0, true)); // its last connection or dial is gone
    };
    // a SUBSCRIBE can precede our outbound stream to that peer: re-check briefly until it opens
    const poll = setInterval(onChange, 20);
    const timer = setTimeout(() => reject(new NoSubscribersError(topic, waitMs)), waitMs);
    const onAbort = (): void => reject(signal?.reason ?? new Error('aborted'));
    gossip.addEventListener('subscription-change', onChange);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await promise;
    } finally {
      clearInterval(poll);
      clearTimeout(timer);
      gossip.removeEventListener('subscription-change', onChange);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async send(
    topic: string,
    bytes: Uint8Array,
    signal?: AbortSignal,
  ): Promise<Omit<PublishReceipt, 'redactions'>> {
    await this.waitForSubscribers(topic, signal);
    try {
      const result = await this.opts.gossip.publish(topic, bytes);
      return { topic, msgId: contentId(bytes), recipients: result.recipients.length };
    } catch (err) {
      if (describeError(err).includes('NoPeersSubscribedToTopic')) throw new NoSubscribersError(topic, 0);
      throw err;
    }
  }

  /**
   * Records a message this node sent and waits until its entry is in the log: a publish returns only after its
   * entry was written, in the one transaction and signature of its event-loop turn's batch.
   */
  private async recordOut(type: string, data: unknown): Promise<void> {
    const recorder = this.opts.recorder;
    if (!recorder) return;
    recorder.record(type, data);
    await recorder.written?.();
  }

  private redact<T>(value: T, location: string, topic: string, messageType: string): { value: T; findings: number } {
    const redactor = this.opts.redactor;
    if (!redactor) return { value, findings: 0 };
    const { value: clean, findings } = redactor.redactValue(value, location); // throws on deny rules
    for (const f of findings) {
      this.opts.recorder?.record('shhh_redaction', {
        rule: f.rule,
        severity: f.severity,
        tags: f.tags,
        location: f.location,
        sha256: f.sha256,
        topic,
        message_type: messageType,
      });
    }
    return { value: clean, findings: findings.length };
  }

  /**
   * Admission before anything else: a message whose author or relay holds no license for this
   * cluster is rejected (and counts against the relay's score), wherever it came from.
   */
  private admitThen(
    peer: PeerId,
    msg: GossipsubMessage['msg'],
    next?: (peer: PeerId, msg: GossipsubMessage['msg']) => TopicValidatorResult,
  ): TopicValidatorResult | Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject;
    const then = (): TopicValidatorResult => (next ? next.call(this, peer, msg) : TopicValidatorResult.Accept);
    const admit = this.opts.admit;
    if (!admit) return then();
    const author = authorId(msg.from);
    const relay = peer.toString();
    const checks = [admit(author), relay === author ? true : admit(relay)];
    const decide = (ok: boolean[]): TopicValidatorResult => {
      if (ok.every(Boolean)) return then();
      this.emit('dropped', { topic: msg.topic, reason: 'sender holds no license for this cluster', from: author });
      return TopicValidatorResult.Reject;
    };
    if (checks.every((c) => typeof c === 'boolean')) return decide(checks as boolean[]);
    return Promise.all(checks).then(decide, () => decide([false]));
  }

  /** GossipSub validator for envelope topics: malformed, forged or over-hopped messages never spread. */
  private validate(_peer: PeerId, msg: GossipsubMessage['msg']): TopicValidatorResult {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject;
    const parsed = parseEnvelope(msg.data);
    if (!parsed.ok) {
      this.emit('dropped', { topic: msg.topic, reason: parsed.reason, from: authorId(msg.from) });
      return TopicValidatorResult.Reject;
    }
    this.parsed.set(msg.data, parsed.envelope);
    if (parsed.envelope.from !== authorId(msg.from)) {
      this.emit('dropped', {
        topic: msg.topic,
        reason: 'envelope sender does not match the signature',
        from: authorId(msg.from),
      });
      return TopicValidatorResult.Reject;
    }
    if ((parsed.envelope.hop_count ?? 0) > this.hopLimit) {
      this.emit('dropped', {
        topic: msg.topic,
        reason: `hop_count ${parsed.envelope.hop_count} over limit ${this.hopLimit}`,
      });
      return TopicValidatorResult.Ignore;
    }
    return TopicValidatorResult.Accept;
  }

  private receive({ msg, msgId, propagationSource }: GossipsubMessage): void {
    if (msg.type !== 'signed') return;
    const from = authorId(msg.from);
    if (from === this.selfId) return; // own messages
    const entry = this.joined.get(msg.topic);
    if (!entry) return;
    const base = {
      topic: msg.topic,
      from,
      via: propagationSource.toString(),
      msgId: contentId(msg.data),
      gossipId: msgId,
      receivedAt: new Date().toISOString(),
    };
    if (entry.raw) {
      const text = decoder.decode(msg.data);
      let payload: unknown = text;
      try {
        payload = JSON.parse(text);
      } catch {
        // not JSON: deliver as text
      }
      this.opts.recorder?.record('raw_message', {
        direction: 'in',
        topic: msg.topic,
        from,
        payload,
        msg_id: base.msgId,
      });
      this.emit('message', { ...base, raw: true, payload });
      return;
    }
    let envelope = this.parsed.get(msg.data);
    if (!envelope) {
      const parsed = parseEnvelope(msg.data);
      if (!parsed.ok) return; // the validator already rejected it
      envelope = parsed.envelope;
    }
    if (!addressedTo(envelope, this.role)) {
      this.emit('skipped', { topic: msg.topic, msgId: base.msgId, toRoles: envelope.to_roles ?? [] });
      return;
    }
    this.opts.recorder?.record(envelope.type, {
      direction: 'in',
      topic: msg.topic,
      from,
      message_type: envelope.type,
      envelope,
      msg_id: base.msgId,
    });
    this.emit('message', { ...base, raw: false, envelope });
  }
}
