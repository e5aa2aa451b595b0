/**
 * Data channel key material (openvpn-protocol.md §3): the 256-byte `key2` from TLS-EKM or from
 * OpenVPN's legacy PRF, and the per-direction AEAD key and implicit IV taken from it.
 *
 * key2 layout (crypto.h struct key2), four 64-byte slots:
 * ```
 *   0.. 63  keys[0].cipher   client -> server cipher key
 *  64..127  keys[0].hmac     client -> server; AEAD: implicit IV = its first iv_len - 4 bytes
 * 128..191  keys[1].cipher   server -> client cipher key
 * 192..255  keys[1].hmac     server -> client
 * ```
 * The TLS client encrypts with keys[0] and decrypts with keys[1]; the TLS server the other way round
 * (ssl.c init_key_contexts: KEY_DIRECTION_NORMAL / INVERSE, crypto.c key_direction_state_init).
 */
import { createHmac } from 'node:crypto';
import { einval } from '../errors/ovpn-error.js';
import type { KeySource, Role } from './key-method2.js';

/** Bytes of a key2 (2 × (64 cipher + 64 hmac)). */
export const KEY2_LEN = 256;
const SLOT_LEN = 64;
/** RFC 5705 label for the data keys (ssl_backend.h EXPORT_KEY_DATA_LABEL); call it with no context. */
export const EKM_DATA_KEYS_LABEL = 'EXPORTER-OpenVPN-datakeys';
/** Session ids are 8 bytes (session_id.h SID_SIZE). */
export const SESSION_ID_LEN = 8;

/**
 * key2 from TLS-EKM (ssl.c generate_key_expansion_tls_export): the caller exports 256 bytes with the
 * label above and **no** context (Node: `tlsSocket.exportKeyingMaterial(256, EKM_DATA_KEYS_LABEL)`
 * with the third argument left out), from the TLS session of this key-id.
 */
export function key2FromEkm(exported: Buffer): Buffer {
  if (exported.length !== KEY2_LEN)
    throw einval(`TLS-EKM must give ${KEY2_LEN} bytes, not ${exported.length}`);
  return Buffer.from(exported);
}

/** P_hash of RFC 2246 §5: HMAC(secret, A(i) || seed) with A(0) = seed, A(i) = HMAC(secret, A(i-1)). */
function pHash(digest: 'md5' | 'sha1', secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  let a = seed;
  while (have < length) {
    a = createHmac(digest, secret).update(a).digest();
    const block = createHmac(digest, secret).update(a).update(seed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * The TLS 1.0/1.1 PRF (RFC 2246 §5; crypto_openssl.c ssl_tls1_PRF): the secret's two halves of
 * ceil(len/2) bytes (overlapping by one byte when the length is odd) key P_MD5 and P_SHA1, XORed.
 * OpenVPN passes the label as the start of the seed.
 */
export function tls1Prf(secret: Buffer, seed: Buffer, length: number): Buffer {
  const half = Math.ceil(secret.length / 2);
  const md5 = pHash('md5', secret.subarray(0, half), seed, length);
  const sha1 = pHash('sha1', secret.subarray(secret.length - half), seed, length);
  for (let i = 0; i < length; i++) md5[i] ^= sha1[i];
  return md5;
}

export interface LegacyPrfInput {
  /** The client's key source: pre-master, random1, random2 (from the client's key-method 2 message). */
  client: KeySource;
  /** The server's key source: random1, random2. */
  server: KeySource;
  /** The TLS client's own session id and the TLS server's own session id, 8 bytes each. */
  clientSessionId: Buffer;
  serverSessionId: Buffer;
}

/**
 * key2 from OpenVPN's own PRF, used when TLS-EKM was not negotiated (ssl.c
 * generate_key_expansion_openvpn_prf, openvpn_PRF):
 * ```
 * master = PRF(client.pre_master, "OpenVPN master secret" || client.random1 || server.random1, 48)
 * key2   = PRF(master, "OpenVPN key expansion" || client.random2 || server.random2
 *                      || client session id || server session id, 256)
 * ```
 * Labels without NUL or trailing space. Both sides compute the same key2; with a 2.6 UDP server the
 * server's session id is its HMAC cookie.
 */
export function key2FromLegacyPrf(input: LegacyPrfInput): Buffer {
  const { client, server } = input;
  if (client.preMaster?.length !== 48) throw einval('legacy PRF: the client pre-master is 48 bytes');
  for (const r of [client.random1, client.random2, server.random1, server.random2]) {
    if (r.length !== 32) throw einval('legacy PRF: randoms are 32 bytes');
  }
  if (input.clientSessionId.length !== SESSION_ID_LEN || input.serverSessionId.length !== SESSION_ID_LEN) {
    throw einval('legacy PRF: session ids are 8 bytes');
  }
  const master = tls1Prf(
    client.preMaster,
    Buffer.concat([Buffer.from('OpenVPN master secret', 'latin1'), client.random1, server.random1]),
    48,
  );
  const key2 = tls1Prf(
    master,
    Buffer.concat([
      Buffer.from('OpenVPN key expansion', 'latin1'),
      client.random2,
      server.random2,
      input.clientSessionId,
      input.serverSessionId,
    ]),
    KEY2_LEN,
  );
  master.fill(0);
  return key2;
}

/** The AEAD data ciphers the data plane runs, with their key and IV sizes. */
export const AEAD_CIPHERS = {
  'AES-128-GCM': { keyLen: 16, ivLen: 12 },
  'AES-192-GCM': { keyLen: 24, ivLen: 12 },
  'AES-256-GCM': { keyLen: 32, ivLen: 12 },
  'CHACHA20-POLY1305': { keyLen: 32, ivLen: 12 },
} as const;
export type AeadCipherName = keyof typeof AEAD_CIPHERS;

/** Looks a data cipher name up, case-insensitively as OpenVPN's cipher names are. */
export function aeadCipher(name: string): { name: AeadCipherName; keyLen: number; ivLen: number } {
  const upper = name.toUpperCase();
  if (!Object.hasOwn(AEAD_CIPHERS, upper)) throw einval(`${name} is not an AEAD data cipher we support`);
  const c = AEAD_CIPHERS[upper as AeadCipherName];
  return { name: upper as AeadCipherName, keyLen: c.keyLen, ivLen: c.ivLen };
}

/** One direction's key: the cipher key and the implicit IV (the nonce tail after the packet-id). */
export interface DirectionKey {
  key: Buffer;
  /** iv_len - 4 bytes (8 for every AEAD cipher we run): nonce = packet-id (4) || nonceTail. */
  nonceTail: Buffer;
}

export interface DataChannelKeys {
  cipher: AeadCipherName;
  encrypt: DirectionKey;
  decrypt: DirectionKey;
}

function slot(key2: Buffer, index: number): Buffer {
  return key2.subarray(index * SLOT_LEN, (index + 1) * SLOT_LEN);
}

/**
 * Splits key2 for `role` (ssl.c init_key_contexts and key_ctx_update_implicit_iv): the client encrypts
 * with keys[0] (c2s) and decrypts with keys[1] (s2c); the server the reverse. Each key is the first
 * keyLen bytes of its cipher slot, each implicit IV the first ivLen - 4 bytes of the matching hmac
 * slot. The returned buffers are copies.
 */
export function dataChannelKeys(key2: Buffer, role: Role, cipherName: string): DataChannelKeys {
  if (key2.length !== KEY2_LEN) throw einval(`key2 is ${KEY2_LEN} bytes, not ${key2.length}`);
  const c = aeadCipher(cipherName);
  const tailLen = c.ivLen - 4;
  const dir = (k: 0 | 1): DirectionKey => ({
    key: Buffer.from(slot(key2, 2 * k).subarray(0, c.keyLen)),
    nonceTail: Buffer.from(slot(key2, 2 * k + 1).subarray(0, tailLen)),
  });
  const out: 0 | 1 = role === 'client' ? 0 : 1;
  return { cipher: c.name, encrypt: dir(out), decrypt: dir(out === 0 ? 1 : 0) };
}
