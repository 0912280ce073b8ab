// The texts a redactor last found clean, so that the same text is not scanned again under the same rules. A
// message is scanned more than once on its way: a publish redacts its data, and the event log's entry for it is
// redacted again (the whole entry, the same data inside); each scan runs every rule's regular expression over the
// text (~20–40 µs for 1 KiB). A text that matched no rule matches none the next time, so a set lookup (one hash of
// the text) answers for it. Only texts long enough for that to pay are kept, and never more than a bounded number of
// characters; the set starts empty again whenever the rules change.

/** Shorter texts are scanned again: their scan costs little, and there are many of them. */
const MIN_CHARS = 256;
/** Longer texts are not kept: one would take much of the budget. */
const MAX_CHARS = 64 * 1024;
/** Characters kept at most, over all texts (~1 MiB of one-byte strings). */
const BUDGET_CHARS = 1024 * 1024;

export class CleanTexts<Rules> {
  private rules: Rules | undefined;
  /** In the order they were kept: the oldest go first. */
  private readonly texts = new Set<string>();
  private chars = 0;

  /** True when `text` was found clean under these `rules` (the same object) and is still kept. */
  has(text: string, rules: Rules): boolean {
    if (rules !== this.rules || text.length < MIN_CHARS || text.length > MAX_CHARS) return false;
    return this.texts.has(text);
  }

  /** Keeps `text`, found clean under `rules`; a change of rules drops what was kept under the earlier ones. */
  add(text: string, rules: Rules): void {
    if (text.length < MIN_CHARS || text.length > MAX_CHARS) return;
    if (rules !== this.rules) {
      this.rules = rules;
      this.texts.clear();
      this.chars = 0;
    }
    if (this.texts.has(text)) return;
    this.texts.add(text);
    this.chars += text.length;
    for (const oldest of this.texts) {
      if (this.chars <= BUDGET_CHARS) break;
      this.texts.delete(oldest);
      this.chars -= oldest.length;
    }
  }
}
