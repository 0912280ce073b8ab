// Verbs of the daemon and its clients: node (install, uninstall), publish, subscribe, peers, status, log.
import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import { invoke, invokeClient } from '../invoke.ts';
import { collect, duration, integer, port } from '../options.ts';

const views = () => import('../views/node.ts');

/** The config key each `chorus node` flag sets (messages about a bad value name the flag). */
const NODE_FLAGS: Record<string, string> = {
  'p2p.listen': '--listen',
  'p2p.bootstrap': '--bootstrap',
  'p2p.mdns': '--no-mdns',
  'agent.role': '--role',
  'agent.expertise': '--expertise',
  'agent.reportsTo': '--reports-to',
  'agent.capabilities': '--capability',
  'api.tcpPort': '--api-port',
  'license.file': '--license',
  'license.dev': '--dev',
  'ops.port': '--ops-port',
  'ops.enabled': '--no-ops',
  'assign.url': '--assign-url',
};

export function registerNodeVerbs(program: Command): void {
  const node = program
    .command('node')
    .description('run the chorus daemon (libp2p host, pubsub, event log, control API) until interrupted')
    .option('--listen <multiaddr>', 'listen address (repeatable; default /ip4/0.0.0.0/tcp/9000)', collect)
    .option(
      '--bootstrap <multiaddr>',
      'peer to join, with /p2p/<id> (repeatable; also CHORUS_BOOTSTRAP_PEERS)',
      collect,
    )
    .option('--no-mdns', 'do not discover peers with mDNS')
    .option('--role <role>', 'agent role (joins CHORUS/roles/<role>/v1)')
    .option('--expertise <area>', 'expertise area (repeatable)', collect)
    .option('--reports-to <supervisor>', 'supervisor for the hierarchy topic (repeatable)', collect)
    .option('--capability <name>', 'capability to announce (repeatable)', collect)
    .option('--api-port <port>', 'also serve the control API on this loopback TCP port (token required)', port(1))
    .option('--license <file>', 'license file (default <data-dir>/license.json); no valid license, no node')
    .option(
      '--dev',
      'development mode: create a local license authority and a dev license once, in the data dir (dev licenses admit only peers of the same dev authority: CHORUS_DEV_AUTHORITY)',
    )
    .option(
      '--ops-port <port>',
      'port of /healthz, /readyz, /health, /metrics (default 9464; 0 = any free port)',
      port(0),
    )
    .option('--no-ops', 'no health checks and no ops HTTP listener')
    .option(
      '--assign-url <url>',
      'fetch role, expertise and bootstrap peers from this assignment server (docs/deploy.md)',
    )
    .option(
      '--repair',
      'move damaged stores aside (suffix .damaged-<time>) and start them fresh where that is safe: dht.db, events.db, lease and leader records; never the identity, license, keyring or election state',
    )
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ run }, { renderNodeRun }] = await Promise.all([import('../../commands/node/run.ts'), views()]);
      await invoke(cmd, (ctx) => run({ repair: opts.repair === true }, ctx), {
        view: renderNodeRun,
        flagNames: NODE_FLAGS,
        flags: {
          'p2p.listen': opts.listen,
          'p2p.bootstrap': opts.bootstrap,
          'p2p.mdns': opts.mdns === false ? false : undefined,
          'agent.role': opts.role,
          'agent.expertise': opts.expertise,
          'agent.reportsTo': opts.reportsTo,
          'agent.capabilities': opts.capability,
          'api.tcpPort': opts.apiPort,
          'license.file': opts.license,
          'license.dev': opts.dev === true ? true : undefined,
          'ops.port': opts.opsPort,
          'ops.enabled': opts.ops === false ? false : undefined,
          'assign.url': opts.assignUrl,
        },
      });
    });

  node
    .command('install')
    .description('write a systemd unit that runs this executable as a service (see docs/deploy.md)')
    .option('--user <user>', 'service account the node runs as', 'chorus')
    .option('--group <group>', 'service group (default: the user)')
    .option('--name <name>', 'unit name', 'chorus')
    .option('--unit-dir <dir>', 'where unit files live', '/etc/systemd/system')
    .option('--assign-url <url>', 'pass --assign-url to the node')
    .option('--dry-run', 'print the unit; write nothing')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ install }, { renderInstall }] = await Promise.all([
        import('../../commands/node/install.ts'),
        import('../views/ops.ts'),
      ]);
      // --assign-url is also an option of `node` itself; commander may give it to either command
      const g = cmd.optsWithGlobals<{ config?: string; assignUrl?: string }>();
      await invoke(
        cmd,
        (ctx) =>
          install(
            {
              user: opts.user as string,
              group: opts.group as string | undefined,
              name: opts.name as string,
              unitDir: opts.unitDir as string,
              dryRun: opts.dryRun as boolean | undefined,
              config: g.config,
              assignUrl: (opts.assignUrl as string | undefined) ?? g.assignUrl,
            },
            ctx,
          ),
        { view: renderInstall },
      );
    });

  node
    .command('uninstall')
    .description('remove the systemd unit written by `chorus node install`')
    .option('--name <name>', 'unit name', 'chorus')
    .option('--unit-dir <dir>', 'where unit files live', '/etc/systemd/system')
    .option('--dry-run', 'say what would be removed; remove nothing')
    .action(async (opts: { name: string; unitDir: string; dryRun?: boolean }, cmd: Command) => {
      const [{ uninstall }, { renderInstall }] = await Promise.all([
        import('../../commands/node/install.ts'),
        import('../views/ops.ts'),
      ]);
      await invoke(cmd, (ctx) => uninstall(opts, ctx), { view: renderInstall });
    });

  program
    .command('publish')
    .description(
      'publish a message (a type such as TaskAnnouncement, --raw to a topic, or "decision <address> [file]") through the local node',
    )
    .argument('<type-or-topic>', 'message type, the topic when --raw, or "decision"')
    .argument('[address]', 'with "decision": the UCXL address to write (ending in *^)')
    .argument('[file]', 'with "decision": content file or - (default stdin)')
    .option('--data <json>', 'payload: inline JSON, @file, or - for stdin (default {})')
    .option('--topic <topic>', 'publish the typed message to this topic instead of its default')
    .option('--raw', 'publish the payload as-is (no envelope) to the topic given as argument')
    .option('--role <role>', 'sender role (default: agent.role)')
    .option('--to-roles <roles>', 'deliver only to these roles (comma-separated, repeatable)', collect)
    .option('--expertise <areas>', 'required expertise (comma-separated, repeatable)', collect)
    .option('--project <id>', 'project id')
    .addOption(new Option('--priority <priority>', 'priority').choices(['low', 'medium', 'high', 'urgent']))
    .option('--thread <id>', 'conversation thread id')
    .option('--join <multiaddr>', 'no daemon: join the mesh through this peer for one publish (repeatable)', collect)
    .option('--confirm <n>', 'with --join: peers that must acknowledge delivery', integer(0), 1)
    .option('--timeout <duration>', 'with --join: give up after this long (e.g. 10s)', duration, 10_000)
    .option('--type <content-type>', 'with "decision": content type', 'application/octet-stream')
    .option('--roles <roles>', 'with "decision": roles it is for (comma-separated)', collect)
    .option('--license <file>', 'with --join: the license this one-shot node proves (default <data-dir>/license.json)')
    .option('--dev', 'with --join: use a dev license (as chorus node --dev)')
    .action(
      async (
        target: string,
        address: string | undefined,
        file: string | undefined,
        opts: Record<string, unknown>,
        cmd: Command,
      ) => {
        if (target === 'decision') {
          const [{ put }, { renderPut }] = await Promise.all([
            import('../../commands/ucxl/ucxl.ts'),
            import('../views/ucxl.ts'),
          ]);
          if (!address) throw new UsageError('publish decision needs a UCXL address');
          const put_ = { type: opts.type as string, roles: opts.roles as string[] | undefined, announce: true };
          return invoke(cmd, (ctx) => put(address, file, put_, ctx), { view: renderPut });
        }
        if (address !== undefined)
          throw new UsageError(`unexpected argument "${address}" (only "publish decision" takes an address)`);
        const [{ run }, { renderPublish }] = await Promise.all([import('../../commands/node/publish.ts'), views()]);
        await invoke(
          cmd,
          (ctx) =>
            run(
              target,
              {
                data: opts.data as string | undefined,
                topic: opts.topic as string | undefined,
                raw: opts.raw as boolean | undefined,
                role: opts.role as string | undefined,
                toRoles: opts.toRoles as string[] | undefined,
                expertise: opts.expertise as string[] | undefined,
                project: opts.project as string | undefined,
                priority: opts.priority as string | undefined,
                thread: opts.thread as string | undefined,
                join: opts.join as string[] | undefined,
                confirm: opts.confirm as number,
                timeout: opts.timeout as number,
              },
              ctx,
            ),
          {
            view: renderPublish,
            flags: { 'license.file': opts.license, 'license.dev': opts.dev === true ? true : undefined },
          },
        );
      },
    );

  program
    .command('subscribe')
    .description('stream messages on topics from the local node until interrupted (NDJSON with --json)')
    .argument('<topic...>', 'topics to follow')
    .option('--raw', 'the topics carry raw payloads, not envelopes')
    .action(async (topics: string[], opts: { raw?: boolean }, cmd: Command) => {
      const [{ run }, { renderMessage }] = await Promise.all([import('../../commands/node/subscribe.ts'), views()]);
      await invoke(cmd, (ctx) => run(topics, opts, ctx), { view: renderMessage });
    });

  program
    .command('peers')
    .description('list connected peers: role, capabilities, status, last seen, address, latency')
    .action(async (_opts, cmd: Command) => {
      const [{ run }, { renderPeers }] = await Promise.all([import('../../commands/node/peers.ts'), views()]);
      await invokeClient(cmd, (ctx) => run({}, ctx), { view: renderPeers });
    });

  registerStatusVerb(program);

  const log = program.command('log').description("read and verify the node's signed, hash-chained event log");
  log
    .command('tail')
    .description('print the last entries (and follow new ones with -f)')
    .option('-n, --lines <n>', 'entries to print', integer(0), 20)
    .option('-f, --follow', 'keep printing new entries until interrupted')
    .action(async (opts: { lines: number; follow?: boolean }, cmd: Command) => {
      const [{ tail }, { renderLogEntry }] = await Promise.all([import('../../commands/node/log.ts'), views()]);
      await invoke(cmd, (ctx) => tail(opts, ctx), { view: renderLogEntry });
    });
  log
    .command('verify')
    .description('check every hash, link and signature; exit 3 if any entry was edited, dropped or reordered')
    .action(async (_opts, cmd: Command) => {
      const [{ verify }, { renderVerify }] = await Promise.all([import('../../commands/node/log.ts'), views()]);
      await invoke(cmd, (ctx) => verify({}, ctx), { view: renderVerify });
    });
  log
    .command('compact')
    .description(
      'apply retention now: remove the entries older than eventLog.maxAgeDays or over eventLog.maxSizeMb, leave a signed checkpoint, free the space',
    )
    .addHelpText(
      'after',
      "\nRuns in the node when one is running (it also does this every minute), else on the file with the node's key.\n" +
        '`chorus log verify` then proves every kept entry from the checkpoint on. Limits: docs/config.md (eventLog.*).',
    )
    .action(async (_opts, cmd: Command) => {
      const [{ compact }, { renderCompact }] = await Promise.all([import('../../commands/node/log.ts'), views()]);
      await invoke(cmd, (ctx) => compact({}, ctx), { view: renderCompact });
    });
}

/** `chorus status`: a client verb (the client entry, client.ts, registers it too). */
export function registerStatusVerb(program: Command): void {
  program
    .command('status')
    .description("the local node's identity, addresses, topics, peer count and uptime")
    .option('-w, --watch', 'a live summary (health, peers, election, topics, DHT records, lease) until Ctrl-C')
    .option('--interval <duration>', 'with --watch: time between refreshes', duration, 2000)
    .action(async (opts: { watch?: boolean; interval: number }, cmd: Command) => {
      const mod = await import('../../commands/node/status.ts');
      if (opts.watch) {
        const { renderWatch } = await import('../views/ops.ts');
        return invokeClient(cmd, (ctx) => mod.watch({ intervalMs: opts.interval }, ctx), { view: renderWatch });
      }
      const { renderStatus } = await views();
      await invokeClient(cmd, (ctx) => mod.run({}, ctx), { view: renderStatus });
    });
}
