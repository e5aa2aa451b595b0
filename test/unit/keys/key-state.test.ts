import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CipherAlg } from '../../../src/crypto/cipher-alg.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import { KeySlot } from '../../../src/keys/key-slot.js';
import { KeySlotName, KeyState } from '../../../src/keys/key-state.js';

const key = (keyId: number) =>
  new KeySlot({
    keyId,
    cipherAlg: CipherAlg.AES_GCM,
    encrypt: { cipherKey: randomBytes(32), nonceTail: randomBytes(8) },
    decrypt: { cipherKey: randomBytes(32), nonceTail: randomBytes(8) },
  });

describe('key slots', () => {
  it('TX uses the primary; RX finds either slot by key-id, primary first', () => {
    const s = new KeyState();
    assert.equal(s.primary(), undefined);
    const k0 = key(0);
    const k1 = key(1);
    s.install(KeySlotName.PRIMARY, k0);
    s.install(KeySlotName.SECONDARY, k1);
    assert.equal(s.primary(), k0);
    assert.equal(s.byKeyId(0), k0);
    assert.equal(s.byKeyId(1), k1);
    assert.equal(s.byKeyId(2), undefined);
    const dup = key(1);
    s.install(KeySlotName.PRIMARY, dup);
    assert.equal(s.byKeyId(1), dup, 'the primary wins when both carry the same key-id');
    assert.ok(k0.encrypt.closed, 'replaced key is freed');
    s.close();
  });

  it('swap flips primary and secondary; get follows the logical slot', () => {
    const s = new KeyState();
    const k0 = key(0);
    const k1 = key(1);
    s.install(KeySlotName.PRIMARY, k0);
    s.install(KeySlotName.SECONDARY, k1);
    s.swap();
    assert.equal(s.primary(), k1);
    assert.equal(s.get(KeySlotName.PRIMARY), k1);
    assert.equal(s.get(KeySlotName.SECONDARY), k0);
    // a new key for the secondary slot now replaces k0, the old primary
    const k2 = key(2);
    s.install(KeySlotName.SECONDARY, k2);
    assert.ok(k0.encrypt.closed && k0.decrypt.closed);
    assert.equal(s.byKeyId(0), undefined);
    s.close();
  });

  it('swap with an empty secondary leaves no primary (TX stops until a key is installed)', () => {
    const s = new KeyState();
    s.install(KeySlotName.PRIMARY, key(0));
    s.swap();
    assert.equal(s.primary(), undefined);
    assert.equal(s.byKeyId(0)?.keyId, 0, 'RX still finds the old key');
    s.close();
  });

  it('del empties a slot, frees its key, and is silent on an empty slot', () => {
    const s = new KeyState();
    const k0 = key(0);
    s.install(KeySlotName.PRIMARY, k0);
    s.del(KeySlotName.SECONDARY);
    s.del(KeySlotName.PRIMARY);
    s.del(KeySlotName.PRIMARY);
    assert.equal(s.primary(), undefined);
    assert.ok(k0.encrypt.closed);
  });

  it('kill removes the key with that id from whichever slot, once', () => {
    const s = new KeyState();
    const k3 = key(3);
    s.install(KeySlotName.SECONDARY, k3);
    assert.equal(s.kill(5), false, 'empty primary and other ids never match');
    assert.equal(s.kill(3), true);
    assert.equal(s.kill(3), false);
    assert.ok(k3.encrypt.closed);
  });

  it('a key slot refuses key-ids outside 0..7', () => {
    for (const keyId of [-1, 8, 1.5]) {
      assert.throws(
        () => key(keyId),
        (e: unknown) => e instanceof OvpnError && e.code === 'EINVAL',
      );
    }
  });

  it('a bad decrypt key does not leak the encrypt context', () => {
    assert.throws(
      () =>
        new KeySlot({
          keyId: 0,
          cipherAlg: CipherAlg.AES_GCM,
          encrypt: { cipherKey: randomBytes(32), nonceTail: randomBytes(8) },
          decrypt: { cipherKey: randomBytes(5), nonceTail: randomBytes(8) },
        }),
      (e: unknown) => e instanceof OvpnError && e.code === 'EINVAL' && e.attr === 'cipher-key',
    );
  });
});
