// Version hints: the newest version of each subject this node has heard of (its own writes and reads,
// and announcements by other nodes on the hints topic). A hint is hearsay: it only ever makes a node
// ask the network (a read that skips its local copy, a validator that checks the replicas before
// refusing an older record), never refuse on its own. Bounded in number (least recently heard go
// first) and expiring, so a flood of forged hints costs nothing lasting. A hint sent to a peer directly
// (encodeSignedHint) is signed by the sending node and taken only from an admitted node whose signature verifies;
// it carries the written record itself when that is small (HINT_RECORD_MAX), so that the peer's first read of
// the new version needs no replica (the record is verified like a replica's answer when a read uses it).
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
 */
export function hintRoutes(p: {
  self: string;
  holders: readonly string[];
  connected: readonly string[];
  members: readonly string[];
}): { notes: string[]; gossip: boolean } {
  const told = new Set([p.self, ...p.holders]);
  const connected = new Set(p.connected);
  return {
    notes: [...connected].filter((peer) => !told.has(peer)),
    gossip: p.members.some((peer) => !told.has(peer) && !connected.has(peer)),
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
 * HINT_RECORD_MAX. The record is signed by its author, so the hint's signature does not cover it.
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
 * A hint as a peer sent it: taken only when `from` is an admitted node and the hint carries its valid
 * signature over exactly these fields; anything else is undefined. An attached record comes back as bytes,
 * for the caller to verify.
 */
export function verifySignedHint(
  from: string,
  bytes: Uint8Array,
  authors: {
    verify: (author: string, data: Uint8Array, signature: Uint8Array) => boolean;
    isAdmitted: (author: string) => boolean;
  },
): NotedHint | undefined {
  let raw: { hash?: unknown; signature?: unknown; record?: unknown };
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes)) as typeof raw;
  } catch {
    return undefined;
  }
  const hint = parseHint(raw);
  if (!hint || typeof raw?.hash !== 'string' || raw.hash.length > 128 || typeof raw.signature !== 'string')
    return undefined;
  const full = { ...hint, hash: raw.hash };
  if (!authors.isAdmitted(from)) return undefined;
  if (!authors.verify(from, signedPart(full), Buffer.from(raw.signature, 'base64'))) return undefined;
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
