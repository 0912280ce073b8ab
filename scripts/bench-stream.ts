// Raw request/response floor on loopback (npm run bench:stream): 1.4 KB echoed between two hosts in one
// process, one at a time — (1) plain libp2p hosts (TCP/Noise/Yamux, defaults), a new stream per echo;
// (2) two chorus nodes, a new stream per echo (what every protocol paid before the channels); (3) two chorus
// nodes over a persistent request/response channel (src/core/p2p/rpc.ts), as the election transport and
// the one-hop DHT replicas use now. Prints figures; asserts nothing.
// --root <dir> measures another checkout's chorus (rows it lacks are skipped); --json prints the report.
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Libp2p, Stream } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import type * as ConfigModule from '../src/core/config/load.ts';
import type * as LogModule from '../src/core/log.ts';
import type * as NodeModule from '../src/core/node/node.ts';
import type * as RpcModule from '../src/core/p2p/rpc.ts';
import type * as StreamsModule from '../src/core/p2p/streams.ts';
import { scriptArgs } from './script-args.ts';

const { values: flags } = scriptArgs('bench:stream', {
  options: { root: { type: 'string' }, count: { type: 'string' }, json: { type: 'boolean' } },
});
const root = resolve(flags.root ?? join(import.meta.dirname, '..'));
const COUNT = Number(flags.count ?? 1000);
const WARMUP = 100;
const PROTOCOL = '/chorus/bench/echo/1.0.0';
const payload = Buffer.alloc(1400, 7);
const load = (): number => Number(loadavg()[0]!.toFixed(2));

async function from<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(root, path)).href)) as T;
}

interface Row {
  name: string;
  p50: number;
  p95: number;
  min: number;
  load: number;
}

async function measure(name: string, once: () => Promise<void>): Promise<Row> {
  const samples: number[] = [];
  for (let i = 0; i < COUNT + WARMUP; i++) {
    const t = performance.now();
    await once();
    if (i >= WARMUP) samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number): number => samples[Math.ceil((p / 100) * samples.length) - 1]!;
  return { name, p50: q(50), p95: q(95), min: samples[0]!, load: load() };
}

const { readAll } = await from<typeof StreamsModule>('src/core/p2p/streams.ts');

/** One echo on a new stream: open, send, half-close, read the answer. */
async function streamEcho(a: Libp2p, b: Libp2p): Promise<void> {
  const s = await a.dialProtocol(b.peerId, PROTOCOL);
  s.send(payload);
  await s.close();
  if ((await readAll(s, 1 << 20)).length !== payload.length) throw new Error('short echo');
}

async function serveEcho(host: Libp2p): Promise<void> {
  await host.handle(
    PROTOCOL,
    async (stream: Stream) => {
      stream.send(await readAll(stream, 1 << 20));
      await stream.close();
    },
    { maxInboundStreams: 1024 },
  );
}

async function connected(a: Libp2p, b: Libp2p): Promise<void> {
  await a.dial(b.getMultiaddrs()[0]!);
  await new Promise((r) => setTimeout(r, 1000)); // identify and the services' first exchanges settle
}

const rows: Row[] = [];

{
  const mk = (): Promise<Libp2p> =>
    createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    });
  const [a, b] = [await mk(), await mk()];
  await serveEcho(b);
  await connected(a, b);
  rows.push(await measure('plain libp2p, a stream per echo', () => streamEcho(a, b)));
  await Promise.all([a.stop(), b.stop()]);
}

{
  const { validateConfig } = await from<typeof ConfigModule>('src/core/config/load.ts');
  const { silentLogger } = await from<typeof LogModule>('src/core/log.ts');
  const { ChorusNode } = await from<typeof NodeModule>('src/core/node/node.ts');
  const dir = mkdtempSync(join(tmpdir(), 'chorus-bench-stream-'));
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const config = validateConfig({
      dataDir: join(dir, `n${i}`),
      license: { dev: true, devAuthority: join(dir, 'authority.key') },
      p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false },
      keys: { keyring: join(dir, 'keyring.json') },
    });
    nodes.push(await ChorusNode.start({ config, logger: silentLogger, api: false, ops: false }));
  }
  const [a, b] = [nodes[0]!.libp2p as unknown as Libp2p, nodes[1]!.libp2p as unknown as Libp2p];
  await serveEcho(b);
  await connected(a, b);
  rows.push(await measure('chorus nodes, a stream per echo', () => streamEcho(a, b)));
  let rpc: typeof RpcModule | undefined;
  try {
    rpc = await from<typeof RpcModule>('src/core/p2p/rpc.ts');
  } catch {
    // an older checkout without persistent channels
  }
  if (rpc) {
    const CHANNEL = '/chorus/bench/echo-channel/1.0.0';
    const { serveChannel, RpcClient } = rpc;
    await b.handle(CHANNEL, (stream, conn) =>
      serveChannel(stream, conn, async (_f, req) => req, { maxMessage: 1 << 20 }),
    );
    const client = new RpcClient({ libp2p: a, protocol: CHANNEL, maxMessage: 1 << 20 });
    const request = { data: payload.toString('base64').slice(0, 1400) };
    const to = b.peerId.toString();
    rows.push(
      await measure('chorus nodes, a persistent channel', async () => {
        await client.request(to, request, AbortSignal.timeout(5000));
      }),
    );
    client.stop();
  }
  await Promise.all(nodes.map((n) => n.stop()));
}

if (flags.json) console.log(JSON.stringify({ benchmark: 'stream', root, count: COUNT, rows }, null, 2));
else {
  console.log(`1.4 KB echo on loopback, one at a time, ${COUNT} after ${WARMUP} warm-up (${root})`);
  for (const r of rows)
    console.log(
      `  ${r.name.padEnd(36)} p50 ${r.p50.toFixed(2)} ms  p95 ${r.p95.toFixed(2)} ms  min ${r.min.toFixed(2)} ms  (load ${r.load})`,
    );
}
process.exit(0);
