// Tests for src/core/p2p/verify-offload.ts: pubsub signature checks on a worker thread give node:crypto's
// verdicts (a forged or altered message is refused); copies of one message share a check; a stopped or crashed
// worker hands its checks back to the event loop; no worker starts without an idle core, while the event loop
// has room, or on a window the checks paused in; and on real GossipSub hosts a message's signature is checked by
// the worker when the offload runs.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { GossipsubMessage } from '@libp2p/gossipsub';
import { rawPublicKey } from '../../src/core/crypto/ed25519.ts';
import { setPubsubSignatureOffload } from '../../src/core/p2p/key-objects.ts';
import { SignatureOffload } from '../../src/core/p2p/verify-offload.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';
import { until } from '../helpers/poll.ts';

function author(): { raw: Uint8Array; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { raw: rawPublicKey(publicKey), privateKey };
}

const inline = (key: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean =>
  verify(
    null,
    data,
    { key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key).toString('base64url') }, format: 'jwk' },
    sig,
  );

/** An offload that starts its worker at the first check (an idle core and a busy loop reported, no rate needed). */
function eager(idleCores = 2, loopUtilization = 1): SignatureOffload {
  return new SignatureOffload({
    verifyInline: inline,
    startPerSecond: 0,
    windowMs: 0,
    idleCores: () => idleCores,
    loopUtilization: () => loopUtilization,
  });
}

/** Runs `fn` with an eager offload, stopped afterwards. */
async function withEager(fn: (offload: SignatureOffload) => Promise<void>): Promise<void> {
  const offload = eager();
  try {
    await fn(offload);
  } finally {
    await offload.stop();
  }
}

const data = (text: string): Uint8Array => new TextEncoder().encode(`libp2p-pubsub:${text}`);

describe('pubsub signature checks on a worker thread', () => {
  test("the worker's verdicts are node:crypto's: valid, altered, another author's key, another signature", async () =>
    withEager(async (offload) => {
      const [a, b] = [author(), author()];
      const message = data('a message');
      const sig = sign(null, message, a.privateKey);
      const altered = data('a messagE');
      const checks = [
        offload.verify(a.raw, message, sig),
        offload.verify(a.raw, altered, sig),
        offload.verify(b.raw, message, sig),
        offload.verify(a.raw, message, sign(null, message, b.privateKey)),
      ];
      assert.ok(
        checks.every((c) => c instanceof Promise),
        'every check went to the worker',
      );
      assert.deepEqual(await Promise.all(checks), [true, false, false, false]);
      assert.equal(offload.offloaded, 4);
    }));

  test('copies of one message share one check; a copy with other bytes under the same signature does not', async () =>
    withEager(async (offload) => {
      const a = author();
      const message = data('relayed by three peers');
      const sig = sign(null, message, a.privateKey);
      const copies = [0, 1, 2].map(() => offload.verify(a.raw, Buffer.from(message), Buffer.from(sig)));
      const forged = offload.verify(a.raw, data('relayed by three peerz'), sig);
      assert.deepEqual(await Promise.all([...copies, forged]), [true, true, true, false]);
      assert.equal(offload.offloaded, 2, 'one check for the three copies, one for the forged bytes');
    }));

  test("bytes changed in the caller's buffer after a check went out do not ride on that check", async () =>
    withEager(async (offload) => {
      const a = author();
      const buffer = Buffer.from(data('the genuine message'));
      const sig = sign(null, buffer, a.privateKey);
      const genuine = offload.verify(a.raw, buffer, sig);
      await new Promise<void>((resolve) => queueMicrotask(resolve)); // the check is on its way to the worker
      buffer.write('forged', 'libp2p-pubsub:the '.length); // the caller reuses its buffer for other bytes
      const forged = offload.verify(a.raw, buffer, sig);
      assert.deepEqual(await Promise.all([genuine, forged]), [true, false]);
    }));

  test('checks still held by a stopped worker are verified on the event loop', async () => {
    const offload = eager();
    const a = author();
    const messages = Array.from({ length: 200 }, (_, i) => data(`message ${i}`));
    const checks = messages.map((m, i) =>
      offload.verify(a.raw, m, sign(null, i % 2 ? data('not this one') : m, a.privateKey)),
    );
    await offload.stop();
    const verdicts = await Promise.all(checks);
    assert.deepEqual(
      verdicts,
      messages.map((_, i) => i % 2 === 0),
    );
    assert.ok(offload.offloaded < 200, 'some checks were answered after the worker stopped');
    assert.equal(offload.running, false);
    assert.equal(offload.verify(a.raw, messages[0]!, sign(null, messages[0]!, a.privateKey)) instanceof Promise, true);
    await offload.stop();
  });

  test('no worker starts while the machine has no idle core', async () => {
    const offload = eager(0.5);
    const a = author();
    const message = data('busy machine');
    for (let i = 0; i < 5; i++)
      assert.equal(offload.verify(a.raw, message, sign(null, message, a.privateKey)), undefined);
    assert.equal(offload.running, false);
  });

  test('no worker starts while the event loop has room; one starts once the loop is busy', async () => {
    let utilization = 0.3;
    const offload = new SignatureOffload({
      verifyInline: inline,
      startPerSecond: 0,
      windowMs: 0,
      idleCores: () => 2,
      loopUtilization: () => utilization,
    });
    const a = author();
    const message = data('a loop with room');
    const signature = sign(null, message, a.privateKey);
    try {
      for (let i = 0; i < 5; i++) assert.equal(offload.verify(a.raw, message, signature), undefined);
      assert.equal(offload.running, false, 'the loop verifies its own checks');
      utilization = 0.6;
      const check = offload.verify(a.raw, message, signature);
      assert.equal(offload.running, true);
      assert.ok(check instanceof Promise, 'the check that started it goes to the worker');
      assert.equal(await check, true);
    } finally {
      await offload.stop();
    }
  });

  test('a window that lasted over twice its length (a burst, then quiet) starts no worker', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const offload = new SignatureOffload({
      verifyInline: inline,
      startPerSecond: 10,
      windowMs: 100,
      idleCores: () => 2,
      loopUtilization: () => 1,
    });
    const a = author();
    const message = data('a burst, then quiet');
    const signature = sign(null, message, a.privateKey);
    try {
      for (let i = 0; i < 50; i++) offload.verify(a.raw, message, signature); // a burst, within the first window
      t.mock.timers.tick(250);
      offload.verify(a.raw, message, signature); // 51 checks in 250 ms: 204 a second on average, but not steady
      assert.equal(offload.running, false, 'a stale window starts nothing');
      t.mock.timers.tick(100);
      offload.verify(a.raw, message, signature); // one check in a window of its own length: 10 a second, steady
      assert.equal(offload.running, true, 'a steady window at the start rate starts it');
    } finally {
      await offload.stop();
    }
  });
});

describe('GossipSub with the offload running', () => {
  const started: PlainHost[] = [];
  const offload = eager();
  after(async () => {
    setPubsubSignatureOffload(undefined);
    await offload.stop();
    await Promise.all(started.map((h) => h.stop()));
  });

  test("a message's signature is checked by the worker, and the message delivered", async () => {
    const TOPIC = 'CHORUS/test/offload/v1';
    const [a, b] = await plainHosts(2);
    started.push(a!, b!);
    setPubsubSignatureOffload(offload);
    await a!.host.dial(b!.host.getMultiaddrs()[0]!);
    for (const h of [a!, b!]) h.host.services.pubsub.subscribe(TOPIC);
    const idB = b!.host.peerId.toString();
    await until('A knows B subscribed', () =>
      a!.host.services.pubsub.getSubscribers(TOPIC).some((p) => p.toString() === idB),
    );
    const received: string[] = [];
    b!.host.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) =>
      received.push(new TextDecoder().decode(evt.detail.msg.data)),
    );
    const before = offload.offloaded;
    await a!.host.services.pubsub.publish(TOPIC, new TextEncoder().encode('checked off the event loop'));
    await until('B received the message', () => received.includes('checked off the event loop'));
    assert.ok(offload.offloaded > before, 'the receiver checked the signature on the worker');
  });
});
