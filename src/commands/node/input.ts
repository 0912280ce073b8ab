// Reads a command's JSON payload argument: inline JSON, @file, or - for stdin.
import { readFile } from 'node:fs/promises';
import { describeError, UsageError } from '../../core/errors.ts';

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

export async function readPayload(spec: string | undefined, raw: boolean): Promise<unknown> {
  if (spec === undefined) return raw ? '' : {};
  let text: string;
  if (spec === '-') text = await readStdin();
  else if (spec.startsWith('@')) {
    try {
      text = await readFile(spec.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --data file ${spec.slice(1)}: ${describeError(err)}`);
    }
  } else text = spec;
  try {
    return JSON.parse(text);
  } catch {
    if (raw) return text; // raw payloads may be any text
    throw new UsageError('--data is not valid JSON (use --data \'{"key":"value"}\', --data @file or --data -)');
  }
}
