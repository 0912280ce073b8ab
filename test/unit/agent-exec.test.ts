// The exec provider with real processes: the prompt on stdin, the task in the environment and a JSON
// file, stdout as the result, stderr to the log, exit codes; a timeout kills the whole process tree
// (the grandchild too, also one that ignores SIGTERM); output beyond the cap is dropped and counted;
// a missing or non-executable command is refused before anything runs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ExecProvider, resolveCommand } from '../../src/core/agent/exec.ts';
import { ProviderError, type ProviderProgress, type ProviderRequest } from '../../src/core/agent/provider.ts';
import { TimeoutError, UsageError } from '../../src/core/errors.ts';
import { fixtureTask, script, workDir } from '../helpers/agent.ts';
import { until } from '../helpers/poll.ts';

const prompt = { system: 'You are a test.', user: 'Do it.', text: 'You are a test.\n\n---\n\nDo it.\n' };

function request(dir: string, signal = new AbortController().signal) {
  const progress: ProviderProgress[] = [];
  const logs: string[] = [];
  const req: ProviderRequest = {
    task: fixtureTask(),
    prompt,
    workDir: dir,
    signal,
    onProgress: (p) => progress.push({ ...p }),
    onLog: (l) => logs.push(l),
  };
  return { req, progress, logs };
}

/** Whether a process is gone (or a zombie waiting for its reaper). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

const waitFor = async (what: string, check: () => boolean, timeoutMs = 5000): Promise<void> => {
  await until(what, check, { timeoutMs, intervalMs: 20 });
};

const provider = (command: string[], over: { outputCapBytes?: number; killGraceMs?: number } = {}) =>
  new ExecProvider({ command, outputCapBytes: over.outputCapBytes ?? 64 * 1024, killGraceMs: over.killGraceMs });

describe('exec provider', () => {
  test('prompt on stdin, task in env and a JSON file, stdout is the result, stderr the log, in the work dir', async () => {
    const dir = workDir();
    const cmd = script(
      dir,
      'work.sh',
      [
        'cat > stdin.txt',
        'echo "id=$CHORUS_TASK_ID title=$CHORUS_TASK_TITLE project=$CHORUS_TASK_PROJECT priority=$CHORUS_TASK_PRIORITY"',
        'echo "cwd=$(pwd)"',
        'echo "file=$(grep -c \'"id": "t-7"\' "$CHORUS_TASK_FILE")"',
        'echo "to the log" >&2',
        'echo "CHORUS_PROGRESS 40" >&2',
        'echo "prompt file=$(cat "$CHORUS_PROMPT_FILE" | head -1)"',
        'printf "stdin=%s" "$(cat stdin.txt | tail -1)"',
      ].join('\n'),
    );
    const { req, progress, logs } = request(dir);
    const r = await provider([cmd]).run(req);
    assert.match(r.output, /^id=t-7 title=write the parser project=core priority=high$/m);
    assert.match(r.output, new RegExp(`^cwd=${realpathSync(dir)}$`, 'm'));
    assert.match(r.output, /^file=1$/m);
    assert.match(r.output, /^prompt file=You are a test\.$/m);
    assert.match(r.output, /stdin=Do it\.$/);
    assert.equal(r.truncated, false);
    assert.equal(r.bytes, Buffer.byteLength(r.output));
    assert.deepEqual(logs, ['to the log']);
    assert.ok(
      progress.some((p) => p.percent === 40),
      'CHORUS_PROGRESS on stderr reports a percent',
    );
    // however the output was chunked, the last report names the last complete line
    assert.equal(progress.at(-1)?.lastLine, 'prompt file=You are a test.');
    assert.equal(progress.at(-1)?.bytes, r.bytes);
  });

  test('a non-zero exit is a failure with the exit code and the last stderr line', async () => {
    const dir = workDir();
    const cmd = script(dir, 'fail.sh', 'echo partial\necho "first" >&2\necho "boom: it broke" >&2\nexit 3');
    const { req } = request(dir);
    await assert.rejects(provider([cmd]).run(req), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failure, 'failed');
      assert.match(err.message, /exited with code 3: boom: it broke$/);
      return true;
    });
  });

  test('the per-task timeout kills the whole process tree, grandchild included', async () => {
    const dir = workDir();
    const cmd = script(dir, 'tree.sh', 'sleep 30 &\necho $! > grandchild.pid\necho started\nwait');
    const ctl = new AbortController();
    const { req, progress } = request(dir, ctl.signal);
    const running = provider([cmd]).run(req);
    await waitFor('the grandchild to start', () => existsSync(join(dir, 'grandchild.pid')) && progress.length > 0);
    const pid = Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8'));
    assert.equal(gone(pid), false, 'the grandchild runs');
    const t0 = performance.now();
    ctl.abort(new TimeoutError('timed out after 200 ms'));
    await assert.rejects(running, (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.failure, 'timeout');
      assert.match(err.message, /timed out after 200 ms/);
      return true;
    });
    assert.ok(performance.now() - t0 < 3000, 'stopped promptly');
    await waitFor('the grandchild to be killed', () => gone(pid));
  });

  test('a tree that ignores SIGTERM is killed with SIGKILL after the grace', async () => {
    const dir = workDir();
    const cmd = script(dir, 'stubborn.sh', "trap '' TERM\nsleep 30 &\necho $! > grandchild.pid\necho started\nwait");
    const ctl = new AbortController();
    const { req, progress } = request(dir, ctl.signal);
    const running = provider([cmd], { killGraceMs: 300 }).run(req);
    await waitFor('the grandchild to start', () => existsSync(join(dir, 'grandchild.pid')) && progress.length > 0);
    const pid = Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8'));
    ctl.abort(new TimeoutError('timed out'));
    await assert.rejects(running, /timed out/);
    await waitFor('the grandchild to be killed', () => gone(pid));
  });

  test('what a finished command left running in its group is killed with it', async () => {
    const dir = workDir();
    const cmd = script(dir, 'leave.sh', 'sleep 30 &\necho $! > left.pid\necho done');
    const { req } = request(dir);
    const t0 = performance.now();
    const r = await provider([cmd]).run(req);
    assert.equal(r.output, 'done\n');
    assert.ok(performance.now() - t0 < 5000, 'the result does not wait for the leftover');
    await waitFor('the leftover to be killed', () => gone(Number(readFileSync(join(dir, 'left.pid'), 'utf8'))));
  });

  test('huge output is capped: the first bytes are kept, the rest counted', async () => {
    const dir = workDir();
    const { req } = request(dir);
    const r = await provider(['sh', '-c', "head -c 5000000 /dev/zero | tr '\\0' x"], { outputCapBytes: 65_536 }).run(
      req,
    );
    assert.equal(r.output.length, 65_536);
    assert.match(r.output, /^x+$/);
    assert.equal(r.bytes, 5_000_000);
    assert.equal(r.truncated, true);
  });

  test('a missing or non-executable command is refused at start (exit 2)', async () => {
    const dir = workDir();
    await assert.rejects(resolveCommand('chorus-no-such-command-xyz'), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.code, 'EXEC_NOT_FOUND');
      assert.match(err.message, /was not found on PATH/);
      return true;
    });
    const plain = join(dir, 'plain.sh');
    writeFileSync(plain, 'echo hi\n');
    await assert.rejects(provider([plain]).check(), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.code, 'EXEC_NOT_EXECUTABLE');
      return true;
    });
    await assert.rejects(provider([join(dir, 'absent')]).check(), /does not exist/);
    assert.throws(() => provider([]), UsageError);
    await provider(['sh']).check(); // on PATH and executable
  });
});
