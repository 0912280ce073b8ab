// The root `chorus` command: its global flags, description and help epilogue. Shared by the full command
// tree (program.ts) and the client verbs' tree (client.ts), so both parse the global flags the same way.
import { Command, Option } from 'commander';
import { LOG_LEVELS } from '../core/log.ts';

export function createRoot(): Command {
  return (
    new Command('chorus')
      // set before any subcommand exists: commander copies these settings into each new subcommand
      .exitOverride()
      .configureOutput({
        writeOut: (s) => process.stdout.write(s),
        writeErr: (s) => process.stderr.write(s),
        outputError: () => {}, // main.ts reports every error as one line
      })
      .description('Peer-to-peer coordination fabric for autonomous AI agents.')
      .option('--json', 'machine-readable output on stdout')
      .option('--config <file>', 'config file (YAML or JSON); also CHORUS_CONFIG')
      .option('--data-dir <dir>', 'data directory (default ~/.chorus or CHORUS_DATA_DIR)')
      .addOption(new Option('--log-level <level>', 'least severe log level written to stderr').choices(LOG_LEVELS))
      .addOption(new Option('--log-format <format>', 'log line format').choices(['text', 'json']))
      .option('--no-color', 'disable colour (also NO_COLOR, or when output is not a terminal)')
      .option('-V, --version', 'print the version and exit')
      .showSuggestionAfterError(true)
      .addHelpText(
        'after',
        '\nExit codes: 0 ok, 1 error, 2 usage or bad input, 3 check failed, 4 needs an operator (damaged store, invalid license).\nDocs: docs/config.md (every config key), docs/api.md (the control API).',
      )
  );
}
