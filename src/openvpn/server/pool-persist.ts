/**
 * The `ifconfig-pool-persist` file, in OpenVPN 2.6's format (pool.c ifconfig_pool_read,
 * ifconfig_pool_write, ifconfig_pool_list; status.c status_read; buffer.c buf_parse):
 *
 * - written: one line `CN,IPv4,IPv6\n` per entry that has a common name (in use, or released soft),
 *   in pool order, with an empty field for a pool that is not configured (`CN,10.8.0.4,`); in net30
 *   the IPv4 field is the /30's base address, not the client's;
 * - read: `\r` is dropped anywhere, empty lines and lines starting with `#` or `;` are skipped, a
 *   line without a second comma-separated field is skipped, fields are cut at 127 bytes as
 *   buf_parse does; a bad or out-of-range address is a warning and the line is skipped unless the
 *   other family gives a handle; when both give different handles, IPv4 wins (with a warning).
 *
 * Pure: text in, text out. Reading and writing the file is the shell's (it writes every `seconds`
 * unless seconds is 0, when the entries are `fixed` and the file is only read).
 */
import { parseIPv6 } from '../../net/ip-address.js';
import type { IfconfigPool } from './ifconfig-pool.js';

/** buf_parse's field buffer in ifconfig_pool_read. */
const FIELD_SIZE = 128;
/** status_read's line buffer in ifconfig_pool_read. */
const LINE_SIZE = 256;

export interface PersistLine {
  /** 1-based line number in the file. */
  line: number;
  commonName: string;
  /** The IPv4 field as written ('' when empty). */
  ipv4: string;
  /** The IPv6 field as written ('' when empty or missing). */
  ipv6: string;
}

/** The lines of a persist file that name an entry (comments, blanks and short lines dropped). */
export function parsePoolPersist(text: string): PersistLine[] {
  const out: PersistLine[] = [];
  const lines = text.split('\n');
  // a final newline ends the last line; it does not start an empty one
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let n = 0; n < lines.length; n++) {
    const bytes = Buffer.from(lines[n].replaceAll('\r', ''), 'utf8').subarray(0, LINE_SIZE - 1);
    if (bytes.length === 0) continue;
    if (bytes[0] === 0x23 || bytes[0] === 0x3b) continue;
    const cur = { buf: bytes, pos: 0 };
    const cn = bufParse(cur);
    const ip4 = cn === undefined ? undefined : bufParse(cur);
    if (cn === undefined || ip4 === undefined) continue;
    const ip6 = bufParse(cur) ?? '';
    out.push({ line: n + 1, commonName: cn, ipv4: ip4, ipv6: ip6 });
  }
  return out;
}

/** buf_parse with ',' into a FIELD_SIZE buffer; undefined where it returns false. */
function bufParse(cur: { buf: Buffer; pos: number }): string | undefined {
  const field: number[] = [];
  let eol = false;
  let n = 0;
  for (;;) {
    let c = cur.pos < cur.buf.length ? cur.buf[cur.pos++] : -1;
    if (c < 0) eol = true;
    if (c <= 0 || c === 0x2c) c = 0;
    if (n >= FIELD_SIZE) break;
    n++;
    if (c === 0) break;
    field.push(c);
  }
  const s = Buffer.from(field.slice(0, FIELD_SIZE - 1)).toString('utf8');
  return eol && s.length === 0 ? undefined : s;
}

/** What applying a persist file did, line by line (2.6 logs these). */
export interface PersistApplied {
  /** Lines that gave an entry: line number, common name, handle. */
  set: { line: number; commonName: string; handle: number }[];
  /** Warnings in 2.6's words, prefixed with the line number. */
  warnings: string[];
}

/**
 * ifconfig_pool_read's effect on `pool`: each usable line gives its entry to the common name
 * (`fixed` when the file is read with seconds 0), released at `now`.
 */
export function applyPoolPersist(
  pool: IfconfigPool,
  lines: readonly PersistLine[],
  fixed: boolean,
  now: number,
): PersistApplied {
  const res: PersistApplied = { set: [], warnings: [] };
  for (const l of lines) {
    const warn = (m: string) => res.warnings.push(`line ${l.line}: ${m}`);
    let h = -1;
    let h6 = -1;
    if (l.ipv4.length > 0) {
      if (!isIpv4(l.ipv4)) warn(`pool: invalid IPv4 (${l.ipv4}) for CN=${l.commonName}`);
      else {
        h = pool.handleOfIpv4(l.ipv4);
        if (h < 0) warn(`pool: IPv4 (${l.ipv4}) out of pool range for CN=${l.commonName}`);
      }
    }
    if (l.ipv6.length > 0) {
      const a6 = ipv6Address(l.ipv6);
      if (a6 === undefined) warn(`pool: invalid IPv6 (${l.ipv6}) for CN=${l.commonName}`);
      else {
        h6 = pool.handleOfIpv6(a6);
        if (h6 < 0) warn(`pool: IPv6 (${l.ipv6}) out of pool range for CN=${l.commonName}`);
        if (h < 0) h = h6;
      }
    }
    if (h6 >= 0 && h !== h6) {
      warn(`pool: IPv4 (${l.ipv4}) and IPv6 (${l.ipv6}) have different offsets! Relying on IPv4`);
    }
    if (h >= 0) {
      pool.set(l.commonName, h, fixed, now);
      res.set.push({ line: l.line, commonName: l.commonName, handle: h });
    }
  }
  return res;
}

/** The file's text for the pool as it is now (ifconfig_pool_write). */
export function formatPoolPersist(pool: IfconfigPool): string {
  let out = '';
  for (const e of pool.entries()) {
    if (e.commonName === undefined) continue;
    const a = pool.listAddresses(e.handle);
    out += `${e.commonName},${a.ipv4},${a.ipv6}\n`;
  }
  return out;
}

function isIpv4(s: string): boolean {
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s);
}

/** The address part of an IPv6 field (get_ipv6_addr takes `addr/bits`), or undefined if it is bad. */
function ipv6Address(s: string): string | undefined {
  const slash = s.indexOf('/');
  const a = slash < 0 ? s : s.slice(0, slash);
  if (slash >= 0 && !/^\d{1,3}$/.test(s.slice(slash + 1))) return undefined;
  try {
    parseIPv6(a);
    return a;
  } catch {
    return undefined;
  }
}
