// The CPU floor of one pubsub delivery on this machine: the work no implementation of "every message
// signed, strictly verified, over Noise" can skip: one Ed25519 verification of the signed message,
// one ChaCha20-Poly1305 decryption and one encryption of its frame, and its message id (SHA-256).
// Prints each cost and the highest message rate the floor allows for the pubsub bench's two setups
// (measured by src/bench/pubsub/floor.ts, which the pubsub benchmark also runs).
// Usage: node scripts/bench-delivery-floor.ts [iterations]
import { cpus } from 'node:os';
import { floorCeiling, measureDeliveryFloor } from '../src/bench/pubsub/floor.ts';

const floor = measureDeliveryFloor(Number(process.argv[2] ?? 20_000));
const { costs, perDeliveryUs, publishSignUs, cores } = floor;

console.log(
  `delivery floor — ${floor.messageBytes}-byte signed messages, ${floor.iterations} iterations, ${cpus()[0]?.model ?? 'cpu'} × ${cores}`,
);
for (const [name, us] of Object.entries(costs)) console.log(`  ${name.padEnd(24)} ${us.toFixed(1).padStart(7)} µs`);
console.log(`  ${'per delivery (sum)'.padEnd(24)} ${perDeliveryUs.toFixed(1).padStart(7)} µs`);
console.log(`  ${'Ed25519 sign (publish)'.padEnd(24)} ${publishSignUs.toFixed(1).padStart(7)} µs`);
for (const { setup, receivers } of [
  { setup: '10 nodes in one process', receivers: 9 },
  { setup: '5 processes', receivers: 4 },
]) {
  const perMessage = receivers * perDeliveryUs + publishSignUs;
  console.log(
    `  ${setup}: ${receivers} deliveries per message → at most ${Math.round(floorCeiling(floor, receivers)).toLocaleString('en')} msg/s on ${cores} cores with nothing else to do (5,000 needs ${((5000 * perMessage) / 1e6).toFixed(2)} core-s/s)`,
  );
}
