import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DROP_REASON_COUNT, DROP_REASON_NAMES, DropCounters } from '../../../src/datapath/drop-reason.js';

describe('DropCounters', () => {
  it('counts every reason in exactly one of the RX and TX totals', () => {
    for (let r = 1; r < DROP_REASON_COUNT; r++) {
      const d = new DropCounters();
      d.add(r as Parameters<DropCounters['add']>[0]);
      assert.equal(d.rxDropped + d.txDropped, 1, DROP_REASON_NAMES[r]);
      assert.equal(d.rxDropped, DROP_REASON_NAMES[r].startsWith('rx-') ? 1 : 0, DROP_REASON_NAMES[r]);
    }
  });
});
