import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DIRECTIVES } from '../../../src/config/directives.js';
import { CLIENT_USE, updateClientDoc } from '../../../src/openvpn/client-doc.js';
import { repoRoot } from '../../support/repo.js';

describe('docs/client.md directive tables', () => {
  it('say for every honoured directive whether the client acts on it, and name no other', () => {
    const honoured = [...DIRECTIVES].filter(([, s]) => s.disposition === 'honoured').map(([n]) => n);
    assert.deepEqual(
      honoured.filter((n) => CLIENT_USE[n] === undefined),
      [],
      'add these to CLIENT_USE in src/openvpn/client-doc.ts',
    );
    assert.deepEqual(
      Object.keys(CLIENT_USE).filter((n) => DIRECTIVES.get(n)?.disposition !== 'honoured'),
      [],
      'CLIENT_USE names directives that are not honoured',
    );
  });

  it('are what the tables render (after a build: node scripts/gen-client-doc.mjs)', () => {
    const page = readFileSync(join(repoRoot(), 'docs', 'client.md'), 'utf8');
    assert.equal(page, updateClientDoc(page));
  });
});
