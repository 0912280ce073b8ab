// Verbs of licensing: the authority's keygen/issue, the licensee's enrolment of nodes (request/enroll),
// offline show/verify, the node's status, the lease server.
import type { Command } from 'commander';
import { invoke } from '../invoke.ts';
import { collect, duration, integer } from '../options.ts';

const views = () => import('../views/license.ts');
const license = () => import('../../commands/license/license.ts');

export function registerLicenseVerbs(program: Command): void {
  const l = program
    .command('license')
    .description(
      'licenses: no valid license, no node (keygen, issue, request, enroll, show, verify, status, serve; docs/licensing.md)',
    );
  l.command('keygen')
    .description(
      'create an Ed25519 keypair: the authority’s (signs licenses) or, with --licensee, the licensee’s (enrols nodes); private key 0600, public key printed and in <file>.pub',
    )
    .option('--out <file>', 'private key file (default chorus-authority.key, or chorus-licensee.key with --licensee)')
    .option('--licensee', 'a licensee key: give its public half to the authority (license issue --licensee-key)')
    .option('--force', 'overwrite an existing key file')
    .action(async (opts: { out?: string; force?: boolean; licensee?: boolean }, cmd: Command) => {
      const [{ keygen }, { renderKeygen }] = await Promise.all([license(), views()]);
      const out = opts.out ?? (opts.licensee ? 'chorus-licensee.key' : 'chorus-authority.key');
      await invoke(cmd, () => keygen({ ...opts, out }), { view: renderKeygen, noConfig: true });
    });
  l.command('issue')
    .description('sign a license with an authority key, to a licensee key (only that key can enrol nodes)')
    .requiredOption('--authority-key <file>', 'the authority private key (from license keygen)')
    .requiredOption('--licensee <name>', 'who the license is for')
    .requiredOption(
      '--licensee-key <key>',
      'the licensee’s public key: ed25519:… or the .pub file of `license keygen --licensee`',
    )
    .requiredOption('--cluster <id>', 'the cluster it admits nodes to')
    .requiredOption('--max-nodes <n>', 'most nodes holding a lease at once', integer(1))
    .option('--features <list>', 'feature names (comma-separated, repeatable)', collect)
    .option('--valid-for <duration>', 'validity from not-before (e.g. 365d, 12h)', duration, 365 * 86_400_000)
    .option('--not-before <date>', 'start of validity (ISO 8601; default now)')
    .option('--id <id>', 'license id (default: a random one)')
    .requiredOption('--out <file>', 'where to write the license')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const [{ issue }, { renderIssued }] = await Promise.all([license(), views()]);
      await invoke(
        cmd,
        () =>
          issue({
            authorityKey: opts.authorityKey as string,
            licensee: opts.licensee as string,
            licenseeKey: opts.licenseeKey as string,
            cluster: opts.cluster as string,
            maxNodes: opts.maxNodes as number,
            features: opts.features as string[] | undefined,
            validFor: opts.validFor as number,
            notBefore: opts.notBefore as string | undefined,
            id: opts.id as string | undefined,
            out: opts.out as string,
          }),
        { view: renderIssued, noConfig: true },
      );
    });
  l.command('request')
    .description(
      'print this node’s peer ID for the licensee to enrol (creates the node identity in the data dir if there is none)',
    )
    .action(async (_o, cmd: Command) => {
      const [{ request }, { renderRequest }] = await Promise.all([license(), views()]);
      await invoke(cmd, (ctx) => request(ctx), { view: renderRequest });
    });
  l.command('enroll')
    .description(
      'sign a node certificate with the licensee key: binds one node’s peer ID to the license (the node’s license.file)',
    )
    .requiredOption('--license <file>', 'the license (from the authority)')
    .requiredOption(
      '--licensee-key <file>',
      'the licensee private key (license keygen --licensee); never leaves this host',
    )
    .option('--peer <id>', 'the node to enrol (its `chorus license request`); default: the node of --data-dir')
    .option('--valid-for <duration>', 'certificate lifetime (e.g. 90d; default: until the license expires)', duration)
    .option('--out <file>', 'where to write the certificate (required with --peer; default: the node’s license.file)')
    .action(
      async (
        opts: { license: string; licenseeKey: string; peer?: string; validFor?: number; out?: string },
        cmd: Command,
      ) => {
        const [{ enroll }, { renderEnrolled }] = await Promise.all([license(), views()]);
        await invoke(cmd, (ctx) => enroll(opts, ctx), { view: renderEnrolled });
      },
    );
  l.command('show')
    .description('print the fields of a license or node certificate file (use verify to check it)')
    .argument('<file>')
    .action(async (file: string, _o, cmd: Command) => {
      const [{ show }, { renderShow }] = await Promise.all([license(), views()]);
      await invoke(cmd, () => show(file), { view: renderShow, noConfig: true });
    });
  l.command('verify')
    .description(
      'check a license or node certificate offline: signatures, authority, validity, cluster, peer (exit 3 with the reason when invalid)',
    )
    .argument('<file>')
    .option('--authority <key>', 'trusted authority public key (repeatable; default license.authority)', collect)
    .option('--cluster <id>', 'the cluster it must be for (default license.clusterId)')
    .option('--peer <id>', 'a node certificate must name this peer')
    .action(async (file: string, opts: { authority?: string[]; cluster?: string; peer?: string }, cmd: Command) => {
      const [{ verify }, { renderVerify }] = await Promise.all([license(), views()]);
      await invoke(cmd, (ctx) => verify(file, opts, ctx), { view: renderVerify });
    });
  l.command('status')
    .description('the running node’s license, lease and grace state, and the peers it admitted')
    .action(async (_o, cmd: Command) => {
      const [{ status }, { renderLicenseStatus }] = await Promise.all([license(), views()]);
      await invoke(cmd, (ctx) => status(ctx), { view: renderLicenseStatus });
    });
  l.command('serve')
    .description('run the lease server: grants, renews and releases cluster leases (at most max-nodes per license)')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:7070')
    .option('--db <file>', 'lease database (default <data-dir>/leases.db)')
    .option('--authority <key>', 'trusted authority public key (repeatable; default license.authority)', collect)
    .option('--ttl <duration>', 'default lease lifetime', duration, 60_000)
    .option(
      '--key <file>',
      'the server’s signing key, created on first start (default <data-dir>/lease-server.key); nodes pin its public key in license.serverKey',
    )
    .action(
      async (opts: { listen: string; db?: string; authority?: string[]; ttl: number; key?: string }, cmd: Command) => {
        const [{ serve }, { renderServe }] = await Promise.all([license(), views()]);
        await invoke(cmd, (ctx) => serve(opts, ctx), { view: renderServe });
      },
    );
}
