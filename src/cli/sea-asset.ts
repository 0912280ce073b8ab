// A bundle stored as an asset of the single executable, with the V8 code cache the build made for it by
// running it (scripts/build-binaries.ts): compiled from that cache, so the functions the build ran are
// neither parsed nor compiled again, and run as CommonJS. For a process that lives on (longLived: a node, a
// subscriber, an agent, a benchmark, a lease server, a watch) the bytes are read from the executable file, at the
// places an index the build appends to the file names (checked against the asset's length and SHA-256): read
// through Node's mapping of the executable (`node:sea`), every page of the bundles and their caches stays resident
// in the process for its whole life (~4.8 MB of an idle node), next to the strings V8 compiles from. Without the
// index, or when it does not match, the mapping is read as before. A verb that ends at once reads through the
// mapping: on a host whose page faults are slow, the fresh memory a read from the file fills costs it more (the
// full program ~15 ms, the client bundle ~2 ms) than the pages it leaves resident. Whether V8 took the cache, and
// where the bytes came from, is noted for `chorus version` (core/code-cache.ts); an index that names bytes other
// than the asset's (a damaged or altered file) is said on stderr. Node's sea and vm are taken only here.
import type * as NodeFs from 'node:fs';
import { noteCodeCache, type BundleSource } from '../core/code-cache.ts';

type Fs = typeof NodeFs;

/**
 * A bundle is stored as a function expression over CommonJS's parameters, so the cached code the build
 * made for exactly this source applies: `(function (exports, require, module) { … })`.
 */
export function wrapBundle(code: string): string {
  return `(function (exports, require, module) {${code}\n})`;
}

/** Where an asset's bytes lie in the executable file, and their SHA-256 (hex). */
export interface AssetPlace {
  offset: number;
  length: number;
  sha256: string;
}

/** The index the build appends to the executable: per asset name, its place. */
export type AssetIndex = Record<string, AssetPlace>;

/** The index's trailer: [JSON][its length, uint32 LE][this]; the file's last bytes. */
const INDEX_MAGIC = 'chorus-assets/1\n';
const TRAILER = 4 + INDEX_MAGIC.length;
const MAX_INDEX = 64 * 1024;
/** This process's executable, even if its file was replaced or removed since it started. */
const EXECUTABLE = '/proc/self/exe';

/** The bytes the build appends to the executable for `index`. */
export function assetIndexTrailer(index: AssetIndex): Buffer {
  const json = Buffer.from(JSON.stringify(index));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([json, length, Buffer.from(INDEX_MAGIC, 'latin1')]);
}

/** Reads exactly `length` bytes at `position`, or throws. */
function readAt(fs: Fs, fd: number, length: number, position: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n <= 0) throw new Error('short read');
    done += n;
  }
  return out;
}

const isPlace = (p: unknown): p is AssetPlace =>
  typeof p === 'object' &&
  p !== null &&
  Number.isSafeInteger((p as AssetPlace).offset) &&
  Number.isSafeInteger((p as AssetPlace).length) &&
  (p as AssetPlace).offset >= 0 &&
  (p as AssetPlace).length >= 0 &&
  typeof (p as AssetPlace).sha256 === 'string';

/** The index at the end of the open executable, or undefined when it has none (or a damaged one). */
function readIndex(fs: Fs, fd: number): AssetIndex | undefined {
  const size = fs.fstatSync(fd).size;
  if (size < TRAILER) return undefined;
  const tail = readAt(fs, fd, TRAILER, size - TRAILER);
  if (tail.toString('latin1', 4) !== INDEX_MAGIC) return undefined;
  const length = tail.readUInt32LE(0);
  if (length > MAX_INDEX || length > size - TRAILER) return undefined;
  const index = JSON.parse(readAt(fs, fd, length, size - TRAILER - length).toString()) as unknown;
  if (typeof index !== 'object' || index === null) return undefined;
  return Object.values(index).every(isPlace) ? (index as AssetIndex) : undefined;
}

/**
 * Whether /proc/self/exe is this executable: it ends with the index the build appends. It is not when the dynamic
 * loader runs the executable (`/lib64/ld-linux-x86-64.so.2 chorus …`): /proc/self/exe is then the loader.
 */
export function runsFromItsExecutable(): boolean {
  const fs = process.getBuiltinModule('node:fs');
  let fd: number | undefined;
  try {
    fd = fs.openSync(EXECUTABLE, 'r');
    const size = fs.fstatSync(fd).size;
    if (size < TRAILER) return false;
    return readAt(fs, fd, INDEX_MAGIC.length, size - INDEX_MAGIC.length).toString('latin1') === INDEX_MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

interface FileReader {
  /** The asset's bytes from the file; undefined when the file cannot give them. */
  read(name: string, mapped: ArrayBuffer): Buffer | undefined;
  /** Whether the index named a place whose bytes were not the asset's (a damaged or altered file). */
  readonly mismatched: boolean;
  close(): void;
}

/** Reads assets from the executable file by its index. */
function fileReader(): FileReader {
  const fs = process.getBuiltinModule('node:fs');
  const { hash } = process.getBuiltinModule('node:crypto');
  let fd: number | undefined;
  let index: AssetIndex | undefined;
  try {
    fd = fs.openSync(EXECUTABLE, 'r');
    index = readIndex(fs, fd);
  } catch {
    index = undefined;
  }
  const reader = {
    mismatched: false,
    read: (name: string, mapped: ArrayBuffer): Buffer | undefined => {
      const place = index?.[name];
      if (fd === undefined || !place) return undefined;
      try {
        // the index named the asset's place: its digest says so without touching the mapped pages
        const bytes = place.length === mapped.byteLength ? readAt(fs, fd, place.length, place.offset) : undefined;
        if (bytes && hash('sha256', bytes) === place.sha256) return bytes;
      } catch {
        // read as a mismatch
      }
      reader.mismatched = true;
      return undefined;
    },
    close: () => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
  return reader;
}

/** The global options that take a value (`chorus --data-dir <dir> node`). */
const VALUED_OPTIONS = new Set(['--config', '--data-dir', '--log-level', '--log-format']);
/** Verbs whose process lives on, with the subcommand where only one of the verb's does. */
const LONG_LIVED: Readonly<Record<string, string | undefined>> = {
  node: undefined,
  subscribe: undefined,
  agent: undefined,
  bench: undefined,
  license: 'serve',
  task: 'watch',
  elect: 'watch',
};

/** argv's first two words that are neither an option nor a global option's value: the verb and its subcommand. */
export function verbWords(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const arg = argv[i] as string;
    if (VALUED_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) words.push(arg);
  }
  return words;
}

/** Whether argv runs a verb whose process lives on (a wrong guess costs only start-up time or memory). */
export function longLived(argv: readonly string[]): boolean {
  const [verb, sub] = verbWords(argv);
  if (verb === undefined || !Object.hasOwn(LONG_LIVED, verb)) return false;
  const only = LONG_LIVED[verb];
  return only === undefined || sub === only;
}

/** How a bundle is read: from the executable file (for a process that lives on) or through its mapping. */
export interface LoadOptions {
  fromFile: boolean;
}

/** The exports of the bundle in asset `name`, compiled with the code cache in asset `cacheName` if any. */
export function loadBundleAsset(name: string, cacheName: string, require: NodeJS.Require, opts: LoadOptions): unknown {
  const sea = process.getBuiltinModule('node:sea');
  const { isAscii } = process.getBuiltinModule('node:buffer');
  const file = opts.fromFile ? fileReader() : undefined;
  let source: BundleSource = 'file';
  /** An asset's bytes: from the file, else the mapped executable's own (read-only, not copied). */
  const bytes = (asset: string): Uint8Array => {
    const mapped = sea.getRawAsset(asset);
    const read = file?.read(asset, mapped);
    if (read) return read;
    source = 'mapping';
    return new Uint8Array(mapped);
  };
  let cachedData: Uint8Array | undefined;
  let code: Uint8Array;
  try {
    try {
      const raw = bytes(cacheName);
      cachedData = raw.byteLength > 0 ? raw : undefined;
    } catch {
      cachedData = undefined; // a cross-built executable has no cache: V8 compiles the bundle
    }
    code = bytes(name);
  } finally {
    file?.close();
  }
  if (file?.mismatched)
    process.stderr.write(
      `chorus: warning: the executable's index of its assets does not match them (a damaged or altered file?): ${name} was read through its mapping\n`,
    );
  // an ASCII bundle (esbuild's default output) as Latin-1, which Node keeps outside V8's heap when it is large
  const text = Buffer.from(code.buffer, code.byteOffset, code.byteLength).toString(isAscii(code) ? 'latin1' : 'utf8');
  const { Script } = process.getBuiltinModule('node:vm');
  const script = new Script(text, { filename: name, cachedData });
  noteCodeCache(name, cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used', source);
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object) => void;
  const module = { exports: {} };
  run(module.exports, require, module); // the bundles require Node's built-in modules only
  return module.exports;
}
