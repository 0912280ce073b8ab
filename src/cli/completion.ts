// Shell completion scripts (bash, zsh, fish) generated from the commander program tree.
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  path: string[];
  subcommands: string[];
  options: string[];
  descriptions: Record<string, string>;
}

function collect(cmd: Command, path: string[] = [], out: Node[] = []): Node[] {
  const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  const options = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)));
  const descriptions: Record<string, string> = {};
  for (const s of subs) descriptions[s.name()] = s.description();
  out.push({ path, subcommands: subs.map((s) => s.name()), options, descriptions });
  for (const s of subs) collect(s, [...path, s.name()], out);
  return out;
}

function bash(name: string, nodes: Node[], globals: string[]): string {
  const cases = nodes
    .map((n) => `    "${n.path.join(' ')}") words="${[...n.subcommands, ...n.options, ...globals].join(' ')}" ;;`)
    .join('\n');
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
_${name}_complete() {
  local cur path="" w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ -z "$path" ]]; then path="$w"; else path="$path $w"; fi
  done
  local words
  case "$path" in
${cases}
    *) words="${globals.join(' ')}" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _${name}_complete ${name}
`;
}

function zsh(name: string, nodes: Node[], globals: string[]): string {
  const cases = nodes
    .map((n) => {
      const subs = n.subcommands.map((s) => `'${s}:${(n.descriptions[s] ?? '').replace(/'/g, '')}'`).join(' ');
      const opts = [...n.options, ...globals].map((o) => `'${o}'`).join(' ');
      return `    "${n.path.join(' ')}") subs=(${subs}); opts=(${opts}) ;;`;
    })
    .join('\n');
  return `#compdef ${name}
# zsh completion for ${name}; load with: source <(${name} completion zsh)
_${name}() {
  local -a subs opts path_words
  local w
  for w in \${words[2,CURRENT-1]}; do [[ "$w" == -* ]] || path_words+=("$w"); done
  case "\${(j: :)path_words}" in
${cases}
    *) subs=(); opts=(${globals.map((o) => `'${o}'`).join(' ')}) ;;
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then compadd -- $opts; else _describe 'command' subs; fi
}
compdef _${name} ${name}
`;
}

function fish(name: string, nodes: Node[], globals: string[]): string {
  const lines = [`# fish completion for ${name}; load with: ${name} completion fish | source`];
  lines.push(`complete -c ${name} -f`);
  for (const g of globals.filter((o) => o.startsWith('--'))) lines.push(`complete -c ${name} -l ${g.slice(2)}`);
  for (const n of nodes) {
    const cond =
      n.path.length === 0 ? `__fish_use_subcommand` : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`;
    for (const s of n.subcommands) {
      lines.push(`complete -c ${name} -n '${cond}' -a ${s} -d '${(n.descriptions[s] ?? '').replace(/'/g, '')}'`);
    }
    for (const o of n.options.filter((x) => x.startsWith('--'))) {
      lines.push(`complete -c ${name} -n '${cond}' -l ${o.slice(2)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(program: Command, shell: string): string {
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(`unknown shell "${shell}": choose one of ${SHELLS.join(', ')}`);
  }
  const nodes = collect(program);
  const root = nodes[0] as Node;
  const globals = root.options;
  const subNodes = nodes.map((n, i) => (i === 0 ? { ...n, options: [] } : n));
  const name = program.name();
  if (shell === 'bash') return bash(name, subNodes, globals);
  if (shell === 'zsh') return zsh(name, subNodes, globals);
  return fish(name, subNodes, globals);
}
