// `chorus keys split|combine|rotate|export`: admin-key custody with Shamir shares (combined from stdin or
// files, never argv), role key rotation, and per-node scoped keyrings.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { ApiClient } from '../../core/api/client.ts';
import { RoleKeyring } from '../../core/crypto/keyring.ts';
import { combineShares, splitSecret } from '../../core/crypto/shamir.ts';
import type { RotationReport } from '../../core/decisions/rotate.ts';
import { UsageError } from '../../core/errors.ts';
import { keyringPath } from '../../core/datadir.ts';
import type { CommandContext } from '../context.ts';
import { readInputFile } from '../../core/input-file.ts';

function keyringFile(ctx: CommandContext): string {
  return keyringPath(ctx.config);
}

export interface SplitResult {
  role: string;
  version: number;
  threshold: number;
  shares: string[];
}

export async function split(
  opts: { role: string; shares: number; threshold: number },
  ctx: CommandContext,
): Promise<SplitResult> {
  const file = keyringFile(ctx);
  if (!existsSync(file))
    throw new UsageError(`no keyring at ${file} (start a node once, or set keys.keyring)`, 'NO_KEYRING');
  const keyring = await RoleKeyring.open(file);
  const key = keyring.current(opts.role);
  if (!key) throw new UsageError(`the keyring ${keyring.file} has no ${opts.role} key`, 'NO_ROLE_KEY');
  if (!keyring.holdsSecret(opts.role)) {
    throw new UsageError(`the keyring ${keyring.file} holds only the public ${opts.role} key`, 'NO_ROLE_KEY');
  }
  const shares = await splitSecret(key.identity, opts.shares, opts.threshold);
  return { role: opts.role, version: key.version, threshold: opts.threshold, shares };
}

/** Shares in text: whitespace-separated, `#` starts a comment line. */
export function sharesIn(text: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((line) => !line.trimStart().startsWith('#'))
    .flatMap((line) => line.split(/\s+/))
    .filter(Boolean);
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

/**
 * Recovers a key from shares read from `from` files or, by default, stdin — never from argv, where
 * every user of the host sees them (ps) and the shell keeps them (history).
 */
export async function combine(
  opts: { argv: string[]; from?: string[] },
  ctx: CommandContext,
): Promise<{ identity: string; shares: number }> {
  if (opts.argv.length > 0) {
    throw new UsageError(
      'shares on the command line show in ps and shell history: pipe them in (chorus keys combine < shares.txt) or pass --from <file>',
      'SHARES_ON_ARGV',
    );
  }
  let text = '';
  if (opts.from?.length) {
    for (const file of opts.from) {
      text += `${(await readInputFile(file, '--from')).toString('utf8')}\n`;
    }
  } else {
    if (process.stdin.isTTY) ctx.logger.info('reading shares from stdin, one a line; end with Ctrl-D');
    text = await readStdin();
  }
  const shares = sharesIn(text);
  return { identity: new TextDecoder().decode(await combineShares(shares)), shares: shares.length };
}

export function rotate(role: string, ctx: CommandContext): Promise<RotationReport> {
  return new ApiClient({ dataDir: ctx.config.dataDir, timeoutMs: 300_000 }).call(
    'POST',
    '/v1/keys/rotate',
    { role },
    ctx.signal,
  );
}

export interface ExportResult {
  out: string;
  roles: string[];
  secrets: string[];
}

/** Writes a keyring scoped to one node's roles from this host's full keyring. */
export async function exportKeyring(
  opts: { roles: string[]; out: string },
  ctx: CommandContext,
): Promise<ExportResult> {
  const file = keyringFile(ctx);
  if (!existsSync(file))
    throw new UsageError(`no keyring at ${file} (start a node once, or set keys.keyring)`, 'NO_KEYRING');
  const keyring = await RoleKeyring.open(file);
  const text = keyring.scopedTo(opts.roles);
  await writeFile(opts.out, text, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(
      err.code === 'EEXIST' ? `${opts.out} already exists` : `cannot write ${opts.out}: ${err.code ?? err.message}`,
    );
  });
  return { out: opts.out, roles: keyring.roleNames(), secrets: [...new Set(opts.roles)].sort() };
}
