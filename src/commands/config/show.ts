// `chorus config`: the effective configuration after every layer (defaults, file, env, flags) is applied.
import type { ChorusConfig } from '../../core/config/schema.ts';
import type { CommandContext } from '../context.ts';

export function run(_opts: object, ctx: CommandContext): ChorusConfig {
  return ctx.config;
}
