// Prompt composition: the persona of the task's role, the title, fields and description, the decisions
// the task names and the results of the tasks it depends on; what cannot be read (not a recipient, not
// found, binary, no result yet) is left out and listed, never an error; sizes are bounded. Persona files
// that do not parse name the file and the line.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { builtinPersona, loadPersonas, parsePersona } from '../../src/core/agent/persona.ts';
import { composePrompt, CONTEXT_LIMITS, gatherContext, type ContextReader } from '../../src/core/agent/prompt.ts';
import { ChorusError, UsageError } from '../../src/core/errors.ts';
import type { Task } from '../../src/core/tasks/model.ts';
import { fixtureTask, workDir } from '../helpers/agent.ts';

const A = 'ucxl://alice:architect@core:t-1/*^/design.md';
const SECRET_ROLE = 'ucxl://root:admin@core:t-2/*^/keys.md';
const GONE = 'ucxl://bob:developer@core:t-3/*^/gone.md';
const BINARY = 'ucxl://bob:developer@core:t-4/*^/logo.png';
const DEP_RESULT = 'ucxl://carol:developer@core:t-5/*~1/result.md';

function reader(tasks: Record<string, Partial<Task>>): ContextReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    async decision(address) {
      reads.push(address);
      if (address === A) return { content: Buffer.from('# Design\nUse a Pratt parser.\n') };
      if (address === SECRET_ROLE) throw new ChorusError('NOT_A_RECIPIENT', 'this node holds no key for admin');
      if (address === BINARY) return { content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0xfe, 0x00]) };
      if (address === DEP_RESULT) return { content: Buffer.from('The lexer emits tokens with spans.\n') };
      throw new ChorusError('UCXL-404-NOT_FOUND', `UCXL-404-NOT_FOUND: ${address}`);
    },
    async task(id) {
      const t = tasks[id];
      if (!t) throw new ChorusError('NO_TASK', `no task ${id}`);
      return fixtureTask({ id, ...t });
    },
  };
}

describe('prompt composition', () => {
  test('persona, task fields, description, context decisions and dependency results, in order', async () => {
    const task = fixtureTask({
      role: 'developer',
      expertise: ['parsers'],
      ref: 'chorus/chorus#12',
      context: [A],
      dependsOn: ['t-5'],
    });
    const r = reader({ 't-5': { title: 'write the lexer', state: 'completed', result: DEP_RESULT } });
    const items = await gatherContext(task, r, AbortSignal.timeout(5000));
    const p = composePrompt(task, builtinPersona('developer'), items);
    assert.equal(p.system, builtinPersona('developer').system);
    assert.match(p.system, /software developer agent/);
    const order = [
      '# Task t-7: write the parser',
      'Project: core · Priority: high · Role: developer · Expertise: parsers · Reference: chorus/chorus#12',
      '## Description\n\nparse the grammar in docs/grammar.md',
      `## Context (decisions named by the task)\n\n### ${A}\n\n# Design\nUse a Pratt parser.`,
      `## Results of the tasks this one depends on\n\n### t-5 — write the lexer (${DEP_RESULT})\n\nThe lexer emits tokens with spans.`,
      '## Your answer',
    ];
    let at = -1;
    for (const part of order) {
      const i = p.user.indexOf(part);
      assert.ok(i > at, `"${part.slice(0, 40)}…" in order in:\n${p.user}`);
      at = i;
    }
    assert.ok(!p.user.includes('## Left out'), 'nothing was left out');
    assert.ok(p.text.startsWith(`${p.system}\n\n---\n\n# Task t-7`), 'exec gets persona then task');
  });

  test('what may not be read is left out and listed, never an error', async () => {
    const task = fixtureTask({ context: [A, SECRET_ROLE, GONE, BINARY], dependsOn: ['t-8', 't-9'] });
    const r = reader({ 't-8': { title: 'still running', state: 'in_progress' } });
    const items = await gatherContext(task, r, AbortSignal.timeout(5000));
    const p = composePrompt(task, builtinPersona('developer'), items);
    const left = p.user.slice(p.user.indexOf('## Left out'));
    assert.match(
      left,
      new RegExp(`- ${SECRET_ROLE.replace(/[*^.]/g, '\\$&')}: not readable with this node’s role keys`),
    );
    assert.match(left, /gone\.md: not found/);
    assert.match(left, /logo\.png: binary content \(7 bytes\)/);
    assert.match(left, /- t-8: t-8 has no result \(in_progress\)/);
    assert.match(left, /- t-9: the task could not be read: no task t-9/);
    assert.match(p.user, /Use a Pratt parser/, 'the readable decision is still there');
    assert.ok(!p.user.includes('Context (decisions named by the task)\n\n### ucxl://root'), 'no unreadable content');
  });

  test('context is bounded: one item at 32 KiB, all of it at 128 KiB', async () => {
    const big = Array.from({ length: 6 }, (_, i) => `ucxl://a:developer@core:t-${i}/*^/big.md`);
    const task = fixtureTask({ context: big });
    const r: ContextReader = {
      decision: async () => ({ content: Buffer.alloc(50 * 1024, 'y') }),
      task: async () => fixtureTask(),
    };
    const items = await gatherContext(task, r, AbortSignal.timeout(5000));
    const kept = items.reduce((n, i) => n + Buffer.byteLength(i.content ?? ''), 0);
    assert.equal(kept, CONTEXT_LIMITS.totalBytes);
    assert.equal(items[0]?.content?.length, CONTEXT_LIMITS.itemBytes);
    assert.match(items[0]?.note ?? '', /cut at 32768 of 51200 bytes/);
    assert.match(items[5]?.note ?? '', /over the context limit of 128 KiB/);
  });

  test('a failed earlier attempt is told to the next one', () => {
    const p = composePrompt(
      fixtureTask({ attempt: 2, lastFailure: 'exec claude exited with code 1' }),
      builtinPersona('x'),
      [],
    );
    assert.match(p.user, /Attempt: 2 \(last failure: exec claude exited with code 1\)/);
    assert.match(p.system, /role "x"/);
  });
});

describe('persona files', () => {
  test('a persona file gives the system prompt and temperature for its role', async () => {
    const dir = workDir();
    const file = join(dir, 'reviewer.yaml');
    writeFileSync(file, 'name: reviewer\nsystem: |\n  You review code.\n  Be terse.\ntemperature: 0.2\n');
    const personas = await loadPersonas({ observer: file });
    assert.deepEqual(personas.observer, {
      name: 'reviewer',
      system: 'You review code.\nBe terse.',
      temperature: 0.2,
      file,
    });
    const p = composePrompt(fixtureTask(), personas.observer!, []);
    assert.equal(p.system, 'You review code.\nBe terse.');
    assert.equal(p.temperature, 0.2);
  });

  test('a file that does not parse, or holds a wrong or unknown key, is exit 2 naming file and line', async () => {
    const dir = workDir();
    const cases: [string, RegExp][] = [
      ['system: ok\nfoo: [1,\n  2\nbar: x\n', /:\d+: .*(flow|sequence|indent|collection)/i],
      ['name: x\nsystem: |\n  fine\nmodel: gpt\n', /:4: unknown key "model"/],
      ['name: x\ntemperature: 7\nsystem: hi\n', /:2: temperature must be a number from 0 to 2/],
      ['name: x\n', /:1: a persona needs `system/],
      ['- just\n- a list\n', /:1: a persona is a mapping/],
    ];
    for (const [text, pattern] of cases) {
      const file = join(dir, `p${cases.findIndex((c) => c[0] === text)}.yaml`);
      writeFileSync(file, text);
      await assert.rejects(loadPersonas({ developer: file }), (err: unknown) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.ok(err.message.startsWith(`persona file ${file}:`), err.message);
        assert.match(err.message, pattern);
        return true;
      });
    }
    await assert.rejects(
      loadPersonas({ developer: join(dir, 'absent.yaml') }),
      /absent\.yaml \(agent\.personas\.developer\)/,
    );
    assert.throws(() => parsePersona('system: [1, 2]\n', 'f.yaml'), /f\.yaml:1: system must be text/);
  });
});
