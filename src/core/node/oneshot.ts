// One-shot publishing for CI runners without a daemon: an ephemeral node joins the given peers,
// waits for the mesh, publishes, and waits until enough peers acknowledge delivery.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PublishRequest } from '../api/protocol.ts';
import type { ChorusConfig } from '../config/schema.ts';
import { describeError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { Admission } from '../license/admission.ts';
import { resolveNodeLicense } from '../license/startup.ts';
import { createHost } from '../p2p/host.ts';
import { loadOrCreateIdentity } from '../p2p/identity.ts';
import { signerFor } from '../p2p/signer.ts';
import { parseBootstrap } from '../p2p/join.ts';
import { AckService } from '../pubsub/ack.ts';
import { NotConfirmedError } from '../pubsub/errors.ts';
import { defaultTopicFor, isMessageType } from '../pubsub/messages.ts';
import { ChorusPubSub, type PublishReceipt } from '../pubsub/pubsub.ts';
import { Redactor } from '../shhh/redactor.ts';
import { publishRequest } from './routes.ts';

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
  const gate: { admission?: Admission } = {};
  const libp2p = await createHost({
    privateKey,
    denyPeer: (peer) => gate.admission?.isDenied(peer) ?? false,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    maxConnections: 64,
    maxPeersPerIp: 64,
    inboundPerSecond: 64,
    gossip: { heartbeatInterval: 200 },
  });
  const pubsub = new ChorusPubSub({
    gossip: libp2p.services.pubsub,
    selfId: libp2p.peerId,
    role: opts.config.agent.role,
    hopLimit: opts.config.pubsub.hopLimit,
    meshWaitMs: opts.timeoutMs,
    logger: opts.logger.child('pubsub'),
    redactor: new Redactor({ rules: opts.config.shhh.rules }),
    admit: (peer) => admission.isAdmitted(peer) || admission.awaitAdmission(peer),
  });
  const admission = new Admission({
    libp2p,
    signer: signerFor(privateKey),
    credential,
    authorities: license.authorities,
    clusterId: license.clusterId,
    handshakeTimeoutMs: opts.config.license.handshakeTimeoutMs,
    logger: opts.logger.child('admission'),
  });
  gate.admission = admission;
  const acks = new AckService(libp2p, pubsub, opts.logger.child('ack'));
  try {
    await admission.start();
    await acks.start();
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
    const receipt = await publishRequest({ pubsub }, opts.request, { ack: opts.confirm > 0, signal: deadline });
    const remaining = Math.max(1, opts.timeoutMs - (Date.now() - started));
    const confirmedBy =
      opts.confirm > 0 ? await acks.waitForAcks(receipt.msgId, opts.confirm, remaining, opts.signal) : [];
    return { ...receipt, confirmedBy, elapsedMs: Date.now() - started };
  } catch (err) {
    if (deadline.aborted && !opts.signal.aborted && !(err instanceof NotConfirmedError)) {
      throw new NotConfirmedError(`publish not confirmed within ${opts.timeoutMs} ms: ${describeError(err)}`);
    }
    throw err;
  } finally {
    await acks.stop().catch(() => {});
    await admission.stop().catch(() => {});
    await Promise.resolve(libp2p.stop()).catch(() => {});
  }
}
