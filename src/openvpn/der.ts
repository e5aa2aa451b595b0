/**
 * A small DER reader: just enough of X.509 certificates and CRLs (RFC 5280) for the checks OpenVPN
 * makes on the server's certificate (cert-checks.ts). Every read is bounds-checked; malformed input
 * throws a DerError, never reads past the buffer.
 */

export class DerError extends Error {}

/** One TLV: `tag` is the identifier octet (low-tag-number form only), content in [start, end). */
export interface Tlv {
  tag: number;
  /** Offset of the identifier octet. */
  offset: number;
  start: number;
  end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads the TLV at `pos`, which must end by `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not supported');
  let len = buf[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('bad DER length');
    if (start + n > limit) throw new DerError('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, offset: pos, start, end };
}

/** The TLVs inside a constructed TLV, in order. */
export function children(buf: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = t.start;
  while (pos < t.end) {
    const c = readTlv(buf, pos, t.end);
    out.push(c);
    pos = c.end;
  }
  return out;
}

export function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw new DerError(`${what}: unexpected DER structure`);
  return t;
}

export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

/** The whole encoding of `t` (identifier, length and content). */
export function encoding(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.offset, t.end);
}

/** Dotted decimal form of an OBJECT IDENTIFIER's content. */
export function oidString(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) {
    v = (v << 7n) | BigInt(bytes[i] & 0x7f);
    if ((bytes[i] & 0x80) === 0) {
      arcs.push(v);
      v = 0n;
    } else if (i === bytes.length - 1) throw new DerError('truncated OID');
  }
  const first = arcs[0];
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** A two's complement INTEGER's content as a bigint. */
export function integer(bytes: Uint8Array): bigint {
  if (bytes.length === 0) throw new DerError('empty INTEGER');
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (bytes[0] & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v;
}

/** UTCTime or GeneralizedTime (the forms RFC 5280 allows: seconds, `Z`). */
export function time(buf: Uint8Array, t: Tlv): Date {
  const s = Buffer.from(content(buf, t)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/.exec(s);
    if (!m) throw new DerError(`bad UTCTime ${s}`);
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    const g = /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(?:\.\d+)?Z$/.exec(s);
    if (!g) throw new DerError(`bad GeneralizedTime ${s}`);
    m = g;
    year = Number(g[1]);
  } else throw new DerError('not a time');
  return new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? '0')),
  );
}

/** The bytes of a BIT STRING's content, without its unused-bits octet. */
export function bitStringBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) throw new DerError('empty BIT STRING');
  return bytes.subarray(1);
}
