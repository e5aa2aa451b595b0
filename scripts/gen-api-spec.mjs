#!/usr/bin/env node
// Writes docs/ovpn-api.yaml from the compiled schema (run `npm run build` first).
import { writeFileSync } from 'node:fs';
import { renderApiSpec } from '../dist/src/api/spec-doc.js';

writeFileSync(new URL('../docs/ovpn-api.yaml', import.meta.url), renderApiSpec());
console.log('wrote docs/ovpn-api.yaml');
