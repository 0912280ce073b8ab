import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { ROOT, runCli } from '../helpers/run.ts';

test('--version and version print the build identity; --json parses', async () => {
  const text = await runCli(['--version']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^chorus:\s+\d+\.\d+\.\d+/m);
  for (const field of ['commit:', 'built:', 'runtime:', 'target:']) assert.ok(text.stdout.includes(field), field);
  const json = await runCli(['version', '--json']);
  assert.equal(json.code, 0);
  const info = JSON.parse(json.stdout) as Record<string, string>;
  assert.equal(info.name, 'chorus');
  assert.match(info.runtime ?? '', /^node v\d+/);
  assert.equal(json.stderr, '');
  // the flag runs from the client tree, the verb from the full program: the same identity either way
  const verb = await runCli(['version']);
  assert.equal(text.stdout, verb.stdout);
  const flagJson = await runCli(['--json', '--version']);
  assert.equal(flagJson.code, 0, flagJson.stderr);
  assert.deepEqual(JSON.parse(flagJson.stdout), info);
});

test('an unknown flag exits 2 with exactly one line on stderr', async () => {
  const r = await runCli(['--frobnicate']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^chorus: unknown option "--frobnicate"/);
  assert.equal(r.stdout, '');
});

/** Unknown words: [argv, the one stderr line]. */
const UNKNOWN_WORDS: [string[], RegExp][] = [
  [['frobnicate'], /^chorus: unknown command "frobnicate"; the commands are: version, node, publish, .*elect/],
  [['stauts'], /^chorus: unknown command "stauts"; did you mean "status"\?$/],
  [['elec'], /^chorus: unknown command "elec"; did you mean "elect"\?$/],
  [['elect', 'frob'], /^chorus: unknown command "elect frob"; the elect commands are: status, watch, trigger, resign$/],
  [['elect', 'stauts'], /^chorus: unknown command "elect stauts"; did you mean "elect status"\?$/],
  [['node', 'instal'], /^chorus: unknown command "node instal"; did you mean "node install"\?$/],
  [['help', 'frob'], /^chorus: unknown command "frob"; the commands are: /],
  [['help', 'log', 'tali'], /^chorus: unknown command "log tali"; did you mean "log tail"\?$/],
  [['elect'], /^chorus: "chorus elect" needs a command: status, watch, trigger, resign \(see chorus elect --help\)$/],
  [['status', '--jsn'], /^chorus: unknown option "--jsn" \(did you mean --json\?\)$/],
  [['log', 'tail', '--folow'], /^chorus: unknown option "--folow" \(did you mean --follow\?\)$/],
  [['ucxl', 'get'], /^chorus: missing required argument "address"/],
];

test('unknown verbs, sub-verbs and flags: one line naming the word and the nearest verb, exit 2', async () => {
  for (const [argv, line] of UNKNOWN_WORDS) {
    const r = await runCli(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.stdout, '', argv.join(' '));
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), line, argv.join(' '));
  }
  const level = await runCli(['--log-level', 'loud', 'version']);
  assert.equal(level.code, 2);
  assert.match(level.stderr, /loud/);
});

test('help <verb path> shows that verb', async () => {
  const r = await runCli(['help', 'elect', 'status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: chorus elect status/);
});

test('--json errors also give a parseable error object on stdout', async () => {
  const r = await runCli(['completion', 'tcsh', '--json']);
  assert.equal(r.code, 2);
  const body = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'USAGE');
  assert.match(body.error.message, /unknown shell "tcsh"/);
});

test('help lists the working verbs and help <cmd> shows a verb', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const verb of ['version', 'completion', 'help']) assert.match(r.stdout, new RegExp(`^  ${verb}\\b`, 'm'));
  assert.match(r.stdout, /Exit codes: 0 ok, 1 error, 2 usage/);
  const sub = await runCli(['help', 'completion']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /Usage: chorus completion/);
});

test('completion scripts are produced for bash, zsh and fish and bash parses them', async () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await runCli(['completion', shell]);
    assert.equal(r.code, 0, shell);
    assert.match(r.stdout, /version/);
    assert.match(r.stdout, /completion/);
  }
  const bash = await runCli(['completion', 'bash']);
  const dir = mkdtempSync(join(tmpdir(), 'chorus-completion-'));
  writeFileSync(join(dir, 'c.bash'), bash.stdout);
  execFileSync('bash', ['-n', join(dir, 'c.bash')]); // throws on a syntax error
  const words = execFileSync('bash', [
    '-c',
    `source ${join(dir, 'c.bash')}; COMP_WORDS=(chorus comp); COMP_CWORD=1; _chorus_complete; echo "\${COMPREPLY[@]}"`,
  ]).toString();
  assert.equal(words.trim(), 'completion');
});

test('chorus config shows the merged config; a bad file is one line with the key path, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-cli-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'agent:\n  role: architect\n');
  const ok = await runCli(['--config', good, '--data-dir', dir, 'config', '--json'], {
    env: { PATH: process.env.PATH ?? '', CHORUS_MAX_TASKS: '7' },
  });
  assert.equal(ok.code, 0, ok.stderr);
  const config = JSON.parse(ok.stdout) as { agent: { role: string; maxTasks: number }; dataDir: string };
  assert.equal(config.agent.role, 'architect');
  assert.equal(config.agent.maxTasks, 7);
  assert.equal(config.dataDir, dir);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'p2p:\n  maxConnections: -4\n');
  const r = await runCli(['--config', bad, 'config']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^chorus: config file .*bad\.yaml: config key "p2p\.maxConnections"/);
  const debug = await runCli(['--config', bad, '--log-level', 'debug', 'config']);
  assert.equal(debug.code, 2);
  assert.match(debug.stderr, /\n\s+at /, 'debug adds the stack');
});

test('lint forbids src/core from importing the CLI or printing', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const [imports] = await eslint.lintText("import { main } from '../cli/main.ts';\nexport const x = main;\n", {
    filePath: join(ROOT, 'src/core/example.ts'),
  });
  assert.ok(imports?.messages.some((m) => m.ruleId === 'no-restricted-imports'));
  const [prints] = await eslint.lintText("export function f(): void {\n  process.stdout.write('x');\n}\n", {
    filePath: join(ROOT, 'src/core/example.ts'),
  });
  assert.ok(prints?.messages.some((m) => m.ruleId === 'no-restricted-properties'));
});

test('raw system errors become a sentence naming the path and the fix', async () => {
  const { errorMessage } = await import('../../src/cli/exit.ts');
  const sys = (code: string, syscall: string, path: string) =>
    Object.assign(new Error(`${code}: raw text, ${syscall} '${path}'`), { code, syscall, path });
  assert.equal(
    errorMessage(sys('EACCES', 'open', '/srv/chorus/dev-authority.key.12217.tmp')),
    'cannot open /srv/chorus/dev-authority.key.12217.tmp: permission denied — run as the user that owns it, or fix its owner and mode (ls -ld shows them)',
  );
  assert.match(
    errorMessage(sys('EEXIST', 'mkdir', '/tmp/file')),
    /^cannot create the directory \/tmp\/file: something is already there/,
  );
  assert.match(errorMessage(sys('EROFS', 'rename', '/ro/x')), /^cannot replace \/ro\/x: the file system is read-only/);
  assert.equal(errorMessage(new Error('plain\nsecond line')), 'plain', 'other errors: their first line');
});

test('a file named on the command line that cannot be read: one sentence with the fix, exit 2 (never errno text)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-input-'));
  const cases: [string[], RegExp][] = [
    [
      ['bench', 'report', join(dir, 'nope.json')],
      /^chorus: cannot read .*nope\.json: it does not exist — check the path$/,
    ],
    [
      ['ucxl', 'put', 'ucxl://a:b@c:d/*^/x.md', join(dir, 'nope.md')],
      /^chorus: cannot read .*nope\.md: it does not exist/,
    ],
    [
      ['task', 'create', 'x', '--description', `@${dir}`],
      /^chorus: --description: cannot read .*: it is a directory, not a file/,
    ],
  ];
  for (const [args, line] of cases) {
    const r = await runCli(['--data-dir', dir, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), line);
    assert.doesNotMatch(r.stderr, /ENOENT|EISDIR/);
  }
});
