/**
 * The layering rules of docs/architecture.md, checked on the sources: each folder under src/ may only
 * import the folders listed for it. A new import across layers must be added here on purpose.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../support/repo.js';

const ALLOWED: Record<string, string[]> = {
  errors: [],
  clock: [],
  sys: ['errors'],
  wire: ['errors'],
  pktid: [],
  crypto: ['errors', 'sys', 'wire'],
  keys: ['crypto', 'pktid', 'wire', 'errors'],
  peer: ['keys', 'wire', 'errors', 'clock'],
  datapath: ['peer', 'keys', 'wire', 'crypto', 'pktid', 'clock', 'sys'],
  demo: ['*'],
  '.': ['*'],
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

describe('layering', () => {
  it('every src folder imports only the layers it is allowed to', () => {
    const src = join(repoRoot(), 'src');
    const bad: string[] = [];
    for (const file of tsFiles(src)) {
      const rel = relative(src, file);
      const layer = rel.includes('/') ? rel.split('/')[0] : '.';
      const allowed = ALLOWED[layer];
      assert.ok(allowed, `src/${layer} has no layering rule in this test`);
      if (allowed.includes('*')) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = relative(src, join(file, '..', m[1]));
        const targetLayer = target.split('/')[0];
        if (targetLayer !== layer && !allowed.includes(targetLayer)) bad.push(`${rel} -> ${targetLayer}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});
