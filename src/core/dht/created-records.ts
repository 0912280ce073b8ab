// The records peers' creates stored on this node (kad-direct's 'creates'), remembered for a while: the peer that
// sent a create, and only it, may take its record back ('retract') within RETRACT_MS, while the same bytes are held
// (its create did not take on every replica). Bounded: the oldest are forgotten first.
import { createHash } from 'node:crypto';

/** How long the peer that created a record may take it back, and how many such records are remembered. */
const RETRACT_MS = 30_000;
const MAX_REMEMBERED = 4096;

const digestOf = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

export class CreatedRecords {
  /** DHT key (base64) → the peer whose create stored it, a digest of the bytes, until when; oldest first. */
  private readonly byKey = new Map<string, { peer: string; digest: Buffer; until: number }>();

  /** `peer`'s create stored `value` under each of `keys` (base64) just now. */
  note(keys: readonly string[], peer: string, value: Uint8Array): void {
    const now = Date.now();
    for (const [key, made] of this.byKey) {
      if (made.until > now && this.byKey.size < MAX_REMEMBERED) break;
      this.byKey.delete(key);
    }
    const digest = digestOf(value);
    for (const key of keys) {
      this.byKey.delete(key); // re-inserted last: the map stays oldest first
      this.byKey.set(key, { peer, digest, until: now + RETRACT_MS });
    }
  }

  /** True when `peer`'s create stored `value` under `key` within RETRACT_MS; it is forgotten then (once only). */
  take(key: string, peer: string, value: Uint8Array): boolean {
    const made = this.byKey.get(key);
    if (!made || made.peer !== peer || made.until < Date.now() || !made.digest.equals(digestOf(value))) return false;
    this.byKey.delete(key);
    return true;
  }
}
