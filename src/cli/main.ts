// The CLI entry: parses argv, runs one verb, maps any error to one stderr line and an exit code.
// This module and bin.ts are the only places that decide the process's exit status.
import { CommanderError } from 'commander';
import { UsageError } from '../core/errors.ts';
import { errorCode, errorLine, exitCodeFor, EXIT } from './exit.ts';
import { shutdownController } from './invoke.ts';
import { buildProgram } from './program.ts';

function wantsDebug(argv: string[]): boolean {
  const i = argv.indexOf('--log-level');
  const level = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--log-level='))?.split('=')[1];
  return (level ?? process.env.CHORUS_LOG_LEVEL) === 'debug' || level === 'trace';
}

function reportError(err: unknown, argv: string[]): number {
  process.stderr.write(`${errorLine(err)}\n`);
  if (wantsDebug(argv) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ error: { code: errorCode(err), message: errorLine(err).slice(8) } })}\n`);
  }
  return exitCodeFor(err);
}

function installSignalHandlers(): void {
  const controller = shutdownController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Runs the CLI with user arguments (without node and script path); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  installSignalHandlers();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok; // --help, help <cmd>
      const message = err.message.replace(/^error: /, '');
      return reportError(new UsageError(`${message} (see chorus --help)`, err.code), argv);
    }
    return reportError(err, argv);
  }
}
