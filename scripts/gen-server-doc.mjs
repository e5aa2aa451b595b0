#!/usr/bin/env node
// Rewrites the directive tables of docs/server.md from the compiled tables (build first:
// `npx tsc -p tsconfig.json`). test/unit/openvpn/server-doc.test.ts fails until this is run.
import { readFileSync, writeFileSync } from 'node:fs';
import { updateServerDoc } from '../dist/src/openvpn/server-doc.js';

const url = new URL('../docs/server.md', import.meta.url);
writeFileSync(url, updateServerDoc(readFileSync(url, 'utf8')));
console.log('wrote docs/server.md');
