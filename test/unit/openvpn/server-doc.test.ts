import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SERVER_DIRECTIVES } from '../../../src/config/directives.js';
import { SERVER_USE, updateServerDoc } from '../../../src/openvpn/server-doc.js';
import { repoRoot } from '../../support/repo.js';

describe('docs/server.md directive tables', () => {
  it('say for every honoured directive whether the server acts on it, and name no other', () => {
    const honoured = [...SERVER_DIRECTIVES].filter(([, s]) => s.disposition === 'honoured').map(([n]) => n);
    assert.deepEqual(
      honoured.filter((n) => SERVER_USE[n] === undefined),
      [],
      'add these to SERVER_USE in src/openvpn/server-doc.ts',
    );
    assert.deepEqual(
      Object.keys(SERVER_USE).filter((n) => SERVER_DIRECTIVES.get(n)?.disposition !== 'honoured'),
      [],
      'SERVER_USE names directives that are not honoured',
    );
  });

  it('are what the tables render (after a build: node scripts/gen-server-doc.mjs)', () => {
    const page = readFileSync(join(repoRoot(), 'docs', 'server.md'), 'utf8');
    assert.equal(page, updateServerDoc(page));
  });
});
