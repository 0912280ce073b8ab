// The CPU floor of one pubsub delivery on this machine: the work no implementation of "every message signed,
// strictly verified, over Noise" can skip — one Ed25519 verification of the signed message, one ChaCha20-Poly1305
// decryption and one encryption of its frame, its message id (SHA-256) — plus the publisher's signature, and the
// highest message rate that allows with N receivers on every core of the machine. Used by
// scripts/bench-delivery-floor.ts and by the pubsub benchmark, which prints its throughput against it.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { availableParallelism } from 'node:os';

/** A 1 KiB payload in the CHORUS envelope, as the pubsub benchmark sends it. */
export const FLOOR_MESSAGE_BYTES = 1321;

export interface DeliveryFloor {
  messageBytes: number;
  iterations: number;
  cores: number;
  /** µs per operation */
  costs: Record<'Ed25519 verify' | 'ChaCha20-Poly1305 open' | 'ChaCha20-Poly1305 seal' | 'SHA-256 message id', number>;
  perDeliveryUs: number;
  publishSignUs: number;
}

export function measureDeliveryFloor(iterations = 20_000): DeliveryFloor {
  const perOpMicros = (fn: () => void): number => {
    for (let i = 0; i < Math.min(2000, iterations); i++) fn(); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    return Number(process.hrtime.bigint() - start) / 1000 / iterations;
  };
  const message = randomBytes(FLOOR_MESSAGE_BYTES);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signature = sign(null, message, privateKey);
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const seal = (): Buffer => {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    return Buffer.concat([c.update(message), c.final(), c.getAuthTag()]);
  };
  const sealed = seal();
  const costs: DeliveryFloor['costs'] = {
    'Ed25519 verify': perOpMicros(() => {
      if (!verify(null, message, publicKey, signature)) throw new Error('signature did not verify');
    }),
    'ChaCha20-Poly1305 open': perOpMicros(() => {
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      d.update(sealed.subarray(0, sealed.length - 16));
      d.final();
    }),
    'ChaCha20-Poly1305 seal': perOpMicros(seal),
    'SHA-256 message id': perOpMicros(() => createHash('sha256').update(message).digest()),
  };
  return {
    messageBytes: FLOOR_MESSAGE_BYTES,
    iterations,
    cores: availableParallelism(),
    costs,
    perDeliveryUs: Object.values(costs).reduce((a, b) => a + b, 0),
    publishSignUs: perOpMicros(() => sign(null, message, privateKey)),
  };
}

/** The highest message rate the floor allows with `receivers` deliveries per message on all cores. */
export function floorCeiling(floor: DeliveryFloor, receivers: number): number {
  return (floor.cores * 1e6) / (receivers * floor.perDeliveryUs + floor.publishSignUs);
}
