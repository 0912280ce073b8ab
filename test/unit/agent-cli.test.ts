// `chorus agent` refuses to start, with exit 2 and one line, before it talks to any node or claims
// anything: an unknown provider (the providers listed), an exec command that is missing, not
// executable or not given, an unreachable ollama/openai server, a persona file that does not parse
// (file and line named). With everything right but no node running, it is exit 1 (no node answers).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/run.ts';
import { workDir } from '../helpers/agent.ts';

const dataDir = workDir('chorus-agent-cli-');
const env = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: dataDir,
  NO_COLOR: '1',
  ...extra,
});
const agent = (args: string[], extra: Record<string, string> = {}) =>
  runCli(['--data-dir', dataDir, 'agent', ...args], { env: env(extra), timeoutMs: 20_000 });

async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function usage(r: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stdout, '');
}

describe('chorus agent: start-up checks (exit 2, nothing claimed)', () => {
  test('an unknown provider lists the providers', async () => {
    usage(await agent(['--provider', 'gpt']), /--provider.*gpt.*exec, ollama, openai/);
    usage(await agent(['--', 'sh'], { CHORUS_AGENT_PROVIDER: 'gpt' }), /agent\.provider.*"exec"\|"ollama"\|"openai"/);
  });

  test('exec: a command that is missing, not executable, or not given', async () => {
    usage(
      await agent(['--', 'chorus-no-such-command-xyz', '-p']),
      /the exec command chorus-no-such-command-xyz was not found on PATH/,
    );
    const plain = join(dataDir, 'plain.sh');
    writeFileSync(plain, 'echo hi\n');
    usage(await agent(['--', plain]), new RegExp(`the exec command ${plain} is not executable`));
    usage(await agent([]), /the exec provider needs a command: chorus agent -- <program>/);
  });

  test('ollama/openai: a server that cannot be reached', async () => {
    const port = await deadPort();
    usage(
      await agent(['--provider', 'ollama', '--model', 'llama3.2', '--base-url', `http://127.0.0.1:${port}`]),
      new RegExp(
        `ollama could not be reached at http://127.0.0.1:${port}/api/tags: .*ECONNREFUSED.*before claiming anything`,
      ),
    );
    usage(
      await agent(['--provider', 'openai', '--model', 'm', '--base-url', `http://127.0.0.1:${port}/v1`]),
      /openai could not be reached at .*\/v1\/models/,
    );
    usage(await agent(['--provider', 'ollama']), /the ollama provider needs a model/);
  });

  test('a persona file that does not parse: the file and the line', async () => {
    const file = join(dataDir, 'persona.yaml');
    writeFileSync(file, 'name: reviewer\nsystem: |\n  Review.\ntemperature: hot\n');
    usage(
      await agent(['--', 'sh'], { CHORUS_AGENT_PERSONAS: JSON.stringify({ developer: file }) }),
      new RegExp(`persona file ${file}:4: temperature must be a number from 0 to 2`),
    );
  });

  test('all checks pass but no node runs: exit 1, no node answers', async () => {
    const r = await agent(['--', 'sh']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no chorus node is answering/);
  });
});
