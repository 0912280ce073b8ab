// One-shot publishing for CI runners without a daemon: the node's network core (assembly.ts) with the
// one-shot profile — an ephemeral identity where this host can certify one (else the enrolled node's), no
// data-dir stores — joins the given peers, waits for the
// mesh, publishes, and waits until enough peers acknowledge delivery. A join peer that fails admission
// (a cluster of another authority) ends it at once, with the reason.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PublishRequest } from '../api/protocol.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { RecordNamespaces } from '../dht/namespaces.ts';
import { describeError, UsageError } from '../errors.ts';
import type { Admission } from '../license/admission.ts';
import { resolveNodeLicense } from '../license/startup.ts';
import { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../log.ts';
import { loadOrCreateIdentity } from '../p2p/identity.ts';
import { parseBootstrap, peerOf } from '../p2p/join.ts';
import { NotConfirmedError } from '../pubsub/errors.ts';
import { defaultTopicFor, isMessageType } from '../pubsub/messages.ts';
import type { PublishReceipt } from '../pubsub/pubsub.ts';
import { publishRequest } from '../pubsub/routes.ts';
import { Redactor } from '../shhh/redactor.ts';
import { oneShotProfile, startNetwork } from './assembly.ts';

export interface OneShotOptions {
  config: ChorusConfig;
  logger: Logger;
  join: string[];
  request: PublishRequest;
  confirm: number;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface OneShotResult extends PublishReceipt {
  confirmedBy: string[];
  elapsedMs: number;
}

/** Admission refusals of the --join peers: what they were, and a promise that rejects once all were refused. */
function joinRefusals(admission: Admission, peers: string[]): { reasons: Map<string, string>; all: Promise<never> } {
  const reasons = new Map<string, string>();
  const all = Promise.withResolvers<never>();
  all.promise.catch(() => {}); // observed by the race below, or not at all
  admission.on('refused', ({ peerId, reason }) => {
    if (!peers.includes(peerId)) return;
    reasons.set(peerId, reason);
    if (reasons.size === peers.length) all.reject(new NotConfirmedError(`not admitted: ${describeRefusals(reasons)}`));
  });
  return { reasons, all: all.promise };
}

function describeRefusals(reasons: Map<string, string>): string {
  return [...reasons].map(([peer, reason]) => `--join peer ${peer} failed admission (${reason})`).join('; ');
}

export async function publishOnce(opts: OneShotOptions): Promise<OneShotResult> {
  const started = Date.now();
  const addrs = parseBootstrap(opts.join);
  if (opts.request.raw && opts.confirm > 0) {
    throw new UsageError('raw payloads carry no envelope to request receipts: use --confirm 0 with --raw --join');
  }
  const license = resolveNodeLicense(opts.config); // no license, no socket
  const deadline = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  // a fresh key when this host can certify one (dev, licensee key); else the enrolled node's own key
  const privateKey = license.selfEnrols
    ? await generateKeyPair('Ed25519')
    : (await loadOrCreateIdentity(opts.config.dataDir)).privateKey;
  const credential = license.credentialFor(peerIdFromPrivateKey(privateKey).toString());
  const life = new Lifecycle();
  let refusals: Map<string, string> | undefined;
  try {
    const { libp2p, admission, pubsub, acks } = await startNetwork(life, {
      config: opts.config,
      logger: opts.logger,
      license,
      credential,
      privateKey,
      profile: oneShotProfile(opts.timeoutMs),
      namespaces: new RecordNamespaces(),
      redactor: new Redactor({ rules: opts.config.shhh.rules }),
    });
    const refused = joinRefusals(admission, addrs.map(peerOf));
    refusals = refused.reasons;
    const publish = async (): Promise<OneShotResult> => {
      const dials = await Promise.allSettled(addrs.map((a) => libp2p.dial(a, { signal: deadline })));
      const failures = dials.filter((d) => d.status === 'rejected');
      if (failures.length === dials.length) {
        throw new NotConfirmedError(
          `could not reach any --join peer: ${describeError((failures[0] as PromiseRejectedResult).reason)}`,
        );
      }
      const topic =
        opts.request.topic ??
        (opts.request.type && isMessageType(opts.request.type) ? defaultTopicFor(opts.request.type) : '');
      if (topic) await pubsub.waitForSubscribers(topic, deadline, opts.timeoutMs);
      const receipt = await publishRequest(pubsub, opts.request, { ack: opts.confirm > 0, signal: deadline });
      const remaining = Math.max(1, opts.timeoutMs - (Date.now() - started));
      const confirmedBy =
        opts.confirm > 0 ? await acks.waitForAcks(receipt.msgId, opts.confirm, remaining, opts.signal) : [];
      return { ...receipt, confirmedBy, elapsedMs: Date.now() - started };
    };
    return await Promise.race([publish(), refused.all]);
  } catch (err) {
    if (deadline.aborted && !opts.signal.aborted && !(err instanceof NotConfirmedError)) {
      const why = refusals?.size ? describeRefusals(refusals) : describeError(err);
      throw new NotConfirmedError(`publish not confirmed within ${opts.timeoutMs} ms: ${why}`);
    }
    throw err;
  } finally {
    await life.stop();
  }
}
