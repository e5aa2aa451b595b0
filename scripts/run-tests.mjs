#!/usr/bin/env node
// Runs `node --test` on every *.test.js file under the given folders of dist/ (node 20's own directory
// search would also pick up helper scripts that live under test/). Usage: run-tests.mjs dir...
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

const files = process.argv.slice(2).flatMap(find).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
