/**
 * One installed data-channel key (the kernel's `ovpn_crypto_key_slot`): a key-id, an AEAD context per
 * direction, the TX packet-id counter and the RX replay window. Fixed at creation: a rekey installs a
 * new KeySlot rather than changing this one. `close()` frees the OpenSSL contexts and wipes what we hold.
 */
import { AeadContext } from '../crypto/aead.js';
import { einval } from '../errors/ovpn-error.js';
import { ReplayWindow } from '../pktid/replay.js';
import { TxPacketId } from '../pktid/xmit.js';
import { KEY_ID_MAX } from '../wire/opcode.js';

/** One direction's key material, as the netlink `keydir` nest carries it. */
export interface KeyDirConfig {
  /** Cipher key: 16/24/32 bytes for AES-GCM, 32 for ChaCha20-Poly1305. */
  cipherKey: Buffer;
  /** 8 bytes: the implicit IV that completes the nonce. */
  nonceTail: Buffer;
}

/** What `key-new` installs. */
export interface KeyConfig {
  keyId: number;
  /** netlink cipher-alg: 1 = aes-gcm, 2 = chacha20-poly1305. */
  cipherAlg: number;
  encrypt: KeyDirConfig;
  decrypt: KeyDirConfig;
}

export class KeySlot {
  readonly keyId: number;
  readonly cipherAlg: number;
  readonly encrypt: AeadContext;
  readonly decrypt: AeadContext;
  readonly txPktId = new TxPacketId();
  readonly replay = new ReplayWindow();

  /** Throws EINVAL for a bad key-id, cipher, key length or nonce tail. Copies the key material. */
  constructor(cfg: KeyConfig) {
    if (!Number.isInteger(cfg.keyId) || cfg.keyId < 0 || cfg.keyId > KEY_ID_MAX) {
      throw einval(`key-id must be 0..${KEY_ID_MAX}`, 'key-id');
    }
    this.keyId = cfg.keyId;
    this.cipherAlg = cfg.cipherAlg;
    this.encrypt = new AeadContext(cfg.cipherAlg, cfg.encrypt.cipherKey, cfg.encrypt.nonceTail, 'encrypt');
    try {
      this.decrypt = new AeadContext(cfg.cipherAlg, cfg.decrypt.cipherKey, cfg.decrypt.nonceTail, 'decrypt');
    } catch (e) {
      this.encrypt.close();
      throw e;
    }
  }

  /** Frees both directions. Idempotent. */
  close(): void {
    this.encrypt.close();
    this.decrypt.close();
  }
}
