// `chorus shhh policy set <file>` (leader only: the extra redaction rules, as a signed record every
// node applies) and `chorus shhh policy show` (the rules in force on this node and where they came from).
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { ApiClient } from '../../core/api/client.ts';
import type { PolicyView, ProposeResult } from '../../core/election/service.ts';
import { describeError, UsageError } from '../../core/errors.ts';
import type { ClientContext } from '../context.ts';

export async function set(file: string, ctx: ClientContext): Promise<ProposeResult> {
  let rules: unknown;
  try {
    rules = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read the policy file ${file}: ${describeError(err)}`);
  }
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<ProposeResult>(
    'POST',
    '/v1/shhh/policy',
    rules,
    ctx.signal,
  );
}

export function show(ctx: ClientContext): Promise<PolicyView> {
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<PolicyView>(
    'GET',
    '/v1/shhh/policy',
    undefined,
    ctx.signal,
  );
}
