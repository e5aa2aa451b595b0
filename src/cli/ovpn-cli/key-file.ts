/**
 * The selftests' key file (spec ovpn-kernel §7.2, `data64.key`): base64 text of which only the first
 * 256 characters are read. The decoded bytes must be at least 72: key A (0..31), key B (32..63) and an
 * 8-byte nonce tail (64..71). Key direction 0 encrypts with A and decrypts with B, direction 1 the other
 * way round; the same nonce tail serves both directions, and keys are always 32 bytes.
 *
 * Base64 is checked the way mbedTLS (the tool's decoder) does: line breaks anywhere, blanks only at
 * the end of a line, '=' only as padding; a trailing partial group (the 256-character cut falls
 * anywhere in a multi-line file) is dropped.
 */
import { readFileSync } from 'node:fs';

export const KEY_LEN = 32;
export const NONCE_LEN = 8;
/** Characters of the file that are read. */
export const KEY_FILE_READ = 256;

export interface KeyMaterial {
  encryptKey: Buffer;
  decryptKey: Buffer;
  nonceTail: Buffer;
}

export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

/** Decodes base64 text as the tool does; throws KeyFileError on invalid text. */
export function decodeKeyText(text: string): Buffer {
  const clean: string[] = [];
  let padding = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const body = line.replace(/ +$/, '');
    if (/[^A-Za-z0-9+/=]/.test(body)) throw new KeyFileError('invalid character in base64 key text');
    for (const ch of body) {
      if (ch === '=') {
        if (++padding > 2) throw new KeyFileError('too much base64 padding');
      } else if (padding > 0) throw new KeyFileError('base64 data after padding');
    }
    clean.push(body.replace(/=/g, ''));
  }
  const b64 = clean.join('');
  const whole = b64.length - (b64.length % 4 === 1 ? 1 : 0);
  return Buffer.from(b64.slice(0, whole), 'base64');
}

/** Splits decoded key bytes by direction. */
export function keyMaterial(bytes: Buffer, keyDir: 0 | 1): KeyMaterial {
  const need = 2 * KEY_LEN + NONCE_LEN;
  if (bytes.length < need)
    throw new KeyFileError(`not enough data in key file, found ${bytes.length}B but needs ${need}B`);
  const a = Buffer.from(bytes.subarray(0, KEY_LEN));
  const b = Buffer.from(bytes.subarray(KEY_LEN, 2 * KEY_LEN));
  const nonceTail = Buffer.from(bytes.subarray(2 * KEY_LEN, need));
  return keyDir === 0
    ? { encryptKey: a, decryptKey: b, nonceTail }
    : { encryptKey: b, decryptKey: a, nonceTail };
}

/** Reads `path` and returns its key material for `keyDir`; throws KeyFileError. */
export function readKeyFile(path: string, keyDir: 0 | 1): KeyMaterial {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    throw new KeyFileError(`cannot open: ${path}`);
  }
  return keyMaterial(decodeKeyText(data.subarray(0, KEY_FILE_READ).toString('latin1')), keyDir);
}

/** The key-new message of a peer. */
export function keyNewMsg(
  ifindex: number,
  k: { peerId: number; slot: 'primary' | 'secondary'; keyId: number; cipher: string },
  m: KeyMaterial,
): unknown {
  const dir = (key: Buffer) => ({
    'cipher-key': key.toString('hex'),
    'nonce-tail': m.nonceTail.toString('hex'),
  });
  return {
    ifindex,
    keyconf: {
      'peer-id': k.peerId,
      slot: k.slot,
      'key-id': k.keyId,
      'cipher-alg': k.cipher,
      'encrypt-dir': dir(m.encryptKey),
      'decrypt-dir': dir(m.decryptKey),
    },
  };
}
