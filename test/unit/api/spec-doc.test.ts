import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ATTR_SETS, OPS } from '../../../src/api/spec.js';
import { renderApiSpec } from '../../../src/api/spec-doc.js';
import { repoRoot } from '../../support/repo.js';

describe('machine-readable API spec', () => {
  it('docs/ovpn-api.yaml is exactly what the schema renders (run `npm run gen:spec` after changing it)', () => {
    const doc = readFileSync(join(repoRoot(), 'docs', 'ovpn-api.yaml'), 'utf8');
    assert.equal(doc, renderApiSpec());
  });

  it('every op input attribute exists in its attribute set', () => {
    for (const op of Object.values(OPS)) {
      for (const a of op.top)
        assert.ok(
          ATTR_SETS[op.set].some((x) => x.name === a),
          `${op.name}: ${a}`,
        );
      if (op.nest) {
        for (const a of op.nest.accept) {
          assert.ok(
            ATTR_SETS[op.nest.attr].some((x) => x.name === a),
            `${op.name}: ${op.nest.attr}.${a}`,
          );
        }
      }
    }
  });

  it('attribute values are unique within a set, as netlink needs', () => {
    for (const [set, attrs] of Object.entries(ATTR_SETS)) {
      assert.equal(new Set(attrs.map((a) => a.value)).size, attrs.length, set);
      assert.equal(new Set(attrs.map((a) => a.name)).size, attrs.length, set);
    }
  });
});

describe('ovpnd serves exactly the schema', () => {
  it('the daemon handles the family operations, dev-new/dev-del and the daemon operations, nothing else', async () => {
    const { Ovpnd } = await import('../../../src/daemon/server.js');
    const { DAEMON_OPS } = await import('../../../src/api/spec.js');
    const d = new Ovpnd({ socketName: `ovpn-ts/spec-test-${process.pid}`, onExit: () => {} });
    try {
      const expected = [...Object.keys(OPS), ...DAEMON_OPS.map((o) => o.name)].sort();
      assert.deepEqual(d.opNames, expected);
    } finally {
      d.shutdown('test done');
    }
  });
});
