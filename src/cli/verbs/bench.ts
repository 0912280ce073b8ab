// Verbs for benchmarks with SLO gates (exit 3 when an SLO is breached).
import type { Command } from 'commander';
import { invoke } from '../invoke.ts';
import { collect, duration, integer } from '../options.ts';
import { registerBenchAgents } from './bench-agents.ts';

export function registerBenchVerbs(program: Command): void {
  const bench = program.command('bench').description('benchmarks with SLO gates (exit 3 when breached)');
  bench
    .command('dht')
    .description(
      'PUT/GET latency, success and replication of decisions: nodes started here (default), node processes (--procs), or a live cluster (--join)',
    )
    .option('--nodes <n>', 'nodes to start in this process on loopback', integer(1), 20)
    .option(
      '--procs <n>',
      'instead, start this many node processes of this executable (driven through their APIs)',
      integer(0),
      0,
    )
    .option(
      '--join <multiaddr>',
      'live mode: benchmark the cluster behind this peer (repeatable; needs a license, e.g. --license or --dev); tombstones the keys it wrote',
      collect,
    )
    .option('--listen <multiaddr>', 'live mode: address the bench nodes listen on', '/ip4/0.0.0.0/tcp/0')
    .option('--license <file>', 'live mode: the license the bench nodes prove (default license.file)')
    .option('--dev', 'live mode: use a dev license (the cluster must share the dev authority)')
    .option('--keys <n>', 'decisions to PUT', integer(1), 200)
    .option('--ops <n>', 'GETs to measure (from random nodes other than the writer)', integer(1), 2000)
    .option('--value-size <bytes>', 'decision size', integer(1), 1024)
    .option('--replication <n>', 'replication factor (3–5)', integer(1), 3)
    .option('--concurrency <n>', 'operations in flight', integer(1), 1)
    .option('--warmup <n>', 'GETs before measuring', integer(0), 100)
    .option(
      '--put-warmup <n>',
      'PUTs before measuring, to keys that are not measured or read (0: the first writes after start-up are measured)',
      integer(0),
      0,
    )
    .option('--slo-p95 <duration>', 'GET p95 SLO (e.g. 300ms)', duration, 300)
    .option('--slo-success <percent>', 'GET success SLO in percent', parseFloat, 99)
    .option('--out <file>', 'also write the report as JSON to a file')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ run }, { renderBenchDht }] = await Promise.all([
        import('../../commands/bench/dht.ts'),
        import('../views/bench.ts'),
      ]);
      await invoke(
        cmd,
        (ctx) =>
          run(
            {
              nodes: opts.nodes as number,
              procs: opts.procs as number,
              keys: opts.keys as number,
              ops: opts.ops as number,
              valueSize: opts.valueSize as number,
              replication: opts.replication as number,
              concurrency: opts.concurrency as number,
              warmup: opts.warmup as number,
              putWarmup: opts.putWarmup as number,
              sloP95: opts.sloP95 as number,
              sloSuccess: opts.sloSuccess as number,
              out: opts.out as string | undefined,
              join: opts.join as string[] | undefined,
              listen: opts.listen as string,
            },
            ctx,
          ),
        {
          view: renderBenchDht,
          flags: { 'license.file': opts.license, 'license.dev': opts.dev === true ? true : undefined },
        },
      );
    });

  registerBenchAgents(bench);

  bench
    .command('pubsub')
    .description('delivery latency, ratio and throughput of signed messages, in this process and/or across processes')
    .option('--nodes <n>', 'nodes in this process (0 skips the in-process scenario)', integer(0), 10)
    .option(
      '--publishers <n>',
      'in-process: nodes publishing round-robin in the second run of every phase (1: single publisher only; default all)',
      integer(1),
    )
    .option('--procs <n>', 'also run this many node processes of this executable (0 skips)', integer(0), 0)
    .option('--size <bytes>', 'payload size', integer(1), 1024)
    .option('--rate <msg/s>', 'latency phase rate (repeatable or comma-separated)', collect)
    .option('--duration <duration>', 'length of each latency phase', duration, 8000)
    .option('--messages <n>', 'messages of each throughput phase', integer(1), 20_000)
    .option('--max-publish <duration>', 'a throughput phase stops publishing after this long', duration, 15_000)
    .option('--slo-p99 <duration>', 'latency p99 SLO', duration, 20)
    .option('--slo-delivery <percent>', 'delivery SLO in percent', parseFloat, 100)
    .option('--out <file>', 'also write the report as JSON to a file')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ run }, { renderBenchPubSub }] = await Promise.all([
        import('../../commands/bench/pubsub.ts'),
        import('../views/bench.ts'),
      ]);
      const rates = ((opts.rate as string[] | undefined) ?? ['20']).map(Number);
      await invoke(
        cmd,
        (ctx) =>
          run(
            {
              nodes: opts.nodes as number,
              publishers: opts.publishers as number | undefined,
              procs: opts.procs as number,
              size: opts.size as number,
              rates,
              durationMs: opts.duration as number,
              messages: opts.messages as number,
              maxPublishMs: opts.maxPublish as number,
              sloP99: opts.sloP99 as number,
              sloDelivery: opts.sloDelivery as number,
              out: opts.out as string | undefined,
            },
            ctx,
          ),
        { view: renderBenchPubSub },
      );
    });

  bench
    .command('tasks')
    .description('claim latency and committed task transitions per second across node processes of this executable')
    .option('--procs <n>', 'node processes (one voter set)', integer(1), 5)
    .option('--claims <n>', 'claims measured one at a time', integer(1), 300)
    .option('--concurrency <n>', 'workers of the throughput phase', integer(1), 16)
    .option('--duration <duration>', 'length of the throughput phase', duration, 10_000)
    .option('--slo-claim-p95 <duration>', 'claim latency p95 SLO', duration, 50)
    .option('--slo-rate <transitions/s>', 'committed transitions per second SLO', parseFloat, 200)
    .option('--out <file>', 'also write the report as JSON to a file')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ run }, { renderBenchTasks }] = await Promise.all([
        import('../../commands/bench/tasks.ts'),
        import('../views/bench.ts'),
      ]);
      await invoke(
        cmd,
        (ctx) =>
          run(
            {
              procs: opts.procs as number,
              claims: opts.claims as number,
              concurrency: opts.concurrency as number,
              durationMs: opts.duration as number,
              sloClaimP95: opts.sloClaimP95 as number,
              sloRate: opts.sloRate as number,
              out: opts.out as string | undefined,
            },
            ctx,
          ),
        { view: renderBenchTasks },
      );
    });

  bench
    .command('report')
    .description(
      'show a report written by chorus bench … --out: its latencies, or (--html) one self-contained HTML file with the portal’s charts',
    )
    .argument('<report.json>', 'the report file')
    .option(
      '--html <file>',
      'write the report as one HTML file (the latency CDF and histograms; no server, no network)',
    )
    .action(async (file: string, opts: { html?: string }, cmd: Command) => {
      const [{ run }, { renderBenchReport }] = await Promise.all([
        import('../../commands/bench/report.ts'),
        import('../views/bench.ts'),
      ]);
      await invoke(cmd, (ctx) => run({ file, html: opts.html }, ctx), { view: renderBenchReport });
    });
}
