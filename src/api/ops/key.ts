/**
 * key-new, key-get, key-swap, key-del (spec ovpn-kernel §2.4, §3.3). Key material never leaves the
 * process: key-get reports slot, key-id and cipher only. The buffers holding key bytes in a request are
 * wiped once the key is installed.
 */

import type { OvpnDevice } from '../../device/ovpn-device.js';
import { einval, enoent } from '../../errors/ovpn-error.js';
import { KeySlot } from '../../keys/key-slot.js';
import type { KeySlotName } from '../../keys/key-state.js';
import { type Attrs, get, required } from '../attrs.js';
import type { KeyInfo } from '../messages.js';
import { CIPHER_ALGS, KEY_SLOTS } from '../spec.js';

function peerOf(dev: OvpnDevice, id: number) {
  const peer = dev.peers.getById(id);
  if (peer === undefined) throw enoent(`no peer with id ${id}`, 'peer-id');
  return peer;
}

function keyDir(k: Attrs, name: 'encrypt-dir' | 'decrypt-dir', cipherAlg: number) {
  const dir = required(get.nest(k, name), name);
  if (cipherAlg !== 1 && cipherAlg !== 2) throw einval('unsupported cipher', 'cipher-alg');
  return {
    cipherKey: required(get.bytes(dir, 'cipher-key'), 'cipher-key'),
    nonceTail: required(get.bytes(dir, 'nonce-tail'), 'nonce-tail'),
  };
}

export function keyNew(dev: OvpnDevice, k: Attrs): void {
  const peerId = required(get.u32(k, 'peer-id'), 'peer-id');
  const slot = required(get.u32(k, 'slot'), 'slot') as KeySlotName;
  const keyId = required(get.u32(k, 'key-id'), 'key-id');
  const cipherAlg = required(get.u32(k, 'cipher-alg'), 'cipher-alg');
  required(get.nest(k, 'encrypt-dir'), 'encrypt-dir');
  required(get.nest(k, 'decrypt-dir'), 'decrypt-dir');
  const encrypt = keyDir(k, 'encrypt-dir', cipherAlg);
  const decrypt = keyDir(k, 'decrypt-dir', cipherAlg);
  try {
    const peer = peerOf(dev, peerId);
    peer.keys.install(slot, new KeySlot({ keyId, cipherAlg, encrypt, decrypt }));
  } finally {
    for (const b of [encrypt.cipherKey, encrypt.nonceTail, decrypt.cipherKey, decrypt.nonceTail]) b.fill(0);
  }
}

export function keyGet(dev: OvpnDevice, k: Attrs): KeyInfo {
  const peerId = required(get.u32(k, 'peer-id'), 'peer-id');
  const slot = required(get.u32(k, 'slot'), 'slot') as KeySlotName;
  const ks = peerOf(dev, peerId).keys.get(slot);
  if (ks === undefined) throw enoent(`no key in the ${KEY_SLOTS[slot]} slot of peer ${peerId}`, 'slot');
  return {
    'peer-id': peerId,
    slot: KEY_SLOTS[slot],
    'key-id': ks.keyId,
    'cipher-alg': CIPHER_ALGS[ks.cipherAlg] as KeyInfo['cipher-alg'],
  };
}

export function keySwap(dev: OvpnDevice, k: Attrs): void {
  peerOf(dev, required(get.u32(k, 'peer-id'), 'peer-id')).keys.swap();
}

export function keyDel(dev: OvpnDevice, k: Attrs): void {
  const peerId = required(get.u32(k, 'peer-id'), 'peer-id');
  const slot = required(get.u32(k, 'slot'), 'slot') as KeySlotName;
  peerOf(dev, peerId).keys.del(slot);
}
