// The built-in health checks: "peers" (at least one connected peer), "pubsub" (a probe published on
// the probe topic comes back echoed by a peer) and "dht" (a signed probe record is PUT to the closest
// peers of the Kademlia routing table and read back). Also the echo responder every node with ops runs.
import { randomBytes } from 'node:crypto';
import type { DirectReplicas } from '../dht/direct.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import type { Signer } from '../p2p/signer.ts';
import type { ChorusPubSub, ReceivedMessage } from '../pubsub/pubsub.ts';
import type { HealthCheck } from './checks.ts';
import { decodeProbe, encodeProbe, probeKey } from './probe-record.ts';

/** Raw topic of the pubsub probe: {probe: "ping", id, echo: [peer…]} and {probe: "pong", id, to}. */
export const PROBE_TOPIC = 'CHORUS/ops/probe/v1';
/** Peers asked to echo one ping (any one answer passes; several, so one dead peer does not fail it). */
const ECHOERS = 3;

interface ProbeMessage {
  probe?: unknown;
  id?: unknown;
  echo?: unknown;
  to?: unknown;
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Answers pings naming this node. Returns a function that stops answering. */
export function startEchoResponder(pubsub: ChorusPubSub): () => void {
  pubsub.join(PROBE_TOPIC, { raw: true });
  const self = pubsub.selfId;
  const onMessage = (m: ReceivedMessage): void => {
    if (m.topic !== PROBE_TOPIC) return;
    const p = m.payload as ProbeMessage | undefined;
    if (p?.probe !== 'ping' || typeof p.id !== 'string' || !Array.isArray(p.echo) || !p.echo.includes(self)) return;
    void pubsub
      .publishRaw(PROBE_TOPIC, { probe: 'pong', id: p.id, to: m.from }, { signal: AbortSignal.timeout(5000) })
      .catch(() => {});
  };
  pubsub.on('message', onMessage);
  return () => {
    pubsub.off('message', onMessage);
    pubsub.leave(PROBE_TOPIC);
  };
}

export function peersCheck(libp2p: ChorusLibp2p, bootstrap: () => string[]): HealthCheck {
  return {
    name: 'peers',
    critical: true,
    run: async () => {
      const peers = libp2p.getPeers().length;
      if (peers > 0) return `${peers} peer(s) connected`;
      const boot = bootstrap();
      throw new Error(
        boot.length
          ? `no peers connected (none of ${boot.length} bootstrap peer(s) reachable)`
          : 'no peers connected and no bootstrap peers configured',
      );
    },
  };
}

export function pubsubCheck(pubsub: ChorusPubSub, libp2p: ChorusLibp2p): HealthCheck {
  return {
    name: 'pubsub',
    critical: true,
    run: async (signal) => {
      const candidates = libp2p.services.pubsub.getSubscribers(PROBE_TOPIC).map(String);
      if (candidates.length === 0) throw new Error(`no peer subscribed to ${PROBE_TOPIC}`);
      const echo = shuffled(candidates).slice(0, ECHOERS);
      const id = randomBytes(12).toString('hex');
      const started = performance.now();
      const { promise, resolve, reject } = Promise.withResolvers<string>();
      // an abort while the ping is still being published rejects it before anything awaits it: the publish's own
      // error is what the check reports then, and this rejection must not go unhandled
      promise.catch(() => {});
      const onMessage = (m: ReceivedMessage): void => {
        const p = m.payload as ProbeMessage | undefined;
        if (m.topic === PROBE_TOPIC && p?.probe === 'pong' && p.id === id && p.to === pubsub.selfId) resolve(m.from);
      };
      const onAbort = (): void => reject(new Error(`no echo from ${echo.length} peer(s)`));
      pubsub.on('message', onMessage);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await pubsub.publishRaw(PROBE_TOPIC, { probe: 'ping', id, echo }, { signal });
        const by = await promise;
        return `echoed by ${by} in ${Math.round(performance.now() - started)} ms`;
      } finally {
        pubsub.off('message', onMessage);
        signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

/** The first of `attempts` to resolve with a value; undefined once all failed. */
function firstValue<T>(attempts: Promise<T | undefined>[]): Promise<T | undefined> {
  return new Promise((resolve) => {
    let pending = attempts.length;
    if (pending === 0) resolve(undefined);
    for (const a of attempts) {
      void a.then(
        (v) => (v !== undefined ? resolve(v) : --pending === 0 && resolve(undefined)),
        () => --pending === 0 && resolve(undefined),
      );
    }
  });
}

/**
 * Puts the node's signed probe record to the peers the Kademlia routing table names as closest to its
 * key, in parallel (so one dead peer cannot fail the check), and reads it back from one that stored it:
 * the same one-hop replica path decision writes and reads take. Without replica access it uses the
 * iterative kad-dht put/get.
 */
export function dhtCheck(libp2p: ChorusLibp2p, signer: Signer, replicas?: DirectReplicas): HealthCheck {
  const self = libp2p.peerId.toString();
  return {
    name: 'dht',
    critical: true,
    run: async (signal) => {
      const nonce = randomBytes(12).toString('hex');
      const key = probeKey(self);
      const value = encodeProbe(self, nonce, Date.now(), signer.sign);
      if (!replicas) return kadRoundTrip(libp2p, key, value, nonce, signal);
      const peers = replicas
        .replicaSet(key, ECHOERS + 1)
        .filter((p) => p !== self)
        .slice(0, ECHOERS);
      if (peers.length === 0) throw new Error('no peers in the DHT routing table');
      const holder = await firstValue(
        peers.map(async (p) => ((await replicas.putTo(p, key, value, signal)) ? p : undefined)),
      );
      if (!holder) throw new Error(`none of ${peers.length} closest peer(s) stored the probe record`);
      const answer = await replicas.getFrom(holder, key, signal);
      if (!answer?.value) throw new Error(`${holder} stored the probe record but did not return it`);
      if (decodeProbe(answer.value).nonce !== nonce) throw new Error(`${holder} returned a stale probe record`);
      return `stored on ${holder}, read back from ${holder}`;
    },
  };
}

async function kadRoundTrip(
  libp2p: ChorusLibp2p,
  key: Uint8Array,
  value: Uint8Array,
  nonce: string,
  signal: AbortSignal,
): Promise<string> {
  const self = libp2p.peerId.toString();
  const dht = libp2p.services.dht;
  let stored: string | undefined;
  const stopPut = new AbortController();
  try {
    for await (const e of dht.put(key, value, { signal: AbortSignal.any([signal, stopPut.signal]) })) {
      if (e.name === 'PEER_RESPONSE' && e.messageName === 'PUT_VALUE' && e.record) {
        stored = e.from.toString();
        break;
      }
    }
  } catch (err) {
    if (!stored) throw err;
  } finally {
    stopPut.abort();
  }
  if (!stored) throw new Error('no peer stored the probe record');
  const stopGet = new AbortController();
  try {
    for await (const e of dht.get(key, { signal: AbortSignal.any([signal, stopGet.signal]) })) {
      if (e.name !== 'PEER_RESPONSE' || e.messageName !== 'GET_VALUE' || !e.record) continue;
      if (e.from.toString() === self) continue;
      try {
        if (decodeProbe(e.record.value).nonce === nonce) return `stored on ${stored}, read back from ${e.from}`;
      } catch {
        // an invalid answer never counts
      }
    }
  } finally {
    stopGet.abort();
  }
  throw new Error('the probe record was not read back from any peer');
}
