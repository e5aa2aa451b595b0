/**
 * IPv4/IPv6 address text <-> bytes, without allocating per packet (parsing happens at setup; the data
 * path compares bytes). Formatting follows RFC 5952 (lowercase, longest zero run as "::").
 */
import { einval } from '../errors/ovpn-error.js';

/** Parses dotted-quad IPv4 into 4 bytes; throws EINVAL. */
export function parseIPv4(s: string, attr?: string): Buffer {
  const parts = s.split('.');
  if (parts.length !== 4) throw einval(`not an IPv4 address: ${s}`, attr);
  const b = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    // no leading zeros: inet_aton would read "010" as octal
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i]) || Number(parts[i]) > 255) {
      throw einval(`not an IPv4 address: ${s}`, attr);
    }
    b[i] = Number(parts[i]);
  }
  return b;
}

/** Parses IPv6 text (with "::" and an optional trailing dotted quad) into 16 bytes; throws EINVAL. */
export function parseIPv6(s: string, attr?: string): Buffer {
  const bad = () => einval(`not an IPv6 address: ${s}`, attr);
  let text = s;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    // a zone (interface name or index): non-empty, the characters node:net accepts
    if (!/^[0-9A-Za-z.:-]+$/.test(text.slice(pct + 1))) throw bad();
    text = text.slice(0, pct);
  }
  const out = Buffer.alloc(16);
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const groups = (h: string, last: boolean): number[] => {
    if (h === '') return [];
    const words: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      // a dotted quad may only end the whole address
      if (last && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p, attr);
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) throw bad();
        words.push(Number.parseInt(p, 16));
      }
    }
    return words;
  };
  const head = groups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1], true) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) throw bad();
  for (let i = 0; i < head.length; i++) out.writeUInt16BE(head[i], i * 2);
  for (let i = 0; i < tail.length; i++) out.writeUInt16BE(tail[i], 16 - (tail.length - i) * 2);
  return out;
}

export function formatIPv4(b: Buffer, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function formatIPv6(b: Buffer, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(b.readUInt16BE(off + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** True for ::ffff:a.b.c.d. */
export function isV4Mapped(b: Buffer, off = 0): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** True if all `len` bytes at `off` are zero. */
export function isZero(b: Buffer, off: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[off + i] !== 0) return false;
  return true;
}
