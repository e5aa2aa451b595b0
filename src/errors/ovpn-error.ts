/**
 * The one error type of ovpn-ts. Every layer that refuses a request throws an `OvpnError` carrying
 * an errno-like code, so that the management API can answer exactly as the kernel's netlink family
 * would (same errno for the same case), while the message stays our own wording.
 *
 * The data path never throws on bad network input: it returns a counted drop reason instead
 * (see datapath/drop-reason.ts). `OvpnError` is for setup and management.
 */

/** Linux errno numbers for the codes ovpn uses. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EAGAIN: 11,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOTSOCK: 88,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
} as const;

export type Errno = keyof typeof ERRNO;

export class OvpnError extends Error {
  override readonly name = 'OvpnError';
  /** Stable string code, e.g. `'EINVAL'`. */
  readonly code: Errno;
  /** The Linux errno number for `code` (22 for EINVAL). */
  readonly errno: number;
  /** The offending API attribute in YNL spelling (`'remote-port'`), when there is one. */
  readonly attr: string | undefined;

  constructor(code: Errno, message: string, attr?: string) {
    super(message);
    this.code = code;
    this.errno = ERRNO[code];
    this.attr = attr;
  }
}

/** Any value as short text for an error message; never throws (unlike String() on hostile objects). */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v == null) return `${v}`;
  return Array.isArray(v) ? 'an array' : `a${typeof v === 'object' ? 'n object' : ` ${typeof v}`}`;
}

/** Helpers so that call sites read like the kernel's extack messages. */
export const einval = (msg: string, attr?: string): OvpnError => new OvpnError('EINVAL', msg, attr);
export const enoent = (msg: string, attr?: string): OvpnError => new OvpnError('ENOENT', msg, attr);
export const eexist = (msg: string, attr?: string): OvpnError => new OvpnError('EEXIST', msg, attr);
export const erange = (msg: string, attr?: string): OvpnError => new OvpnError('ERANGE', msg, attr);
export const eio = (msg: string): OvpnError => new OvpnError('EIO', msg);
