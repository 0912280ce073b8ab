// `chorus context put <key>` (leader only: a signed SLURP context record sent to every member) and
// `chorus context get [key]` (the context records this node accepted).
import { ApiClient } from '../../core/api/client.ts';
import type { ContextEntry, ProposeResult } from '../../core/election/service.ts';
import { UsageError } from '../../core/errors.ts';
import type { ClientContext } from '../context.ts';
import { readPayload } from '../node/input.ts';
import { readInputFile } from '../../core/input-file.ts';

export async function put(
  key: string,
  file: string | undefined,
  opts: { data?: string },
  ctx: ClientContext,
): Promise<ProposeResult> {
  let content: unknown;
  if (opts.data !== undefined) content = await readPayload(opts.data, false);
  else if (file) {
    content = (await readInputFile(file)).toString('utf8');
  } else throw new UsageError('context put needs a file or --data');
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<ProposeResult>(
    'POST',
    '/v1/slurp/context',
    { key, content },
    ctx.signal,
  );
}

export function get(key: string | undefined, ctx: ClientContext): Promise<ContextEntry[]> {
  const query = key === undefined ? '' : `?${new URLSearchParams({ key })}`;
  return new ApiClient({ dataDir: ctx.config.dataDir }).call<ContextEntry[]>(
    'GET',
    `/v1/slurp/context${query}`,
    undefined,
    ctx.signal,
  );
}
