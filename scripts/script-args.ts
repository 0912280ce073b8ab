// Flag parsing of the development scripts (npm run bench:*): node:util's parseArgs, with an unknown flag or a
// missing value reported as one line (and the script's usage) and exit status 2, instead of a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function scriptArgs<T extends ParseArgsConfig>(
  script: string,
  config: T,
  usage?: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${script}: ${message}\n${usage ? `${usage}\n` : ''}`);
    process.exit(2);
  }
}
