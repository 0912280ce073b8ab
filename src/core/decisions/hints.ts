// Version hints: the newest version of each subject this node has heard of (its own writes and reads,
// and announcements by other nodes on the hints topic). A hint is hearsay: it only ever makes a node
// ask the network (a read that skips its local copy, a validator that checks the replicas before
// refusing an older record), never refuse on its own. Bounded in number (least recently heard go
// first) and expiring, so a flood of forged hints costs nothing lasting. A hint sent to a peer directly
// (encodeSignedHint) is taken only from an admitted node (readHintNote): the note arrives on that node's own
// connection, whose Noise handshake proved who sent it, so the hint's signature is not checked again here (it is
// still made, for receivers of earlier releases, which check it). A note carries the written record itself when
// that is small (HINT_RECORD_MAX), so that the peer's first read of the new version needs no replica (the record
// is verified like a replica's answer when a read uses it).
export interface VersionHintsOptions {
  /** Subjects remembered at most (default 10,000). */
  max?: number;
  /** A hint is forgotten this long after it was last raised (default 10 minutes). */
  ttlMs?: number;
  now?: () => number;
}

/** What announcements on the hints topic carry. */
export interface VersionHint {
  subject: string;
  version: number;
  hash: string;
}

/** A hint as it arrives from the network: anything that is not a sane {subject, version} is dropped. */
export function parseHint(payload: unknown): { subject: string; version: number } | undefined {
  const h = payload as { subject?: unknown; version?: unknown } | null | undefined;
  if (typeof h?.subject !== 'string' || h.subject.length === 0 || h.subject.length > 1024) return undefined;
  if (typeof h.version !== 'number' || !Number.isSafeInteger(h.version) || h.version < 1) return undefined;
  return { subject: h.subject, version: h.version };
}

/**
 * Who is told of a write's new version, and how: a signed note to every connected peer that did not store it
 * (`notes`), and the hints topic as well (`gossip`) when a cluster member this node knows of is neither
 * connected nor a holder — a note reaches connected peers only, GossipSub reaches the rest through the mesh.
 * A connected peer that writes and reads pass over now (`passedOver`: it stopped answering) gets no note, which
 * would wait out its deadline; it hears the hint on the topic, as a peer whose note went unanswered does.
 */
export function hintRoutes(p: {
  self: string;
  holders: readonly string[];
  connected: readonly string[];
  members: readonly string[];
  passedOver?: (peer: string) => boolean;
}): { notes: string[]; gossip: boolean } {
  const told = new Set([p.self, ...p.holders]);
  const connected = new Set(p.connected);
  const untold = [...connected].filter((peer) => !told.has(peer));
  const notes = p.passedOver ? untold.filter((peer) => !p.passedOver?.(peer)) : untold;
  return {
    notes,
    gossip: notes.length < untold.length || p.members.some((peer) => !told.has(peer) && !connected.has(peer)),
  };
}

/** The note kind of a signed hint sent peer to peer (DirectReplicas.noteTo). */
export const HINT_NOTE = 'decision-hint/1';

/** A written record up to this many bytes rides along with its hint note; a larger one is read from its replicas. */
export const HINT_RECORD_MAX = 64 * 1024;

/** A hint as a peer's note brought it: the record it names, when the note carried it (unverified bytes). */
export interface NotedHint extends VersionHint {
  record?: Uint8Array;
}

/** What a hint's signature covers: a domain tag, then the subject, version and record hash. */
function signedPart(h: VersionHint): Uint8Array {
  return new TextEncoder().encode(`chorus/decision-hint/1\n${h.subject}\n${h.version}\n${h.hash}`);
}

/**
 * A hint signed by this node, as sent to a peer; with the record's bytes (JSON text) when they are at most
 * HINT_RECORD_MAX. The record is signed by its author, so the hint's signature does not cover it. This release's
 * receivers rely on the connection instead (readHintNote); earlier releases verify the signature.
 */
export function encodeSignedHint(
  h: VersionHint,
  sign: (data: Uint8Array) => Uint8Array,
  record?: Uint8Array,
): Uint8Array {
  const signature = Buffer.from(sign(signedPart(h))).toString('base64');
  const attached = record && record.byteLength <= HINT_RECORD_MAX ? { record: new TextDecoder().decode(record) } : {};
  return new TextEncoder().encode(
    JSON.stringify({ subject: h.subject, version: h.version, hash: h.hash, signature, ...attached }),
  );
}

/**
 * A hint as a peer sent it on its own connection (`from`: the peer the connection authenticated): taken only
 * when `from` is an admitted node and the fields are sane; anything else is undefined. The signature a sender
 * adds is for receivers of earlier releases: the connection already proves the sender, and an admitted node that
 * lies would sign its lie. An attached record comes back as bytes, for the caller to verify.
 */
export function readHintNote(
  from: string,
  bytes: Uint8Array,
  isAdmitted: (author: string) => boolean,
): NotedHint | undefined {
  if (!isAdmitted(from)) return undefined;
  let raw: { hash?: unknown; record?: unknown };
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes)) as typeof raw;
  } catch {
    return undefined;
  }
  const hint = parseHint(raw);
  if (!hint || typeof raw?.hash !== 'string' || raw.hash.length > 128) return undefined;
  const full = { ...hint, hash: raw.hash };
  const record = typeof raw.record === 'string' ? new TextEncoder().encode(raw.record) : undefined;
  return record && record.byteLength <= HINT_RECORD_MAX ? { ...full, record } : full;
}

export class VersionHints {
  private readonly map = new Map<string, { version: number; at: number }>();
  private readonly max: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(opts: VersionHintsOptions = {}) {
    this.max = opts.max ?? 10_000;
    this.ttlMs = opts.ttlMs ?? 600_000;
    this.now = opts.now ?? Date.now;
  }

  /** Records that `version` of a subject exists; true when that is news (a higher version). */
  note(subject: string, version: number): boolean {
    const current = this.get(subject);
    if (current !== undefined && current >= version) return false;
    this.map.delete(subject); // re-inserted last: the map's order is the eviction order
    this.map.set(subject, { version, at: this.now() });
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
    return true;
  }

  /** The newest version heard of, unless that hint expired. */
  get(subject: string): number | undefined {
    const h = this.map.get(subject);
    if (!h) return undefined;
    if (this.now() - h.at > this.ttlMs) {
      this.map.delete(subject);
      return undefined;
    }
    return h.version;
  }

  /** Subjects with a live hint. */
  subjects(): string[] {
    return [...this.map.keys()].filter((s) => this.get(s) !== undefined);
  }

  get size(): number {
    return this.map.size;
  }
}
