// Runs one command tree on argv: parses it, runs one verb, maps any error to one stderr line and an exit
// code. This module and bin.ts are the only places that decide the process's exit status. The full tree
// (main.ts) and the client verbs' tree (client.ts) both run through it.
import { CommanderError, type Command } from 'commander';
import { errorCode, errorLine, errorMessage, exitCodeFor, EXIT } from './exit.ts';
import { shutdownController } from './invoke.ts';
import { stdoutClosed, stdoutWritten, watchOutput, writeOut } from './output.ts';
import { commanderUsage } from './strict.ts';

function wantsDebug(argv: string[]): boolean {
  const i = argv.indexOf('--log-level');
  const level = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--log-level='))?.split('=')[1];
  return (level ?? process.env.CHORUS_LOG_LEVEL) === 'debug' || level === 'trace';
}

function reportError(err: unknown, argv: string[]): number {
  process.stderr.write(`${errorLine(err)}\n`);
  if (wantsDebug(argv) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  // --json: stdout holds one document. A verb that already wrote its result (a report whose check then
  // failed, a stream that broke off) keeps it; only a verb that wrote nothing gets the error object.
  if (argv.includes('--json') && !stdoutWritten()) {
    writeOut(JSON.stringify({ error: { code: errorCode(err), message: errorMessage(err) } }));
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

/** Runs `program` with user arguments (without node and script path); resolves to the exit code. */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  installSignalHandlers();
  // a reader that went away (`chorus subscribe … | head -1`) ends the verb like Ctrl-C, with exit 0
  watchOutput(() => shutdownController().abort(new Error('stdout was closed')));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (stdoutClosed()) return EXIT.ok;
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok; // --help, help <cmd>
      return reportError(commanderUsage(err), argv);
    }
    return reportError(err, argv);
  }
}
