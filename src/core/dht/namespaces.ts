// Pluggable record namespaces: the table of DHT key namespaces (`/<ns>/…`) with the validator and
// selector each feature registers for its records when its service starts. kad-dht and the one-hop
// replica path (direct.ts) both validate through it, so the DHT itself knows no feature.
import type { Startable } from '../lifecycle.ts';

/** Throws when a record may not be stored under its key. */
export type ValidateRecord = (key: Uint8Array, value: Uint8Array) => Promise<void>;
/** Picks the index of the best of competing records for one key. */
export type SelectRecord = (key: Uint8Array, records: Uint8Array[]) => number;

export interface RecordNamespace {
  /** The first key segment: `ucxl` for `/ucxl/<id>`. */
  name: string;
  validate: ValidateRecord;
  select: SelectRecord;
}

/** The validator and selector tables of a kad-dht instance (public, live objects of its API). */
export interface DhtRecordTables {
  readonly validators: Record<string, (key: Uint8Array, value: Uint8Array) => void | Promise<void>>;
  readonly selectors: Record<string, (key: Uint8Array, records: Uint8Array[]) => number | Promise<number>>;
}

const decoder = new TextDecoder();

/** The namespace of a DHT key (`/ucxl/abc` → `ucxl`); '' when the key has none. */
export function namespaceOf(key: Uint8Array): string {
  return decoder.decode(key).split('/')[1] ?? '';
}

export class UnknownNamespaceError extends Error {
  constructor(ns: string) {
    super(`no record namespace /${ns}/ is registered`);
    this.name = 'UnknownNamespace';
  }
}

export class RecordNamespaces {
  private readonly table = new Map<string, RecordNamespace>();
  private readonly dhts = new Set<DhtRecordTables>();

  /** Adds a namespace (a name registers once); returns the function that removes it again. */
  register(ns: RecordNamespace): () => void {
    if (this.table.has(ns.name)) throw new Error(`record namespace /${ns.name}/ is already registered`);
    this.table.set(ns.name, ns);
    for (const dht of this.dhts) this.install(dht, ns);
    return () => {
      if (this.table.get(ns.name) !== ns) return;
      this.table.delete(ns.name);
      for (const dht of this.dhts) {
        delete dht.validators[ns.name];
        delete dht.selectors[ns.name];
      }
    };
  }

  /** A service that registers `namespaces` when it starts and removes them when it stops. */
  service(...namespaces: RecordNamespace[]): Startable {
    let off: (() => void)[] = [];
    return {
      start: () => {
        off = namespaces.map((ns) => this.register(ns));
      },
      stop: () => {
        for (const f of off.splice(0).reverse()) f();
      },
    };
  }

  names(): string[] {
    return [...this.table.keys()];
  }

  /** Validates a record against its key's namespace; throws UnknownNamespaceError when none is registered. */
  async validate(key: Uint8Array, value: Uint8Array): Promise<void> {
    const ns = this.table.get(namespaceOf(key));
    if (!ns) throw new UnknownNamespaceError(namespaceOf(key));
    await ns.validate(key, value);
  }

  /** Keeps a kad-dht's validator and selector tables in step with this registry (now and later). */
  attach(dht: DhtRecordTables): void {
    this.dhts.add(dht);
    for (const ns of this.table.values()) this.install(dht, ns);
  }

  private install(dht: DhtRecordTables, ns: RecordNamespace): void {
    dht.validators[ns.name] = (key, value) => ns.validate(key, value);
    dht.selectors[ns.name] = (key, records) => ns.select(key, records);
  }
}
