// Renders docs/config.md from the config schema, so the documentation can never drift from the code.
import { configKeys } from './keys.ts';

function show(value: unknown): string {
  if (value === undefined) return '—';
  return `\`${JSON.stringify(value)}\``;
}

export function renderConfigDocs(): string {
  const rows = configKeys().map((k) => {
    const type = k.type === 'enum' ? (k.values ?? []).map((v) => `\`${v}\``).join(' \\| ') : k.type;
    return `| \`${k.path}\` | ${type} | ${show(k.default)} | ${k.env ? `\`${k.env}\`` : '—'} | ${k.reload ? 'yes' : 'no'} | ${k.description} |`;
  });
  return `# chorus configuration

<!-- Generated from src/core/config/schema.ts by \`npm run docs:config\`; a test fails when it is stale. -->

Precedence, lowest to highest: built-in defaults < config file < \`CHORUS_*\` environment < assignment < command-line flags.

- The **assignment** layer exists only when \`assign.url\` (\`--assign-url\`, \`CHORUS_ASSIGN_URL\`) is set: the node fetches a
  JSON assignment at start and on SIGHUP and it overrides the file and the environment for the keys it sets
  (\`role\` → \`agent.role\`, \`expertise\`, \`reportsTo\`, \`capabilities\`, \`maxTasks\` → \`agent.*\`, \`bootstrap\` →
  \`p2p.bootstrap\`, \`joinStagger\` → \`p2p.joinStaggerMs\`); flags still win. See [deploy.md](deploy.md).

- The config file is YAML or JSON, given by \`--config <file>\` or \`CHORUS_CONFIG\`. Keys are nested as the dotted
  paths below show (\`p2p.listen\` is \`p2p: { listen: [...] }\`).
- Unknown keys and values of the wrong type are rejected with the key path in the message (exit 2).
- List values in the environment are comma-separated (\`CHORUS_BOOTSTRAP_PEERS=/ip4/…/p2p/…,/ip4/…\`); booleans
  accept \`true/false/1/0/yes/no\`.
- Global flags: \`--data-dir\` sets \`dataDir\`, \`--log-level\` sets \`log.level\`, \`--log-format\` sets \`log.format\`;
  each verb documents its own flags in \`chorus help <verb>\`.
- "Reload" says whether a running node applies a changed value on SIGHUP (\`kill -HUP <pid>\`, \`systemctl reload chorus\`);
  the node logs \`configuration reloaded\` with the keys applied and those that need a restart (they keep their running
  value). A file that does not parse or validate is rejected with one error line and the running configuration stays.

| key | type | default | environment | reload | meaning |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}
