/**
 * Numbers read the way the selftest tool reads them: C's strtoul/strtoll in base 10, which never
 * fail. Leading blanks and a sign are allowed, parsing stops at the first non-digit, text without
 * digits reads as 0, and "-1" wraps around to ULONG_MAX. Only overflow is reported (ERANGE), as the
 * tool checks nothing else. The result is then narrowed to the C type the tool stores it in.
 */

const ULONG_MAX = (1n << 64n) - 1n;
const LLONG_MAX = (1n << 63n) - 1n;
const LLONG_MIN = -(1n << 63n);

export interface CNumber {
  /** The value as strtoul/strtoll returns it. */
  value: bigint;
  /** The conversion overflowed (errno ERANGE). */
  erange: boolean;
}

function scan(s: string): { negative: boolean; digits: string } {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  return { negative: m?.[1] === '-', digits: m?.[2] ?? '' };
}

/** strtoul(s, NULL, 10) on LP64. */
export function strtoul(s: string): CNumber {
  const { negative, digits } = scan(s);
  if (digits === '') return { value: 0n, erange: false };
  const mag = BigInt(digits);
  if (mag > ULONG_MAX) return { value: ULONG_MAX, erange: true };
  return { value: negative && mag !== 0n ? ULONG_MAX + 1n - mag : mag, erange: false };
}

/** strtoll(s, NULL, 10). */
export function strtoll(s: string): CNumber {
  const { negative, digits } = scan(s);
  if (digits === '') return { value: 0n, erange: false };
  const v = negative ? -BigInt(digits) : BigInt(digits);
  if (v > LLONG_MAX) return { value: LLONG_MAX, erange: true };
  if (v < LLONG_MIN) return { value: LLONG_MIN, erange: true };
  return { value: v, erange: false };
}

/** The value stored in a C `int` (two's complement truncation). */
export function asInt(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

/** The value stored in a `__u32`. */
export function asU32(v: bigint): number {
  return Number(BigInt.asUintN(32, v));
}

/** True for text made of decimal digits only (what tells a port from an address or a file name). */
export function isDecimal(s: string | undefined): boolean {
  return s !== undefined && /^\d+$/.test(s);
}
