/**
 * The key-method 2 message: the first plaintext each side writes into TLS (openvpn-protocol.md §5.1,
 * OpenVPN 2.6 ssl.c key_method_2_write / key_method_2_read, write_string / read_string), and the
 * peer-info block a client puts at its end (§5.2, ssl.c push_peer_info).
 *
 * ```
 * 4   uint32, written as 0 (the reader skips it without looking)
 * 1   key method 2 (the reader checks the low 4 bits only)
 * 48  pre-master secret         client only
 * 32  random1
 * 32  random2
 * str options (OCC) string      ≤ 512 bytes with its NUL
 * str username                  absent: a zero length
 * str password
 * str peer-info                 newline-terminated VAR=VALUE lines; the server sends none
 * ```
 * A string is a u16 big-endian length that counts a trailing NUL, then the bytes, then the NUL. An
 * absent string is a length of 0 and nothing else; an empty one written by write_string is `00 01 00`.
 * The reader discards whatever follows the message in the same read, so it must go in a TLS write of
 * its own and stay under 2048 bytes (TLS_CHANNEL_BUF_SIZE).
 */
import { einval } from '../errors/ovpn-error.js';

export const KEY_METHOD_2 = 2;
const KEY_METHOD_MASK = 0x0f;
/** Longest options string with its NUL (ssl.h TLS_OPTIONS_LEN). */
export const TLS_OPTIONS_LEN = 512;
/** Longest username or password with its NUL that a 2.6 server takes (misc.h USER_PASS_LEN). */
export const USER_PASS_LEN = 128;
/** One plaintext read of the peer; keep the whole message below it (common.h TLS_CHANNEL_BUF_SIZE). */
export const KEY_METHOD_2_MAX = 2048;

export const PRE_MASTER_LEN = 48;
export const RANDOM_LEN = 32;

/** The key source one side contributes; only the legacy PRF uses it (§3.4), but it is always sent. */
export interface KeySource {
  /** 48 bytes, client only. */
  preMaster?: Buffer;
  random1: Buffer;
  random2: Buffer;
}

export interface KeyMethod2Message {
  keySource: KeySource;
  /** The OCC options string (§6). */
  options: string;
  /**
   * Absent (a zero length) when undefined. With credentials, a client sends both. The password may
   * be given as bytes (which the caller can zero afterwards).
   */
  username?: string;
  password?: string | Uint8Array;
  /** The peer-info block (see `buildPeerInfo`); absent when undefined (a server sends none). */
  peerInfo?: string;
}

export interface DecodedKeyMethod2 extends Omit<KeyMethod2Message, 'password'> {
  password?: string;
  /**
   * The username or password was longer than USER_PASS_LEN: a 2.6 server skips it and fails the
   * authentication with "Username or password is too long" instead of failing the TLS session.
   */
  credentialsTooLong: boolean;
}

export type Role = 'client' | 'server';

function stringBytes(s: string | Uint8Array, what: string): Buffer {
  const b =
    typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s.buffer, s.byteOffset, s.byteLength);
  if (b.includes(0)) throw einval(`key-method 2: the ${what} contains a NUL byte`);
  return b;
}

function pushString(
  parts: Buffer[],
  s: string | Uint8Array | undefined,
  what: string,
  maxLen?: number,
): void {
  if (s === undefined) {
    parts.push(Buffer.alloc(2)); // write_empty_string
    return;
  }
  const b = stringBytes(s, what);
  const len = b.length + 1;
  if (len > 0xffff || (maxLen !== undefined && len > maxLen)) {
    throw einval(`key-method 2: the ${what} is ${b.length} bytes, more than ${(maxLen ?? 0x10000) - 1}`);
  }
  const head = Buffer.alloc(2);
  head.writeUInt16BE(len);
  parts.push(head, b, Buffer.alloc(1));
}

/**
 * Encodes the message `role` sends (key_method_2_write). A client must give a 48-byte pre-master
 * secret; a server must not.
 */
export function encodeKeyMethod2(msg: KeyMethod2Message, role: Role): Buffer {
  const ks = msg.keySource;
  if (role === 'client') {
    if (ks.preMaster?.length !== PRE_MASTER_LEN)
      throw einval('key-method 2: a client sends a 48-byte pre-master');
  } else if (ks.preMaster !== undefined) {
    throw einval('key-method 2: a server sends no pre-master');
  }
  if (ks.random1.length !== RANDOM_LEN || ks.random2.length !== RANDOM_LEN) {
    throw einval('key-method 2: random1 and random2 are 32 bytes each');
  }
  if ((msg.username === undefined) !== (msg.password === undefined)) {
    throw einval('key-method 2: username and password go together');
  }
  const parts: Buffer[] = [Buffer.from([0, 0, 0, 0, KEY_METHOD_2])];
  if (role === 'client') parts.push(ks.preMaster!);
  parts.push(ks.random1, ks.random2);
  pushString(parts, msg.options, 'options string', TLS_OPTIONS_LEN);
  pushString(parts, msg.username, 'username');
  pushString(parts, msg.password, 'password');
  pushString(parts, msg.peerInfo, 'peer-info');
  return Buffer.concat(parts);
}

/** Reads the message a peer in `from` role sent (key_method_2_read). Throws EINVAL on a bad one. */
export function decodeKeyMethod2(buf: Buffer, from: Role): DecodedKeyMethod2 {
  let off = 0;
  const take = (n: number, what: string): Buffer => {
    if (off + n > buf.length) throw einval(`key-method 2: message too short for the ${what}`);
    const b = buf.subarray(off, off + n);
    off += n;
    return b;
  };
  take(4, 'leading word'); // skipped unread, as the source does
  const method = take(1, 'key method')[0];
  if ((method & KEY_METHOD_MASK) !== KEY_METHOD_2)
    throw einval(`key-method 2: unknown key method/flags ${method}`);
  const preMaster = from === 'client' ? Buffer.from(take(PRE_MASTER_LEN, 'pre-master')) : undefined;
  const random1 = Buffer.from(take(RANDOM_LEN, 'random1'));
  const random2 = Buffer.from(take(RANDOM_LEN, 'random2'));

  /** read_string: undefined for a zero length; too long = skipped; `null` when cut short. */
  const readString = (capacity: number): { s?: string; tooLong: boolean } | null => {
    if (off + 2 > buf.length) return null;
    const len = buf.readUInt16BE(off);
    off += 2;
    if (len === 0) return { tooLong: false };
    if (off + len > buf.length) return null;
    const raw = buf.subarray(off, off + len - 1); // the last byte is the NUL (the source forces it)
    off += len;
    if (len > capacity) return { tooLong: true };
    const nul = raw.indexOf(0);
    return { s: (nul < 0 ? raw : raw.subarray(0, nul)).toString('utf8'), tooLong: false };
  };

  const options = readString(TLS_OPTIONS_LEN);
  if (!options || options.tooLong) throw einval('key-method 2: failed to read the options string');
  const user = readString(USER_PASS_LEN);
  const pass = user ? readString(USER_PASS_LEN) : null;
  if (!user || !pass) throw einval('key-method 2: message cut short in the username or password');
  // read_string_alloc: no limit, and a missing or cut-short peer-info is just absent
  const info = readString(Number.POSITIVE_INFINITY);
  // anything after the message in the same read is discarded by the source (buf_clear)
  return {
    keySource: preMaster ? { preMaster, random1, random2 } : { random1, random2 },
    options: options.s ?? '',
    username: user.s,
    password: pass.s,
    peerInfo: info?.s,
    credentialsTooLong: user.tooLong || pass.tooLong,
  };
}

// ---- peer-info (§5.2) ----

/** IV_PROTO bits (ssl.h IV_PROTO_*). */
export const IvProto = {
  DATA_V2: 1 << 1,
  REQUEST_PUSH: 1 << 2,
  TLS_KEY_EXPORT: 1 << 3,
  AUTH_PENDING_KW: 1 << 4,
  NCP_P2P: 1 << 5,
  DNS_OPTION: 1 << 6,
  CC_EXIT_NOTIFY: 1 << 7,
  AUTH_FAIL_TEMP: 1 << 8,
  DYN_TLS_CRYPT: 1 << 9,
} as const;

export type PeerInfoPlatform =
  | 'linux'
  | 'solaris'
  | 'openbsd'
  | 'mac'
  | 'netbsd'
  | 'freebsd'
  | 'android'
  | 'win';

export interface PeerInfoOptions {
  /** IV_VER: the version we claim. */
  version: string;
  /** IV_PLAT. Default linux. */
  platform?: PeerInfoPlatform;
  /** `--data-ciphers` in order: IV_CIPHERS, and IV_NCP=2 when both AES-GCM sizes are in it. */
  dataCiphers: readonly string[];
  /** `--pull` (a client): adds IV_MTU, REQUEST_PUSH and the pull-only bits. Default true. */
  pull?: boolean;
  /** IV_MTU: `--tun-max-mtu`, sent with pull only. Default 1600. */
  tunMaxMtu?: number;
  /**
   * Protocol features we implement beyond the always-on DATA_V2 and (with pull) REQUEST_PUSH.
   * Defaults: tlsEkm and ccExit true (our control plane does both); the rest false, because
   * announcing them commits us to behaviour: AUTH_PENDING keywords, AUTH_FAILED,TEMP back-off,
   * `--dns`, and dynamic tls-crypt (which changes the renegotiation wire format, §4.5).
   */
  features?: {
    tlsEkm?: boolean;
    ccExit?: boolean;
    authPendingKeywords?: boolean;
    authFailTemp?: boolean;
    dnsOption?: boolean;
    dynTlsCrypt?: boolean;
  };
  /** IV_LZO_STUB, IV_COMP_STUB, IV_COMP_STUBv2: only if the data plane does the stub framing (§2.5). */
  compressionStubs?: boolean;
  /** `--push-peer-info`: also IV_SSL, IV_PLAT_VER and the UV_ variables. Default false. */
  pushPeerInfo?: boolean;
  /** IV_SSL, sent with pushPeerInfo (OpenVPN sends its TLS library's version). */
  sslVersion?: string;
  /** IV_PLAT_VER, sent with pushPeerInfo (the kernel release). */
  platformVersion?: string;
  /**
   * `setenv` variables in order. UV_* (and IV_PLAT_VER) go out only with pushPeerInfo; IV_GUI_VER and
   * IV_SSO always; anything else never (push_peer_info's filter).
   */
  env?: readonly (readonly [string, string])[];
}

/** The IV_PROTO value `buildPeerInfo` announces for these options. */
export function ivProtoFor(o: PeerInfoOptions): number {
  const f = o.features ?? {};
  let v = IvProto.DATA_V2;
  if (o.pull ?? true) {
    v |= IvProto.REQUEST_PUSH;
    if (f.authPendingKeywords) v |= IvProto.AUTH_PENDING_KW;
    if (f.authFailTemp) v |= IvProto.AUTH_FAIL_TEMP;
  }
  if (f.tlsEkm ?? true) v |= IvProto.TLS_KEY_EXPORT;
  if (f.ccExit ?? true) v |= IvProto.CC_EXIT_NOTIFY;
  if (f.dnsOption) v |= IvProto.DNS_OPTION;
  if (f.dynTlsCrypt) v |= IvProto.DYN_TLS_CRYPT;
  return v;
}

function checkValue(name: string, value: string): void {
  if (/[\n\0]/.test(value) || /[\n\0=]/.test(name)) throw einval(`peer-info: bad ${name} line`);
}

/**
 * The peer-info block of a client (push_peer_info at detail 2, or 3 with pushPeerInfo), in the order
 * 2.6 writes it. P2P (detail 1) and server (detail 0) peers are not covered: we are a pull client.
 */
export function buildPeerInfo(o: PeerInfoOptions): string {
  const pull = o.pull ?? true;
  const lines: string[] = [];
  const add = (name: string, value: string | number) => {
    checkValue(name, String(value));
    lines.push(`${name}=${value}`);
  };
  add('IV_VER', o.version);
  add('IV_PLAT', o.platform ?? 'linux');
  add('IV_TCPNL', 1);
  if (pull) add('IV_MTU', o.tunMaxMtu ?? 1600);
  if (o.dataCiphers.includes('AES-128-GCM') && o.dataCiphers.includes('AES-256-GCM')) add('IV_NCP', 2);
  add('IV_CIPHERS', o.dataCiphers.join(':'));
  add('IV_PROTO', ivProtoFor(o));
  if (o.compressionStubs) {
    add('IV_LZO_STUB', 1);
    add('IV_COMP_STUB', 1);
    add('IV_COMP_STUBv2', 1);
  }
  if (o.pushPeerInfo) {
    if (o.sslVersion !== undefined) add('IV_SSL', o.sslVersion);
    if (o.platformVersion !== undefined) add('IV_PLAT_VER', o.platformVersion);
  }
  for (const [name, value] of o.env ?? []) {
    const always = name === 'IV_GUI_VER' || name === 'IV_SSO';
    const detailed = name.startsWith('UV_') || name === 'IV_PLAT_VER';
    if (always || (detailed && o.pushPeerInfo)) add(name, value);
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** Splits a peer-info block into its variables (later lines win), as a server reads it. */
export function parsePeerInfo(peerInfo: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of peerInfo.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}
