/**
 * Key files of the control-channel wrappers, text in, bytes out (reading the file is the caller's):
 *
 * - the OpenVPN static key (tls-auth, tls-crypt): 256 bytes of hex between
 *   `-----BEGIN OpenVPN Static key V1-----` and `-----END OpenVPN Static key V1-----`
 *   (spec openvpn-protocol §4.6; 2.6 `read_key_file`, `crypto_read_openvpn_key`);
 * - the tls-crypt-v2 PEM keys: "OpenVPN tls-crypt-v2 server key" (one `struct key`, 128 bytes) and
 *   "OpenVPN tls-crypt-v2 client key" (Kc, 256 bytes, then WKc) (spec §4.7; `read_pem_key_file`,
 *   `tls_crypt_v2_init_client_key`, `tls_crypt_v2_init_server_key`).
 *
 * The 256 bytes are a `struct key2` (spec §3.1):
 *
 * ```
 *   0..63    keys[0].cipher      64..127  keys[0].hmac
 *   128..191 keys[1].cipher      192..255 keys[1].hmac
 * ```
 *
 * Each algorithm takes a prefix of its 64-byte slot. Which slot sends and which receives is the key
 * direction (`key_direction_state_init`): NORMAL sends with keys[0] and receives with keys[1], INVERSE the
 * other way round, BIDIRECTIONAL uses keys[0] both ways. tls-auth takes it from `key-direction` (or the
 * second argument of `tls-auth`); tls-crypt and tls-crypt-v2 fix it: server NORMAL, client INVERSE
 * (`tls_crypt_init_key`, `tls_crypt_v2_load_client_key`).
 *
 * Errors are configuration errors: `OvpnError` EINVAL with the option name as attribute.
 */
import { einval } from '../errors/ovpn-error.js';

export const STATIC_KEY_SIZE = 256;
/** One direction's `struct key`: cipher slot then HMAC slot. */
export const KEY_SLOT_SIZE = 128;
export const KEY_PART_SIZE = 64;
export const STATIC_KEY_HEAD = '-----BEGIN OpenVPN Static key V1-----';
export const STATIC_KEY_FOOT = '-----END OpenVPN Static key V1-----';
export const TLS_CRYPT_V2_CLIENT_PEM = 'OpenVPN tls-crypt-v2 client key';
export const TLS_CRYPT_V2_SERVER_PEM = 'OpenVPN tls-crypt-v2 server key';
/** Largest wrapped client key (`TLS_CRYPT_V2_MAX_WKC_LEN`). */
export const TLS_CRYPT_V2_MAX_WKC_LEN = 1024;

/** One direction of a key2: views of the 64-byte cipher and HMAC slots. */
export interface KeySlot {
  readonly cipher: Buffer;
  readonly hmac: Buffer;
}

/** The slot `index` (0 or 1) of a 256-byte key2, as views. */
export function keySlot(key2: Buffer, index: 0 | 1): KeySlot {
  const base = index * KEY_SLOT_SIZE;
  return {
    cipher: key2.subarray(base, base + KEY_PART_SIZE),
    hmac: key2.subarray(base + KEY_PART_SIZE, base + KEY_SLOT_SIZE),
  };
}

/** 2.6's KEY_DIRECTION_NORMAL / INVERSE / BIDIRECTIONAL. */
export type KeyDirection = 'normal' | 'inverse' | 'bidirectional';

/**
 * The direction of `key-direction N` / `tls-auth file N`: "0" → normal, "1" → inverse, absent →
 * bidirectional (`ascii2keydirection`). Throws EINVAL for anything else.
 */
export function parseKeyDirection(arg: string | undefined): KeyDirection {
  if (arg === undefined) return 'bidirectional';
  if (arg === '0') return 'normal';
  if (arg === '1') return 'inverse';
  throw einval(`key-direction must be 0 or 1, not ${JSON.stringify(arg.slice(0, 20))}`, 'key-direction');
}

/** Which slot sends and which receives under `dir`. */
export function directionSlots(key2: Buffer, dir: KeyDirection): { send: KeySlot; recv: KeySlot } {
  checkKey2(key2);
  const out = dir === 'inverse' ? 1 : 0;
  const inp = dir === 'normal' ? 1 : 0;
  return { send: keySlot(key2, out), recv: keySlot(key2, inp) };
}

/** tls-crypt and tls-crypt-v2 fix the direction by role: server normal, client inverse. */
export function tlsCryptDirection(role: 'client' | 'server'): KeyDirection {
  return role === 'server' ? 'normal' : 'inverse';
}

function checkKey2(key2: Buffer): void {
  if (key2.length !== STATIC_KEY_SIZE) throw einval(`a static key is ${STATIC_KEY_SIZE} bytes`, 'key');
}

const HEX = /^[0-9a-fA-F]$/;
const SPACE = /^[ \t\r\v\f]$/;

/**
 * Reads an OpenVPN static key as 2.6's `read_key_file` does:
 * - lines before the header line are skipped (the `#` comments `--genkey` writes); the header must start
 *   its line; the rest of the header line is ignored;
 * - on the following lines hex digits are read two by two and white space is skipped; any other character
 *   before the 256th byte is an error (2.6 fails with "Non-Hex character"), anything after it is ignored;
 * - a line starting with `-` ends the data and must be the footer;
 * - exactly 256 bytes are required ("free-form passphrase file is not supported anymore").
 *
 * `attr` names the option in errors (`tls-auth`, `tls-crypt`, `secret`). Returns a new 256-byte Buffer.
 */
export function parseStaticKey(text: string, attr = 'tls-auth'): Buffer {
  const out = Buffer.alloc(STATIC_KEY_SIZE);
  let count = 0;
  let state: 'initial' | 'data' | 'foot' | 'finished' = 'initial';
  let half = -1;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length && state !== 'finished'; n++) {
    const line = lines[n];
    if (state === 'initial') {
      if (line.startsWith(STATIC_KEY_HEAD)) state = 'data';
      continue;
    }
    if (line.length === 0) continue;
    if (line[0] === '-') {
      if (!line.startsWith(STATIC_KEY_FOOT)) break;
      state = 'finished';
      continue;
    }
    if (count === STATIC_KEY_SIZE) continue;
    for (const c of line) {
      if (HEX.test(c)) {
        const v = Number.parseInt(c, 16);
        if (half < 0) half = v;
        else {
          out[count++] = (half << 4) | v;
          half = -1;
          if (count === STATIC_KEY_SIZE) break;
        }
      } else if (!SPACE.test(c)) {
        out.fill(0);
        throw einval(`non-hex character in static key at line ${n + 1}`, attr);
      }
    }
  }
  if (state === 'initial') throw einval(`no "${STATIC_KEY_HEAD}" line in the static key`, attr);
  if (count !== STATIC_KEY_SIZE) {
    out.fill(0);
    throw einval(`static key has ${count} bytes, needs ${STATIC_KEY_SIZE}`, attr);
  }
  if (state !== 'finished') {
    out.fill(0);
    throw einval(`no "${STATIC_KEY_FOOT}" line in the static key`, attr);
  }
  return out;
}

/** `key2` in the format `openvpn --genkey secret` writes (16 lines of 32 hex digits). */
export function formatStaticKey(key2: Buffer): string {
  checkKey2(key2);
  const hex = key2.toString('hex');
  const lines = ['#', '# 2048 bit OpenVPN static key', '#', STATIC_KEY_HEAD];
  for (let i = 0; i < hex.length; i += 32) lines.push(hex.slice(i, i + 32));
  lines.push(STATIC_KEY_FOOT, '');
  return lines.join('\n');
}

const B64_LINE = /^[A-Za-z0-9+/=]*$/;

/**
 * The bytes of the first PEM block in `text`, which must be labelled `label` (2.6 reads the first block
 * and compares its name, `crypto_pem_decode`). Text before the BEGIN line is skipped. Throws EINVAL.
 */
export function parsePem(text: string, label: string, attr: string): Buffer {
  const lines = text.split('\n').map((l) => l.trim());
  const begin = lines.findIndex((l) => /^-----BEGIN .*-----$/.test(l));
  if (begin < 0) throw einval(`no PEM block (expected "${label}")`, attr);
  const found = lines[begin].slice(11, -5);
  if (found !== label) throw einval(`PEM block is "${found.slice(0, 60)}", expected "${label}"`, attr);
  const end = lines.indexOf(`-----END ${label}-----`, begin + 1);
  if (end < 0) throw einval(`no END line for "${label}"`, attr);
  const body = lines.slice(begin + 1, end).filter((l) => l.length > 0);
  if (!body.every((l) => B64_LINE.test(l))) throw einval(`"${label}" is not base64`, attr);
  const b64 = body.join('');
  if (b64.length % 4 !== 0 || /=[^=]/.test(b64)) throw einval(`"${label}" is not base64`, attr);
  return Buffer.from(b64, 'base64');
}

/** `data` as a PEM block labelled `label` (64 characters a line, as OpenSSL writes). */
export function formatPem(data: Buffer, label: string): string {
  const b64 = data.toString('base64');
  const lines = [`-----BEGIN ${label}-----`];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(`-----END ${label}-----`, '');
  return lines.join('\n');
}

/** A tls-crypt-v2 client key file: the client's own tls-crypt key2 and its wrapped copy for the server. */
export interface TlsCryptV2ClientKey {
  /** Kc: 256 bytes, used as a tls-crypt key (client INVERSE). */
  readonly key2: Buffer;
  /** WKc: sent after the client's hard reset V3 and P_CONTROL_WKC_V1 (wrap/tls-crypt-v2.ts). */
  readonly wkc: Buffer;
}

/**
 * Reads a "OpenVPN tls-crypt-v2 client key" PEM: Kc (256 bytes) || WKc. Besides what 2.6 checks (at least
 * 256 bytes, at most 256 + 1024), the WKc's own length field (its last 2 bytes, BE) must equal its length
 * and cover tag + Kc: a key that fails this would be refused by every server anyway.
 */
export function parseTlsCryptV2ClientKey(text: string): TlsCryptV2ClientKey {
  const attr = 'tls-crypt-v2';
  const data = parsePem(text, TLS_CRYPT_V2_CLIENT_PEM, attr);
  if (data.length < STATIC_KEY_SIZE) throw einval('tls-crypt-v2 client key is too short', attr);
  const wkc = data.subarray(STATIC_KEY_SIZE);
  if (wkc.length > TLS_CRYPT_V2_MAX_WKC_LEN) throw einval('tls-crypt-v2 wrapped key is too long', attr);
  if (wkc.length < 32 + STATIC_KEY_SIZE + 2 || wkc.readUInt16BE(wkc.length - 2) !== wkc.length) {
    throw einval('tls-crypt-v2 wrapped key has a bad length', attr);
  }
  return { key2: data.subarray(0, STATIC_KEY_SIZE), wkc };
}

/** The server's tls-crypt-v2 key: one `struct key`; AES-256-CTR and HMAC-SHA256 take 32 bytes each. */
export interface TlsCryptV2ServerKey {
  /** 32 bytes: the cipher slot's prefix (Ke). */
  readonly cipher: Buffer;
  /** 32 bytes: the HMAC slot's prefix (Ka). */
  readonly hmac: Buffer;
}

/** A server key from its 128 raw bytes (cipher slot 64 || hmac slot 64). */
export function tlsCryptV2ServerKey(raw: Buffer): TlsCryptV2ServerKey {
  if (raw.length !== KEY_SLOT_SIZE)
    throw einval(`tls-crypt-v2 server key is ${KEY_SLOT_SIZE} bytes`, 'tls-crypt-v2');
  return { cipher: raw.subarray(0, 32), hmac: raw.subarray(KEY_PART_SIZE, KEY_PART_SIZE + 32) };
}

/**
 * Reads a "OpenVPN tls-crypt-v2 server key" PEM. 2.6 accepts up to 128 bytes into a `struct key` (a shorter
 * one leaves the rest zero); this requires exactly 128, what `--genkey tls-crypt-v2-server` writes.
 */
export function parseTlsCryptV2ServerKey(text: string): TlsCryptV2ServerKey {
  return tlsCryptV2ServerKey(parsePem(text, TLS_CRYPT_V2_SERVER_PEM, 'tls-crypt-v2'));
}
