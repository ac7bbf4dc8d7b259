#!/usr/bin/env node
// Offline Bicep checks (the Bicep CLI cannot be installed on the project's
// machines): parse every file given on the command line with tree-sitter-bicep
// and report
//   * syntax errors: ERROR and MISSING nodes, as file:line:col;
//   * resource types: every `resource x '<type>@<version>'` must be listed in
//     api-versions.txt (beside this file), the pairs checked by hand;
//   * module wiring: a `module x '<path>'` must point to an existing file, pass
//     only parameters that file declares, and pass every parameter it declares
//     without a default; `import ... from '<path>'` must point to a file.
// This is no type check and no ARM compile: property names and API versions
// were checked against the Azure template reference by hand (infra/README.md).
//
// Usage: NODE_PATH=<dir with tree-sitter, tree-sitter-bicep> node parse.js FILE...
// Exit status: 0 clean, 1 problems found, 2 usage or load failure.
'use strict';

const fs = require('fs');
const path = require('path');

let Parser, Bicep;
try {
  Parser = require('tree-sitter');
  Bicep = require('tree-sitter-bicep');
} catch (e) {
  console.error(`parse.js: cannot load tree-sitter / tree-sitter-bicep (${e.message}); run infra/check.sh`);
  process.exit(2);
}

const parser = new Parser();
parser.setLanguage(Bicep);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: parse.js FILE.bicep...');
  process.exit(2);
}

const problems = [];
const report = (file, node, msg) => {
  const p = node.startPosition;
  problems.push(`${file}:${p.row + 1}:${p.column + 1}: ${msg}`);
};

// Verified type@version pairs (api-versions.txt; '#' starts a comment).
const verified = new Set(
  fs.readFileSync(path.join(__dirname, 'api-versions.txt'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== ''),
);

function resources(file) {
  const { tree, src } = load(file);
  for (const n of tree.rootNode.namedChildren) {
    if (n.type !== 'resource_declaration') continue;
    const s = n.namedChildren.find((c) => c.type === 'string');
    const t = literal(src, s);
    if (t === null) continue;
    if (!verified.has(t)) {
      report(file, s, `resource ${text(src, n.namedChildren[0])}: ${t} is not in check/api-versions.txt (check the template reference, then add it)`);
    }
  }
}

const cache = new Map(); // absolute path -> {tree, src}
function load(file) {
  const abs = path.resolve(file);
  if (!cache.has(abs)) {
    const src = fs.readFileSync(abs, 'utf8');
    cache.set(abs, { src, tree: parser.parse(src) });
  }
  return cache.get(abs);
}

const text = (src, n) => src.slice(n.startIndex, n.endIndex);

// String literal content of a (string (string_content)) node without interpolation.
function literal(src, n) {
  if (!n || n.type !== 'string') return null;
  if (n.namedChildren.some((c) => c.type !== 'string_content')) return null;
  return n.namedChildren.map((c) => text(src, c)).join('');
}

function syntax(file, src, node) {
  if (node.type === 'ERROR') {
    const snippet = text(src, node).split('\n')[0].slice(0, 40);
    report(file, node, `syntax error near ${JSON.stringify(snippet)}`);
  } else if (node.isMissing) {
    report(file, node, `missing ${node.type}`);
  }
  for (const c of node.children) syntax(file, src, c);
}

// Declared parameters of a file: name -> has a default value (or is nullable).
function params(abs) {
  const { tree, src } = load(abs);
  const out = new Map();
  for (const n of tree.rootNode.namedChildren) {
    if (n.type !== 'parameter_declaration') continue;
    const [id, type, ...rest] = n.namedChildren;
    const optional = rest.length > 0 || (type && text(src, type).trim().endsWith('?'));
    out.set(text(src, id), optional);
  }
  return out;
}

// The object a module declaration assigns (plain, `if (...) {}` or `[for ...: {}]`).
function moduleBody(n) {
  for (const c of n.namedChildren) {
    if (c.type === 'object') return c;
    if (c.type === 'if_statement' || c.type === 'for_statement') {
      const b = moduleBody(c);
      if (b) return b;
    }
  }
  return null;
}

function propertyKey(src, prop) {
  const k = prop.namedChildren[0];
  if (!k) return null;
  if (k.type === 'identifier') return text(src, k);
  return literal(src, k);
}

function modules(file) {
  const { tree, src } = load(file);
  const dir = path.dirname(path.resolve(file));
  for (const n of tree.rootNode.namedChildren) {
    if (n.type === 'import_statement' || n.type === 'import_with_statement' || n.type === 'import_functionality') {
      const s = n.namedChildren.find((c) => c.type === 'string');
      const target = literal(src, s);
      if (target && !target.includes(':') && !fs.existsSync(path.join(dir, target))) {
        report(file, s, `import: ${target} does not exist`);
      }
      continue;
    }
    if (n.type !== 'module_declaration') continue;
    const name = text(src, n.namedChildren[0]);
    const s = n.namedChildren[1];
    const target = literal(src, s);
    if (target === null || target.includes(':')) continue; // registry / template spec: not checkable offline
    const abs = path.join(dir, target);
    if (!fs.existsSync(abs)) {
      report(file, s, `module ${name}: ${target} does not exist`);
      continue;
    }
    const declared = params(abs);
    const body = moduleBody(n);
    const given = new Map();
    if (body) {
      for (const prop of body.namedChildren) {
        if (prop.type !== 'object_property' || propertyKey(src, prop) !== 'params') continue;
        const obj = prop.namedChildren[1];
        if (!obj || obj.type !== 'object') continue;
        for (const p of obj.namedChildren) {
          if (p.type !== 'object_property') continue;
          const k = propertyKey(src, p);
          if (k !== null) given.set(k, p);
        }
      }
    }
    for (const [k, node] of given) {
      if (!declared.has(k)) report(file, node, `module ${name}: ${target} has no parameter '${k}'`);
    }
    for (const [k, optional] of declared) {
      if (!optional && !given.has(k)) report(file, s, `module ${name}: required parameter '${k}' of ${target} is not passed`);
    }
  }
}

for (const f of files) {
  let entry;
  try {
    entry = load(f);
  } catch (e) {
    problems.push(`${f}: cannot read: ${e.message}`);
    continue;
  }
  syntax(f, entry.src, entry.tree.rootNode);
  if (!entry.tree.rootNode.hasError) {
    modules(f);
    resources(f);
  }
}

for (const p of problems) console.log(p);
console.log(`bicep: ${files.length} file(s), ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
