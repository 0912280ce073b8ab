// `chorus node install` / `chorus node uninstall`: write or remove the systemd unit that runs this very
// executable as a service (--dry-run prints the unit and touches nothing).
import { resolve } from 'node:path';
import { removeUnit, renderUnit, writeUnit, type UnitFileResult } from '../../core/ops/systemd.ts';
import { selfCommand } from '../bench/self.ts';
import type { CommandContext } from '../context.ts';

export interface InstallOptions {
  user: string;
  group?: string;
  name: string;
  unitDir: string;
  dryRun?: boolean;
  config?: string;
  assignUrl?: string;
}

export interface InstallResult extends UnitFileResult {
  unit: string;
  name: string;
  next: string[];
}

export async function install(opts: InstallOptions, ctx: CommandContext): Promise<InstallResult> {
  const self = selfCommand();
  const unit = renderUnit({
    exec: [self.command, ...self.args.map((a) => resolve(a))],
    user: opts.user,
    group: opts.group,
    dataDir: ctx.config.dataDir,
    configFile: opts.config ? resolve(opts.config) : undefined,
    nodeArgs: opts.assignUrl ? ['--assign-url', opts.assignUrl] : [],
  });
  const path = resolve(opts.unitDir, `${opts.name}.service`);
  const file = await writeUnit(path, unit, Boolean(opts.dryRun));
  return {
    ...file,
    unit,
    name: opts.name,
    next: [
      `id ${opts.user} || useradd --system --home ${ctx.config.dataDir} --shell /usr/sbin/nologin ${opts.user}`,
      `install -d -o ${opts.user} -m 0700 ${ctx.config.dataDir}`,
      'systemctl daemon-reload',
      `systemctl enable --now ${opts.name}`,
      `journalctl -u ${opts.name} -f`,
    ],
  };
}

export async function uninstall(
  opts: { name: string; unitDir: string; dryRun?: boolean },
  _ctx: CommandContext,
): Promise<InstallResult> {
  const file = await removeUnit(resolve(opts.unitDir, `${opts.name}.service`), Boolean(opts.dryRun));
  return {
    ...file,
    unit: '',
    name: opts.name,
    next: file.action === 'removed' ? [`systemctl disable --now ${opts.name}`, 'systemctl daemon-reload'] : [],
  };
}
