// The CPU floor of one pubsub delivery on this machine: the work no implementation of "every message
// signed, strictly verified, over Noise" can skip: one Ed25519 verification of the signed message,
// one ChaCha20-Poly1305 decryption and one encryption of its frame, and its message id (SHA-256).
// Prints each cost and the highest message rate the floor allows for the pubsub bench's two setups.
// Usage: node scripts/bench-delivery-floor.ts [iterations]
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';

const iterations = Number(process.argv[2] ?? 20_000);
const MESSAGE_BYTES = 1321; // a 1 KiB payload in the CHORUS envelope, as `chorus bench pubsub` sends it

function perOpMicros(fn: () => void): number {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

const message = randomBytes(MESSAGE_BYTES);
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signature = sign(null, message, privateKey);
const key = randomBytes(32);
const nonce = Buffer.alloc(12);
const seal = (): Buffer => {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  return Buffer.concat([c.update(message), c.final(), c.getAuthTag()]);
};
const sealed = seal();

const costs = {
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
const publishSign = perOpMicros(() => sign(null, message, privateKey));
const perDelivery = Object.values(costs).reduce((a, b) => a + b, 0);
const cores = availableParallelism();

console.log(
  `delivery floor — ${MESSAGE_BYTES}-byte signed messages, ${iterations} iterations, ${cpus()[0]?.model ?? 'cpu'} × ${cores}`,
);
for (const [name, us] of Object.entries(costs)) console.log(`  ${name.padEnd(24)} ${us.toFixed(1).padStart(7)} µs`);
console.log(`  ${'per delivery (sum)'.padEnd(24)} ${perDelivery.toFixed(1).padStart(7)} µs`);
console.log(`  ${'Ed25519 sign (publish)'.padEnd(24)} ${publishSign.toFixed(1).padStart(7)} µs`);
for (const { setup, receivers } of [
  { setup: '10 nodes in one process', receivers: 9 },
  { setup: '5 processes', receivers: 4 },
]) {
  const perMessage = receivers * perDelivery + publishSign;
  const ceiling = (cores * 1e6) / perMessage;
  console.log(
    `  ${setup}: ${receivers} deliveries per message → at most ${Math.round(ceiling).toLocaleString('en')} msg/s on ${cores} cores with nothing else to do (5,000 needs ${((5000 * perMessage) / 1e6).toFixed(2)} core-s/s)`,
  );
}
