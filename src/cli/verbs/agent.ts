// The agent verb (chorus agent): an agent that claims matching tasks through the local node and does
// them with a provider — exec (any command line, e.g. `-- claude -p`), ollama or openai (docs/agents.md).
import { Option, type Command } from 'commander';
import { AGENT_PROVIDERS } from '../../core/config/providers.ts';
import { invoke } from '../invoke.ts';
import { collect, duration, integer } from '../options.ts';

export function registerAgentVerbs(program: Command): void {
  program
    .command('agent')
    .description(
      'run an agent next to the local node: claim matching tasks, do them with a provider, publish the results (docs/agents.md)',
    )
    .argument('[command...]', 'exec: the program and its arguments, after -- (e.g. -- claude -p --output-format text)')
    .addOption(
      new Option('--provider <name>', 'what does the work (default agent.provider: exec)').choices(AGENT_PROVIDERS),
    )
    .option('--model <name>', 'ollama/openai: the model (exec: announced only)')
    .option('--base-url <url>', 'ollama/openai: the server (default http://127.0.0.1:11434, http://127.0.0.1:8080/v1)')
    .option('--max-concurrent <n>', 'tasks at once (default 1)', integer(1))
    .option('--task-timeout <duration>', 'longest one task may run, e.g. 30m (default 30m)', duration)
    .option('--keep', 'keep each task’s working directory')
    .option('--work-dir <dir>', 'where task directories are made (default <data-dir>/agent-work)')
    .option('--name <agent>', 'the agent name tasks record (default agent.name, the host name)')
    .option('--role <role>', 'the role whose tasks it takes (default agent.role)')
    .option('--expertise <names>', 'expertise it offers (repeatable, comma-separated)', collect)
    .option('--capability <names>', 'capabilities it offers (repeatable, comma-separated)', collect)
    .action(async (command: string[], opts: Record<string, unknown>, cmd: Command) => {
      const [{ run }, { renderAgentRun }] = await Promise.all([
        import('../../commands/agent/run.ts'),
        import('../views/agent.ts'),
      ]);
      await invoke(cmd, (ctx) => run({}, ctx), {
        view: renderAgentRun,
        flags: {
          'agent.provider': opts.provider,
          'agent.command': command.length ? command : undefined,
          'agent.model': opts.model,
          'agent.baseUrl': opts.baseUrl,
          'agent.maxConcurrent': opts.maxConcurrent,
          'agent.taskTimeoutMs': opts.taskTimeout,
          'agent.keep': opts.keep === true ? true : undefined,
          'agent.workDir': opts.workDir,
          'agent.name': opts.name,
          'agent.role': opts.role,
          'agent.expertise': opts.expertise,
          'agent.capabilities': opts.capability,
        },
      });
    });
}
