// chorus' import-boundary rules (a local ESLint plugin; eslint-plugin-import-x needs a native resolver):
//   chorus/layers    src/core is layered: foundation (src/core/*.ts) < libraries (config, crypto, ucxl,
//                    eventlog) < shhh < p2p < dht < features (pubsub, license, decisions, election, ops,
//                    api, and any new folder) < node (the assembly). A module imports its own folder or a
//                    lower layer; features may use each other (no cycles). Nothing lower knows what is above.
//   chorus/no-cycle  no import cycle through src, type-only and dynamic imports included.
import { readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const RANKS = {
  '': 0, // src/core/*.ts: errors, log, version, lifecycle, datadir, http, message-types
  config: 1,
  crypto: 1,
  ucxl: 1,
  eventlog: 1,
  shhh: 2,
  p2p: 3,
  dht: 4,
  node: 6,
};
const FEATURES = 5;
const NAMES = { 0: 'foundation', 1: 'libraries', 2: 'shhh', 3: 'p2p', 4: 'dht', 5: 'features', 6: 'node assembly' };

/** The src/core folder of a file ('' for src/core/*.ts), or undefined outside src/core. */
function coreFolder(file) {
  const parts = file.split(sep);
  const i = parts.lastIndexOf('core');
  if (i < 1 || parts[i - 1] !== 'src') return undefined;
  const rest = parts.slice(i + 1);
  return rest.length === 1 ? '' : rest[0];
}

const rankOf = (folder) => RANKS[folder] ?? FEATURES;

/** Relative import specifiers of a source text: static, type-only, re-exports and dynamic imports. */
function specifiers(text) {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'));
}

const graph = new Map();

/** The files a file imports (relative, resolved), from disk; cached by mtime. */
function depsOnDisk(file) {
  let mtime;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    return [];
  }
  const cached = graph.get(file);
  if (cached && cached.mtime === mtime) return cached.deps;
  const deps = specifiers(readFileSync(file, 'utf8')).map((s) => resolve(dirname(file), s));
  graph.set(file, { mtime, deps });
  return deps;
}

/** A path of imports from `start` back to `target`, if one exists. */
function pathBack(start, target) {
  const seen = new Set();
  const stack = [[start, [start]]];
  while (stack.length) {
    const [file, path] = stack.pop();
    if (file === target) return path;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const dep of depsOnDisk(file)) if (!seen.has(dep)) stack.push([dep, [...path, dep]]);
  }
  return undefined;
}

/** Calls `check(sourceNode, specifier)` for every import-like node of the file. */
function eachImport(check) {
  const literal = (node) => (node?.type === 'Literal' && typeof node.value === 'string' ? node : undefined);
  const visit = (node, source) => {
    const lit = literal(source);
    if (lit) check(node, lit.value);
  };
  return {
    ImportDeclaration: (node) => visit(node, node.source),
    ExportNamedDeclaration: (node) => visit(node, node.source),
    ExportAllDeclaration: (node) => visit(node, node.source),
    ImportExpression: (node) => visit(node, node.source),
    TSImportType: (node) => visit(node, node.argument?.literal ?? node.argument),
  };
}

const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'src/core imports only its own folder or lower layers' },
    messages: {
      upward:
        'core/{{from}} ({{fromLayer}}) may not import core/{{to}} ({{toLayer}}): lower layers know nothing above them',
    },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const from = coreFolder(file);
    if (from === undefined) return {};
    return eachImport((node, spec) => {
      if (!spec.startsWith('.')) return;
      const to = coreFolder(resolve(dirname(file), spec));
      if (to === undefined || to === from) return;
      const [a, b] = [rankOf(from), rankOf(to)];
      if (b < a || (a === FEATURES && b === FEATURES)) return;
      context.report({
        node,
        messageId: 'upward',
        data: { from: from || '*.ts', to: to || '*.ts', fromLayer: NAMES[a], toLayer: NAMES[b] },
      });
    });
  },
};

const noCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'no import cycles (type-only and dynamic imports included)' },
    messages: { cycle: 'import cycle: {{path}}' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    return eachImport((node, spec) => {
      if (!spec.startsWith('.')) return;
      const path = pathBack(resolve(dirname(file), spec), file);
      if (!path) return;
      context.report({
        node,
        messageId: 'cycle',
        data: { path: [file, ...path].map((f) => relative(root, f)).join(' → ') },
      });
    });
  },
};

export default { meta: { name: 'chorus' }, rules: { layers, 'no-cycle': noCycle } };
