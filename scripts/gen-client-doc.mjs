#!/usr/bin/env node
// Rewrites the directive tables of docs/client.md from the compiled tables (build first:
// `npx tsc -p tsconfig.json`). test/unit/openvpn/client-doc.test.ts fails until this is run.
import { readFileSync, writeFileSync } from 'node:fs';
import { updateClientDoc } from '../dist/src/openvpn/client-doc.js';

const url = new URL('../docs/client.md', import.meta.url);
writeFileSync(url, updateClientDoc(readFileSync(url, 'utf8')));
console.log('wrote docs/client.md');
