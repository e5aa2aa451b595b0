/**
 * DcoKeys: the slot bookkeeping of 2.7's dco_install_key / dco_update_keys, against a recording fake
 * of key-new, key-swap and key-del.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataChannelKeys } from '../../../src/control/key-expansion.js';
import { DcoKeys } from '../../../src/openvpn/dco-keys.js';

const KEYS = {} as DataChannelKeys;

function recorder() {
  const ops: string[] = [];
  const dco = new DcoKeys({
    keyNew: (slot, keyId) => ops.push(`new ${slot} ${keyId}`),
    keySwap: () => ops.push('swap'),
    keyDel: (slot) => ops.push(`del ${slot}`),
  });
  return { ops, dco };
}

describe('DcoKeys', () => {
  it('installs the first key as primary, the next as secondary, swaps when it is selected, deletes the old one when it dies', () => {
    const { ops, dco } = recorder();
    dco.update(undefined, undefined); // nothing installed: nothing to do
    dco.install(0, KEYS);
    dco.update(0, undefined);
    dco.install(1, KEYS);
    dco.update(0, 1); // the old key still sends (grace of the new one)
    dco.update(1, 0); // the new one takes over
    dco.update(1, 0);
    dco.update(1, undefined); // the lame duck died
    dco.install(2, KEYS);
    assert.deepEqual(ops, ['new primary 0', 'new secondary 1', 'swap', 'del secondary', 'new secondary 2']);
    assert.equal(dco.slotOf(2), 'secondary');
    assert.equal(dco.slotOf(1), 'primary');
  });

  it('handles a renegotiation that replaces the lame duck before the swap', () => {
    const { ops, dco } = recorder();
    dco.install(0, KEYS);
    dco.install(1, KEYS);
    dco.update(0, 1);
    // the next soft reset frees key 0; key 1 is the only usable one, still in the secondary slot
    dco.update(1, undefined);
    assert.deepEqual(ops, ['new primary 0', 'new secondary 1', 'swap', 'del secondary']);
    assert.equal(dco.installedCount, 1);
  });

  it('wipes both slots when no key is usable, and refuses a key it never installed', () => {
    const { ops, dco } = recorder();
    dco.install(3, KEYS);
    assert.throws(() => dco.update(4, undefined), /mismatch/);
    dco.update(undefined, undefined);
    assert.deepEqual(ops, ['new primary 3', 'del primary', 'del secondary']);
    assert.equal(dco.installedCount, 0);
    dco.install(5, KEYS);
    assert.equal(dco.slotOf(5), 'primary');
  });
});
