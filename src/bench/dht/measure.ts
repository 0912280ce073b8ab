// The one measuring loop of the DHT benchmark, over an operations interface (nodes in this process,
// node processes through their control APIs, or two nodes joined to a live cluster): keys written
// round-robin by the nodes (or by one fixed writer), then random keys read by random nodes other than
// their writer, with warm-up GETs before measuring (and, when asked, warm-up PUTs of keys that are not read).
import { errorKind, mapLimit, type DhtBenchOptions, type DhtMeasurements } from './report.ts';

/** What the loop drives: PUT and GET of key i on node n. */
export interface DhtOperations {
  /** Nodes the operations run on. */
  nodes: number;
  /** Writes key `key` from node `writer`; resolves with how many peers hold it. */
  put(writer: number, key: number): Promise<number>;
  /** Reads key `key` on node `reader`; throws when it fails or the content is not what was written. */
  get(reader: number, key: number): Promise<void>;
  /** CPU time the nodes used so far, in ms (user + system), when it can be read: CPU per operation is less
   * sensitive to a loaded machine than wall-clock latency. */
  cpuMs?(): number;
}

/** The bytes every benchmark decision carries. */
export function benchValue(size: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31) % 251);
}

/** The address of benchmark key i under a project. */
export const benchAddress = (project: string, i: number): string => `ucxl://bench:developer@${project}:run/*^/key-${i}`;

/**
 * Runs the warm-up PUTs, the measured PUTs and the GETs; resolves with what was measured and `written`: every key
 * the run wrote, warm-up included (a live run tombstones them).
 */
export async function measure(
  ops: DhtOperations,
  opts: DhtBenchOptions,
  fixedWriter?: number,
): Promise<{ measurements: Omit<DhtMeasurements, 'startupMs' | 'rssPerNodeMb'>; written: number[] }> {
  const errors: Record<string, number> = {};
  const fail = (err: unknown, during = ''): void => {
    const k = `${during}${errorKind(err)}`;
    errors[k] = (errors[k] ?? 0) + 1;
  };

  // warm-up PUTs: keys after the measured ones, written the same way, neither timed nor read (a failure shows in
  // the errors, as "warm-up …")
  const warmKeys = Array.from({ length: opts.putWarmup ?? 0 }, (_, i) => opts.keys + i);
  const warmWritten: number[] = [];
  let warmDone = 0;
  await mapLimit(
    warmKeys,
    opts.concurrency,
    async (key) => {
      try {
        await ops.put(fixedWriter ?? key % ops.nodes, key);
        warmWritten.push(key);
      } catch (err) {
        fail(err, 'warm-up ');
      }
      opts.progress?.('put warm-up', ++warmDone, warmKeys.length);
    },
    opts.signal,
  );

  // PUT phase
  const keys = Array.from({ length: opts.keys }, (_, i) => ({ key: i, writer: fixedWriter ?? i % ops.nodes }));
  const putTimes: number[] = [];
  const holders: number[] = [];
  const written = new Set<number>();
  const putStart = performance.now();
  const putCpu = ops.cpuMs?.();
  let putsDone = 0;
  await mapLimit(
    keys,
    opts.concurrency,
    async (k) => {
      const t = performance.now();
      try {
        const held = await ops.put(k.writer, k.key);
        putTimes.push(performance.now() - t);
        holders.push(held);
        written.add(k.key);
      } catch (err) {
        fail(err);
      }
      opts.progress?.('put', ++putsDone, keys.length);
    },
    opts.signal,
  );
  const putElapsed = performance.now() - putStart;
  const putCpuMs = putCpu === undefined ? undefined : (ops.cpuMs?.() ?? putCpu) - putCpu;

  // GET phase: random keys from random readers that did not write them
  const picks = Array.from({ length: opts.warmup + opts.ops }, () => {
    const i = [...written][Math.floor(Math.random() * written.size)] ?? 0;
    let reader = Math.floor(Math.random() * ops.nodes);
    if (reader === keys[i]!.writer) reader = (reader + 1) % ops.nodes;
    return { key: i, reader };
  });
  const getTimes: number[] = [];
  let getOk = 0;
  let getFailed = 0;
  let getsDone = 0;
  const getStart = { t: 0, cpu: undefined as number | undefined };
  await mapLimit(
    picks,
    opts.concurrency,
    async (p, i) => {
      if (i === opts.warmup) {
        getStart.t = performance.now();
        getStart.cpu = ops.cpuMs?.();
      }
      const t = performance.now();
      try {
        await ops.get(p.reader, p.key);
        if (i >= opts.warmup) {
          getTimes.push(performance.now() - t);
          getOk++;
        }
      } catch (err) {
        if (i >= opts.warmup) {
          getFailed++;
          fail(err);
        }
      }
      opts.progress?.('get', ++getsDone, picks.length);
    },
    opts.signal,
  );
  const getElapsed = performance.now() - (getStart.t || performance.now());
  const getCpuMs = getStart.cpu === undefined ? undefined : (ops.cpuMs?.() ?? getStart.cpu) - getStart.cpu;
  return {
    measurements: {
      putTimes,
      putElapsed,
      putCpuMs,
      getTimes,
      getOk,
      getFailed,
      getElapsed,
      getCpuMs,
      holders,
      errors,
    },
    written: [...warmWritten, ...written],
  };
}
