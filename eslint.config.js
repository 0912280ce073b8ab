// Lint rules for chorus. The layering rules keep the library (src/core) free of the CLI, the commands
// and the benchmarks, keep its layers pointing down (chorus/layers) and the import graph acyclic
// (chorus/no-cycle); see eslint-rules/boundaries.js and docs/architecture.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import chorus from './eslint-rules/boundaries.js';

// zod's `z` is its whole namespace as one object: importing it by name (or re-exporting zod) bundles every part of
// zod, its ~40 locales among them (~360 kB of the executable's program, ~1.5 MB of a node's memory)
const ZOD = '[source.value=/^zod(\\W|$)/]';
const ZOD_MESSAGE = "Import zod as a namespace (import * as z from 'zod'), so that the bundles keep only what is used.";
const ZOD_AS_NAMESPACE = [
  `ImportDeclaration${ZOD}[importKind!='type'] > ImportSpecifier[importKind!='type']`,
  `ImportDeclaration${ZOD}[importKind!='type'] > ImportDefaultSpecifier`,
  `ExportNamedDeclaration${ZOD}[exportKind!='type']`,
  `ExportAllDeclaration${ZOD}`,
  `ImportExpression${ZOD}`,
].map((selector) => ({ selector, message: ZOD_MESSAGE }));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { chorus },
    rules: {
      'chorus/no-cycle': 'error',
      'chorus/layers': 'error',
      'no-restricted-syntax': ['error', ...ZOD_AS_NAMESPACE],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/**', '**/cli', '**/commands/**', '**/commands', '**/bench/**', '**/bench'],
              message: 'src/core must not import src/cli, src/commands or src/bench.',
            },
            {
              group: ['ora', 'cli-table3', 'commander'],
              message: 'src/core never renders: terminal libraries belong to src/cli.',
            },
          ],
        },
      ],
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Core never exits: throw a typed error.' },
        { object: 'process', property: 'stdout', message: 'Core never prints: return a value or emit an event.' },
        { object: 'process', property: 'stderr', message: 'Core never prints: use the injected logger.' },
      ],
    },
  },
  {
    // the portal runs in a browser: no Node globals (its build script, ui/build.ts, runs in Node)
    files: ['ui/**/*.ts', 'ui/**/*.tsx'],
    ignores: ['ui/build.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: 'The portal runs in a browser: use TextEncoder/TextDecoder, atob/btoa.' },
        { name: 'process', message: 'The portal runs in a browser.' },
        { name: 'require', message: 'The portal runs in a browser.' },
      ],
    },
  },
  {
    files: ['src/commands/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Commands return a result; src/cli exits.' },
        { object: 'process', property: 'stdout', message: 'Commands return a result; src/cli renders it.' },
      ],
    },
  },
);
