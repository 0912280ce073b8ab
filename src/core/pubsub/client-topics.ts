// Topics a node joins on behalf of API clients (`chorus subscribe`, the portal's rooms), counted per topic so
// that one client leaving never leaves a topic another client (or the node itself) still follows.
import type { ChorusPubSub } from './pubsub.ts';
import { STATIC_TOPICS } from './topics.ts';

export class ClientTopics {
  readonly #pubsub: Pick<ChorusPubSub, 'join' | 'leave' | 'topics'>;
  /** Topics joined for clients, with how many clients still want each. */
  readonly #held = new Map<string, number>();

  constructor(pubsub: Pick<ChorusPubSub, 'join' | 'leave' | 'topics'>) {
    this.#pubsub = pubsub;
  }

  /** Joins the topics for one client; the returned function releases them (once). */
  hold(topics: readonly string[], opts: { raw?: boolean } = {}): () => void {
    const joinedHere: string[] = [];
    const before = new Set(this.#pubsub.topics().map((t) => t.topic));
    for (const t of new Set(topics)) {
      this.#pubsub.join(t, opts.raw ? { raw: true } : {});
      if (!before.has(t) || this.#held.has(t)) {
        joinedHere.push(t);
        this.#held.set(t, (this.#held.get(t) ?? 0) + 1);
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const t of joinedHere) {
        const left = (this.#held.get(t) ?? 1) - 1;
        if (left > 0) this.#held.set(t, left);
        else {
          this.#held.delete(t);
          if (!STATIC_TOPICS.includes(t)) this.#pubsub.leave(t);
        }
      }
    };
  }
}
