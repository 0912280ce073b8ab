// The decisions service, as the node assembly starts it: the store, its record namespaces (registered
// with the DHT on start), version hints (announced after each write, heard from others), re-replication
// and paced provider announcements. A write's hint goes to the connected peers that did not store it, one
// signed note each on the replica channels, carrying the record when small (a replica learns of the version
// from the write); when a peer cannot take a note (an older release) or a cluster member is not connected (a
// sparse cluster: a note goes one hop), the hint is published on the raw topic CHORUS/decisions/v1 as before,
// and hints published there by others are still heard.
import type { RoleKeyring } from '../crypto/keyring.ts';
import type { RolePolicy } from '../crypto/policy.ts';
import { withDeadline } from '../deadline.ts';
import type { DirectReplicas } from '../dht/direct.ts';
import type { RecordNamespaces } from '../dht/namespaces.ts';
import type { Logger } from '../log.ts';
import { connectedPeerIds } from '../p2p/connected.ts';
import type { ChorusLibp2p } from '../p2p/host.ts';
import type { Signer } from '../p2p/signer.ts';
import type { ChorusPubSub, ReceivedMessage } from '../pubsub/pubsub.ts';
import type { Datastore } from 'interface-datastore';
import {
  encodeSignedHint,
  HINT_NOTE,
  hintRoutes,
  parseHint,
  readHintNote,
  VersionHints,
  type VersionHint,
} from './hints.ts';
import { decisionNamespaces } from './namespace.ts';
import { ProvidePacer } from './provider-pacer.ts';
import { Republisher, type PeerChanges } from './republisher.ts';
import { VerifiedRecords } from './record.ts';
import { DecisionStore } from './store.ts';

/** Raw topic carrying version hints of decisions ({subject, version, hash}) so reads know what is newest. */
export const DECISION_HINTS_TOPIC = 'CHORUS/decisions/v1';

/** The parts of a node the decisions service uses. */
export interface DecisionComponents {
  libp2p: ChorusLibp2p;
  datastore: Datastore;
  namespaces: RecordNamespaces;
  replicas: DirectReplicas;
  pubsub: Pick<ChorusPubSub, 'join' | 'leave' | 'publishRaw' | 'on' | 'off'>;
  keyring: RoleKeyring;
  signer: Signer;
  logger: Logger;
  /**
   * True while this node is the only voter of its cluster (a lone node): with no peer known either, a
   * write held by this node alone is complete — there is nobody to replicate to, by configuration.
   */
  soleMember?: () => boolean;
  /**
   * The cluster members this node knows of (the election's voters and observers): a member that is not connected
   * gets a write's version hint through the hints topic, as a note reaches connected peers only.
   */
  members?: () => readonly string[];
  /** Record authors: signature check, admission (sync) and admission lookup of an author met through others. */
  authors: {
    verify: (author: string, data: Uint8Array, signature: Uint8Array) => boolean;
    isAdmitted: (author: string) => boolean;
    awaitAdmission: (author: string) => Promise<unknown>;
  };
  settings: {
    policy: RolePolicy;
    role: string;
    replication: number;
    republishIntervalMs: number;
    timeoutMs: number;
  };
}

export class DecisionService {
  readonly store: DecisionStore;
  private readonly c: DecisionComponents;
  private readonly hints = new VersionHints();
  private readonly republisher: Republisher;
  private readonly pacer: ProvidePacer;
  private readonly namespaces;
  private readonly onHint = (m: ReceivedMessage): void => {
    if (m.topic !== DECISION_HINTS_TOPIC) return;
    const hint = parseHint(m.payload);
    if (hint) this.store.noteVersion(hint.subject, hint.version);
  };
  private readonly onHintNote = (from: string, bytes: Uint8Array): void => {
    const hint = readHintNote(from, bytes, (peer) => this.c.authors.isAdmitted(peer));
    if (hint?.record) this.store.noteRecord(hint, hint.record);
    else if (hint) this.store.noteVersion(hint.subject, hint.version);
  };

  constructor(c: DecisionComponents) {
    this.c = c;
    const s = c.settings;
    // one per node: the store's reads and the DHT validators of this node share what it verified
    const validation = { ...c.authors, verified: new VerifiedRecords() };
    this.pacer = new ProvidePacer({
      // one hop to the replication closest peers; kad-dht's walk when that path cannot be used or reached nobody
      provide: async (cid, options) => {
        if (((await c.replicas.provideTo(cid, s.replication, options.signal)) ?? 0) > 0) return;
        for await (const _ of c.libp2p.services.dht.provide(cid, options)) {
          // drained: the walk runs to its end
        }
      },
      timeoutMs: () => this.store.timeoutMs,
      logger: c.logger,
    });
    this.store = new DecisionStore({
      direct: c.replicas,
      libp2p: c.libp2p,
      datastore: c.datastore,
      keyring: c.keyring,
      policy: s.policy,
      role: s.role,
      signer: c.signer,
      validation,
      replication: s.replication,
      logger: c.logger,
      timeoutMs: s.timeoutMs,
      hints: this.hints,
      announce: (hint, holders, record) => this.announce(hint, holders, record),
      provide: (subject) => this.pacer.schedule(subject),
      soleMember: c.soleMember,
    });
    this.republisher = new Republisher({
      store: this.store,
      membership: c.libp2p,
      direct: c.replicas,
      replication: s.replication,
      intervalMs: s.republishIntervalMs,
      provide: (subject) => this.pacer.schedule(subject),
      logger: c.logger,
    });
    this.namespaces = c.namespaces.service(
      ...decisionNamespaces({
        ...validation,
        datastore: c.datastore,
        hintedVersion: (subject) => this.hints.get(subject),
        newerOnReplicas: (subject, version) => this.store.newerOnReplicas(subject, version),
        heard: (subject, version, fresh, hash) => this.store.stored(subject, version, fresh, hash),
      }),
    );
  }

  start(): void {
    this.namespaces.start();
    this.c.pubsub.join(DECISION_HINTS_TOPIC, { raw: true });
    this.c.pubsub.on('message', this.onHint);
    this.c.replicas.onNote(HINT_NOTE, this.onHintNote);
    this.c.replicas.onRetracted((_key, bytes) => this.store.retracted(bytes));
    this.pacer.start();
    this.republisher.start();
    // the decision paths once, on a throwaway record (warm-up.ts): a node's first writes then run warm code
    void this.store.warmUp();
  }

  async stop(): Promise<void> {
    this.store.stop();
    await this.republisher.stop();
    this.pacer.stop();
    this.c.pubsub.off('message', this.onHint);
    this.c.replicas.onNote(HINT_NOTE, undefined);
    this.c.replicas.onRetracted(undefined);
    this.namespaces.stop();
  }

  /**
   * Tells the connected peers that did not store a write of its new version: a signed note each, with the record
   * when it is small, so that their next read of it is local (a GossipSub message to all would cost every node a
   * delivery, mesh copies and an event-log entry). Should any peer not take it, the hint goes out on the hints
   * topic as well, where every node hears it.
   */
  private announce(hint: VersionHint, holders: readonly string[], record: Uint8Array): void {
    const c = this.c;
    const { notes, gossip } = hintRoutes({
      self: c.libp2p.peerId.toString(),
      holders,
      connected: connectedPeerIds(c.libp2p),
      members: c.members?.() ?? [],
      passedOver: (peer) => c.replicas.unresponsive.passedOver(peer),
    });
    const publish = (): void => {
      void c.pubsub.publishRaw(DECISION_HINTS_TOPIC, hint, { signal: AbortSignal.timeout(1000) }).catch(() => {});
    };
    if (gossip) publish();
    if (notes.length === 0) return;
    const bytes = encodeSignedHint(hint, c.signer.sign, record);
    void withDeadline(1000, (signal) =>
      Promise.all(notes.map((p) => c.replicas.noteTo(p, HINT_NOTE, bytes, signal))),
    ).then((took) => {
      if (!gossip && !took.every(Boolean)) publish();
    });
  }

  /** Re-puts held records now (all of them, or those whose replica set involves `changed` peers). */
  republish(changed?: PeerChanges): Promise<void> {
    return this.republisher.republish(changed);
  }
}
