// Verbs for decisions (ucxl …) and role keys (keys …).
import type { Command } from 'commander';
import { invoke, invokeClient } from '../invoke.ts';
import { collect, integer } from '../options.ts';

const views = () => import('../views/ucxl.ts');
const ucxl = () => import('../../commands/ucxl/ucxl.ts');
const voting = () => import('../../commands/ucxl/vote.ts');
const votingViews = () => import('../views/proposals.ts');
const keys = () => import('../../commands/keys/keys.ts');

export function registerUcxlVerbs(program: Command): void {
  const u = ucxlGroup(program);
  u.command('put')
    .description('write the next version of a decision, encrypted to the roles allowed to read it')
    .argument('<address>', 'address ending in *^ (the next version)')
    .argument('[file]', 'content file, or - for stdin (default stdin)')
    .option('--type <content-type>', 'content type', 'application/octet-stream')
    .option('--roles <roles>', 'roles the decision is for (comma-separated; default: this node’s role)', collect)
    .action(
      async (address: string, file: string | undefined, opts: { type: string; roles?: string[] }, cmd: Command) => {
        const [{ put }, { renderPut }] = await Promise.all([ucxl(), views()]);
        await invokeClient(cmd, (ctx) => put(address, file, { type: opts.type, roles: opts.roles }, ctx), {
          view: renderPut,
        });
      },
    );
  registerUcxlGet(u);
  u.command('resolve')
    .description('metadata of a decision without decrypting it (who wrote it, version, readers, providers)')
    .argument('<address>')
    .action(async (address: string, _o, cmd: Command) => {
      const [{ resolve }, { renderMeta }] = await Promise.all([ucxl(), views()]);
      await invokeClient(cmd, (ctx) => resolve(address, ctx), { view: renderMeta });
    });
  u.command('history')
    .description('every version of a decision, newest first, with the hash chain checked and each proposal’s votes')
    .argument('<address>')
    .action(async (address: string, _o, cmd: Command) => {
      const [{ history }, { renderHistory }] = await Promise.all([ucxl(), votingViews()]);
      await invokeClient(cmd, (ctx) => history(address, ctx), { view: renderHistory });
    });
  u.command('ls')
    .description('decisions held by the local node that match a pattern (use "any" for wildcards)')
    .argument('<pattern>', 'e.g. ucxl://any:any@project:any/*^')
    .action(async (pattern: string, _o, cmd: Command) => {
      const [{ ls }, { renderList }] = await Promise.all([ucxl(), views()]);
      await invokeClient(cmd, (ctx) => ls(pattern, ctx), { view: renderList });
    });
  registerVotingVerbs(u);

  const k = program
    .command('keys')
    .description('role keys: per-node keyrings, Shamir custody of the admin key, rotation');
  k.command('export')
    .description(
      'write a keyring for one node: every role’s public key, and secret keys only of the roles given (docs/keys.md)',
    )
    .option('--role <role>', 'role whose secret keys the node may hold (repeatable; none = public keys only)', collect)
    .requiredOption('--out <file>', 'where to write the keyring (mode 0600)')
    .action(async (opts: { role?: string[]; out: string }, cmd: Command) => {
      const { exportKeyring } = await keys();
      await invoke(cmd, (ctx) => exportKeyring({ roles: opts.role ?? [], out: opts.out }, ctx), {
        view: (r) =>
          `wrote ${r.out}: public keys of ${r.roles.join(', ')}; secret keys of ${r.secrets.join(', ') || 'no role'}`,
      });
    });
  k.command('split')
    .description('split a role key (default admin) into Shamir shares')
    .option('--role <role>', 'role whose key to split', 'admin')
    .option('--shares <n>', 'number of shares', integer(2), 5)
    .option('--threshold <n>', 'shares needed to recover', integer(2), 3)
    .action(async (opts: { role: string; shares: number; threshold: number }, cmd: Command) => {
      const [{ split }, { renderSplit }] = await Promise.all([keys(), views()]);
      await invoke(cmd, (ctx) => split(opts, ctx), { view: renderSplit });
    });
  k.command('combine')
    .description(
      'recover a key from threshold-many shares read from stdin or --from files, one a line (prints the age identity); never from the command line, where ps and shell history see them',
    )
    .option('--from <file>', 'a file holding shares, one a line (repeatable; default: stdin)', collect)
    .allowExcessArguments()
    .action(async (opts: { from?: string[] }, cmd: Command) => {
      const { combine } = await keys();
      await invoke(cmd, (ctx) => combine({ argv: cmd.args, from: opts.from }, ctx), {
        view: (r) => r.identity,
        noConfig: true,
      });
    });
  k.command('rotate')
    .description('issue a new key for a role and re-encrypt the latest version of its decisions (docs/keys.md)')
    .argument('<role>')
    .action(async (role: string, _o, cmd: Command) => {
      const [{ rotate }, { renderRotation }] = await Promise.all([keys(), views()]);
      await invoke(cmd, (ctx) => rotate(role, ctx), { view: renderRotation });
    });
}

/** Decision voting (docs/decisions.md): propose a version with a quorum, vote, list and show proposals. */
function registerVotingVerbs(u: Command): void {
  u.command('propose')
    .description(
      'write the next version of a decision as a proposal: *^ keeps the current version until the quorum approves',
    )
    .argument('<address>', 'address ending in *^ (the next version)')
    .argument('<file>', 'content file, or - for stdin')
    .option('--quorum <n>', 'approvals needed to accept (as many rejections reject it)', integer(1))
    .option('--voters <roles>', 'roles whose votes count (comma-separated, repeatable)', collect)
    .option('--roles <roles>', 'roles the version is for (comma-separated; default: this node’s role)', collect)
    .option('--reason <text>', 'why this version')
    .option('--type <content-type>', 'content type', 'application/octet-stream')
    .option('--as <agent>', 'propose as this agent name (default: agent.name)')
    .action(async (address: string, file: string, opts: Record<string, never>, cmd: Command) => {
      const [{ propose }, { renderProposed }] = await Promise.all([voting(), votingViews()]);
      await invoke(cmd, (ctx) => propose(address, file, opts, ctx), { view: renderProposed });
    });
  u.command('vote')
    .description('approve or reject a proposal, signed by this node (a later vote from this node replaces it)')
    .argument('<proposal-id>', 'e.g. p-3')
    .argument('<vote>', 'approve or reject')
    .option('--reason <text>', 'why (required)')
    .option('--as <agent>', 'vote as this agent name (default: agent.name)')
    .action(async (id: string, choice: string, opts: { reason?: string; as?: string }, cmd: Command) => {
      const [{ vote }, { renderVoted }] = await Promise.all([voting(), votingViews()]);
      await invoke(cmd, (ctx) => vote(id, choice, opts, ctx), { view: renderVoted });
    });
  u.command('proposals')
    .description('proposals this node holds: id, state, version, votes, quorum')
    .option('--state <states>', 'only open, accepted or rejected (comma-separated, repeatable)', collect)
    .option('--subject <address>', 'only proposals of this decision')
    .action(async (opts: { state?: string[]; subject?: string }, cmd: Command) => {
      const [{ proposals }, { renderProposals }] = await Promise.all([voting(), votingViews()]);
      await invoke(cmd, (ctx) => proposals(opts, ctx), { view: renderProposals });
    });
  u.command('proposal')
    .description('one proposal: its version, quorum, state and every vote (signatures checked by this node)')
    .argument('<proposal-id>', 'e.g. p-3')
    .action(async (id: string, _o, cmd: Command) => {
      const [{ proposal }, { renderProposal }] = await Promise.all([voting(), votingViews()]);
      await invoke(cmd, (ctx) => proposal(id, ctx), { view: renderProposal });
    });
}

/** The `ucxl` group itself, without its verbs. */
export function ucxlGroup(program: Command): Command {
  return program
    .command('ucxl')
    .description('write and read decisions at UCXL addresses (ucxl://agent:role@project:task/<temporal>/path)');
}

/** `chorus ucxl get`: a client verb (the client entry, client.ts, registers it too). */
export function registerUcxlGet(u: Command): void {
  u.command('get')
    .description('read and decrypt a decision (content on stdout; --json adds the metadata)')
    .argument('<address>', 'address with a temporal selector: *^ latest, *~ first, *~N, ~~N back, ^^N forward')
    .option('--out <file>', 'write the content to a file instead of stdout')
    .action(async (address: string, opts: { out?: string }, cmd: Command) => {
      const [{ get }, { renderGet }] = await Promise.all([ucxl(), views()]);
      await invokeClient(cmd, (ctx) => get(address, opts, ctx), { view: renderGet });
    });
}
