// Every streaming verb of the built binary through a real `| head -1` (bash, PIPESTATUS): once head has
// its line and exits, chorus's next write meets a closed pipe and chorus ends quietly with exit 0 — no
// `write EPIPE` stack trace, nothing on stderr but its own log lines.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChorusProcess, cleanup, Daemon, tempDir } from '../helpers/daemon.ts';

/** `chorus <args> | head -1` in bash; the last stderr line is "chorus-exit=<status of chorus>". */
class Pipeline extends ChorusProcess {
  constructor(args: string[]) {
    super(args, { wrap: ['bash', '-c', '"$@" | head -1; echo "chorus-exit=${PIPESTATUS[0]}" >&2', 'pipeline'] });
  }

  /** Resolves with chorus's exit status (from PIPESTATUS) once the pipeline ended. */
  async chorusExit(timeoutMs = 20_000): Promise<number> {
    const m = await this.waitForStderr(/chorus-exit=(\d+)/, timeoutMs);
    return Number(m[1]);
  }
}

function assertQuiet(p: Pipeline, exit: number): void {
  assert.equal(exit, 0, p.stderr);
  assert.equal(p.stdout.split('\n').filter(Boolean).length, 1, p.stdout);
  assert.doesNotMatch(p.stderr, /EPIPE|Error|\n\s+at /, p.stderr);
}

describe('streaming verbs through | head -1', () => {
  let a: Daemon;
  let b: Daemon;
  let config = '';

  before(async () => {
    // two voters expected: node a has no leader until b joins, so `elect watch` sees a change then
    config = join(tempDir(), 'chorus.yaml');
    writeFileSync(config, 'election:\n  expect: 2\n');
    a = await Daemon.start({ config });
  });
  after(cleanup);

  const addressOf = async (d: Daemon): Promise<string> => {
    const s = await d.status();
    return `${s.addresses[0]}`;
  };

  /** Publishes from b until the pipeline is over: the first message fills head, a later one meets the closed pipe. */
  const publishUntilOver = async (p: Pipeline): Promise<void> => {
    for (let n = 0; !/chorus-exit=/.test(p.stderr) && n < 100; n++) {
      await b.cli(['publish', 'TaskAnnouncement', '--data', JSON.stringify({ n })]);
    }
  };

  test('status --watch | head -1', async () => {
    const p = new Pipeline(['--data-dir', a.dataDir, 'status', '--watch', '--interval', '100ms']);
    assertQuiet(p, await p.chorusExit());
    assert.match(p.stdout, /peers=0/);
  });

  test('status --watch --json | head -1', async () => {
    const p = new Pipeline(['--data-dir', a.dataDir, 'status', '--watch', '--interval', '100ms', '--json']);
    assertQuiet(p, await p.chorusExit());
    assert.ok(JSON.parse(p.stdout).status.peerId);
  });

  test('elect watch | head -1 (ends at the next change: b joins and they elect a leader)', async () => {
    const p = new Pipeline(['--data-dir', a.dataDir, 'elect', 'watch']);
    await p.waitFor('the first election line', () => (p.stdout.includes('term') ? true : undefined));
    b = await Daemon.start({ config, bootstrap: [await addressOf(a)] });
    assertQuiet(p, await p.chorusExit());
  });

  test('subscribe … | head -1 (ends at the next message)', async () => {
    const topic = 'CHORUS/coordination/v1';
    const p = new Pipeline(['--data-dir', a.dataDir, 'subscribe', topic]);
    await p.waitForStderr(/\bsubscribed\b/);
    await publishUntilOver(p);
    assertQuiet(p, await p.chorusExit());
    assert.match(p.stdout, /TaskAnnouncement/);
  });

  test('task watch | head -1 (ends at the next committed change: tasks created on b)', async () => {
    const p = new Pipeline(['--data-dir', a.dataDir, 'task', 'watch']);
    for (let n = 0; !/chorus-exit=/.test(p.stderr) && n < 100; n++) await b.cli(['task', 'create', `pipe ${n}`]);
    assertQuiet(p, await p.chorusExit());
    assert.match(p.stdout, /pipe \d+/);
  });

  test('log tail -f | head -1 (ends at the next entry: a message from b)', async () => {
    const p = new Pipeline(['--data-dir', a.dataDir, 'log', 'tail', '-f', '-n', '1']);
    await p.waitFor('the first entry', () => (p.stdout ? true : undefined));
    await publishUntilOver(p);
    assertQuiet(p, await p.chorusExit());
    assert.match(p.stdout, /^#\d+ /);
  });
});
