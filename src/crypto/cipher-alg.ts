/**
 * The AEAD ciphers ovpn supports (spec ovpn-kernel §2.2, §3.2) and their key sizes.
 * Values are the netlink `cipher-alg` enum.
 */
import { einval } from '../errors/ovpn-error.js';

export const CipherAlg = {
  NONE: 0,
  AES_GCM: 1,
  CHACHA20_POLY1305: 2,
} as const;
export type CipherAlg = (typeof CipherAlg)[keyof typeof CipherAlg];

/** YNL names of the enum, indexed by value. */
export const CIPHER_ALG_NAMES = ['none', 'aes-gcm', 'chacha20-poly1305'] as const;

/**
 * OpenSSL cipher name for `alg` with a key of `keyLen` bytes. Throws EINVAL for `none` (the kernel
 * refuses it as unsupported) and for a key length the cipher does not take (the kernel's crypto API
 * refuses it with EINVAL too).
 */
export function evpCipherName(alg: number, keyLen: number): string {
  if (alg === CipherAlg.AES_GCM) {
    if (keyLen === 16) return 'aes-128-gcm';
    if (keyLen === 24) return 'aes-192-gcm';
    if (keyLen === 32) return 'aes-256-gcm';
    throw einval(`AES-GCM takes a 16, 24 or 32-byte key, not ${keyLen} bytes`, 'cipher-key');
  }
  if (alg === CipherAlg.CHACHA20_POLY1305) {
    if (keyLen === 32) return 'chacha20-poly1305';
    throw einval(`ChaCha20-Poly1305 takes a 32-byte key, not ${keyLen} bytes`, 'cipher-key');
  }
  throw einval(`unsupported cipher ${alg}`, 'cipher-alg');
}
