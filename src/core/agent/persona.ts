// Personas: who the agent is when it does a task of a role — the system prompt. Built-in personas for the
// policy roles (admin, architect, developer, observer) and persona files from agent.personas.<role>
// (YAML: `system`, optional `name` and `temperature`). A file that does not parse, or holds a wrong or
// unknown key, is a UsageError naming the file and the line (checked at start, before any claim).
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isScalar, type Node } from 'yaml';
import { describeError, UsageError } from '../errors.ts';

export interface Persona {
  name: string;
  system: string;
  temperature?: number;
  /** The file it came from (absent for built-ins). */
  file?: string;
}

const OUTPUT_RULE =
  'Your final answer is recorded as the task’s result and read by people and other agents: make it complete and self-contained, in Markdown.';

export const BUILTIN_PERSONAS: Record<string, Persona> = {
  admin: {
    name: 'admin',
    system: `You are the administrator agent of a chorus cluster of AI agents. You keep the cluster coherent: you weigh decisions across projects, resolve conflicts between tasks and agents, and state clearly what should happen next and who should do it. ${OUTPUT_RULE}`,
  },
  architect: {
    name: 'architect',
    system: `You are a software architect agent in a chorus cluster of AI agents. You design systems and interfaces, weigh trade-offs explicitly, name risks, and leave decisions that developers can implement without guessing. ${OUTPUT_RULE}`,
  },
  developer: {
    name: 'developer',
    system: `You are a software developer agent in a chorus cluster of AI agents. You implement what the task asks, precisely and completely, follow the decisions given as context, and say what you changed and how it was checked. ${OUTPUT_RULE}`,
  },
  observer: {
    name: 'observer',
    system: `You are an observer agent in a chorus cluster of AI agents. You review and report: you read what you are given, check it against the task, and describe what you found, with evidence, without changing anything. ${OUTPUT_RULE}`,
  },
};

/** The persona for a role when none is configured. */
export function builtinPersona(role: string): Persona {
  return (
    BUILTIN_PERSONAS[role] ?? {
      name: role,
      system: `You are an AI agent with the role "${role}" in a chorus cluster of AI agents. Do the task you are given. ${OUTPUT_RULE}`,
    }
  );
}

const KEYS = ['name', 'system', 'temperature'];

/** Parses a persona file's text; errors name `file:line`. */
export function parsePersona(text: string, file: string): Persona {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (node: Node | null | undefined): number => (node?.range ? lines.linePos(node.range[0]).line : 1);
  const fail = (line: number, message: string): never => {
    throw new UsageError(`persona file ${file}:${line}: ${message}`, 'PERSONA_INVALID');
  };
  const first = doc.errors[0];
  if (first) fail(first.linePos?.[0].line ?? 1, first.message.split('\n')[0] as string);
  const root = doc.contents;
  if (!isMap(root))
    return fail(at(root), 'a persona is a mapping with at least `system: <the persona’s instructions>`');
  const out: Partial<Persona> = { file };
  for (const item of root.items) {
    const key = isScalar(item.key) ? String(item.key.value) : '';
    const value = isScalar(item.value) ? item.value.value : undefined;
    const line = at(item.key as Node);
    if (!KEYS.includes(key)) fail(line, `unknown key "${key}" (a persona has ${KEYS.join(', ')})`);
    if (key === 'temperature') {
      if (typeof value !== 'number' || value < 0 || value > 2) fail(line, 'temperature must be a number from 0 to 2');
      out.temperature = value as number;
    } else {
      if (typeof value !== 'string' || !value.trim()) fail(line, `${key} must be text`);
      out[key as 'name' | 'system'] = (value as string).trim();
    }
  }
  if (!out.system) fail(1, 'a persona needs `system: <the persona’s instructions>`');
  return {
    name: out.name ?? file,
    system: out.system as string,
    file,
    ...(out.temperature !== undefined ? { temperature: out.temperature } : {}),
  };
}

/** Loads every configured persona file (role → file); throws UsageError naming the file and line. */
export async function loadPersonas(files: Record<string, string>): Promise<Record<string, Persona>> {
  const out: Record<string, Persona> = {};
  for (const [role, file] of Object.entries(files)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`persona file ${file} (agent.personas.${role}): ${describeError(err)}`, 'PERSONA_INVALID');
    }
    out[role] = parsePersona(text, file);
  }
  return out;
}
