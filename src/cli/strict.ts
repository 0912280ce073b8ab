// Unknown words on the command line: `chorus frobnicate`, `chorus elect frob`, `chorus help frob`,
// `chorus elect` without a verb and commander's own errors (unknown option, missing argument) all become
// one line that names the word and suggests the nearest verb or flag, like git does.
import type { Command, CommanderError } from 'commander';
import { UsageError } from '../core/errors.ts';

/** Optimal string alignment distance (Levenshtein with adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word`, or undefined when none is close: a unique candidate that starts with
 * the word (`elec` → `elect`), else the closest within a third of the word's length (at least 1 edit).
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const prefixed = candidates.filter((c) => w.length >= 2 && c.startsWith(w));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(w.length / 3)) + 1;
  for (const c of candidates) {
    const distance = editDistance(w, c);
    if (distance < bestDistance) [best, bestDistance] = [c, distance];
  }
  return best;
}

const verbsOf = (cmd: Command): string[] => cmd.commands.map((c) => c.name());

function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** `unknown command "elect frob"; did you mean "elect status"?`, or the list of verbs when none is near. */
export function unknownCommand(parent: Command, word: string): UsageError {
  const prefix = parent.parent ? `${pathOf(parent).replace(/^\S+ /, '')} ` : '';
  const verbs = verbsOf(parent).filter((v) => v !== 'help');
  const guess = nearest(word, verbs);
  const hint = guess ? `did you mean "${prefix}${guess}"?` : `the ${prefix}commands are: ${verbs.join(', ')}`;
  return new UsageError(`unknown command "${prefix}${word}"; ${hint}`, 'UNKNOWN_COMMAND');
}

function missingCommand(cmd: Command): UsageError {
  return new UsageError(
    `"${pathOf(cmd)}" needs a command: ${verbsOf(cmd)
      .filter((v) => v !== 'help')
      .join(', ')} (see ${pathOf(cmd)} --help)`,
    'MISSING_COMMAND',
  );
}

/** A `help [command...]` verb that resolves the whole path and refuses unknown words (commander shows root help). */
function addHelpVerb(group: Command): void {
  group.helpCommand(false);
  group
    .command('help')
    .description('show help for a command')
    .argument('[command...]', 'the command')
    .action((words: string[]) => {
      let target = group;
      for (const word of words) {
        const next = target.commands.find((c) => c.name() === word || c.aliases().includes(word));
        if (!next) throw unknownCommand(target, word);
        target = next;
      }
      target.outputHelp();
    });
}

/**
 * Walks the command tree once it is complete. Every command that has verbs gets a `help` verb, an action
 * (so `chorus elect` says which verbs exist instead of dumping help with an error) and accepts extra words
 * only to name them in an "unknown command" error.
 */
export function guardCommandTree(program: Command): void {
  const groups: Command[] = [];
  const visit = (cmd: Command): void => {
    if (cmd.commands.length === 0) return;
    groups.push(cmd);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
  for (const group of groups) {
    addHelpVerb(group);
    group.allowExcessArguments(true);
    const own = (group as unknown as { _actionHandler?: unknown })._actionHandler;
    if (!own) group.action(() => Promise.reject(missingCommand(group)));
  }
  program.hook('preAction', (_root, action) => {
    if (action.commands.length && action.args.length) throw unknownCommand(action, action.args[0]!);
  });
}

/** Commander's own usage errors as one line (its suggestion moved onto the same line). */
export function commanderUsage(err: CommanderError): UsageError {
  // "option '--api-port <port>' argument '70000' is invalid. expected …" → "--api-port: expected …, got "70000""
  const invalid = /^error: option '(-\S+)[^']*' argument '(.*)' is invalid\. (.*)$/s.exec(err.message);
  if (invalid) {
    const [, flag, value, why = ''] = invalid;
    const choices = /^Allowed choices are (.*?)\.?$/.exec(why)?.[1];
    if (choices) return new UsageError(`${flag}: "${value}" is not one of ${choices}`, err.code);
    return new UsageError(`${flag}: ${why.replace(/\.$/, '')}, got "${value}"`, err.code);
  }
  const [first = '', ...rest] = err.message.replace(/^error: /, '').split('\n');
  const suggestion = /^\(Did you mean (.+)\?\)$/.exec(rest.join(' ').trim())?.[1];
  const line = first.replace(/'([^']*)'/g, '"$1"');
  return new UsageError(suggestion ? `${line} (did you mean ${suggestion}?)` : `${line} (see chorus --help)`, err.code);
}
