/**
 * A failed system call as an `OvpnError`: the errno's name and the system's text in the message (so
 * nothing is lost), and the closest code the management API knows (OvpnError's codes are the ones the
 * kernel's ovpn family answers with). The one mapper for every layer that makes syscalls.
 */
import koffi from 'koffi';
import { ERRNO, type Errno, OvpnError } from '../errors/ovpn-error.js';
import { strerror } from './libc.js';

/** Name of an errno number ("EADDRINUSE"), or "errno N". */
export function errnoName(e: number): string {
  for (const [name, value] of Object.entries(koffi.os.errno)) if (value === e) return name;
  return `errno ${e}`;
}

/** Codes for errnos OvpnError does not carry itself; anything else unknown is EIO. */
const CLOSEST: Readonly<Record<string, Errno>> = {
  EACCES: 'EPERM',
  EADDRNOTAVAIL: 'EINVAL',
  EMFILE: 'ENOMEM',
  ENFILE: 'ENOMEM',
  ENOBUFS: 'ENOMEM',
  EPROTONOSUPPORT: 'EAFNOSUPPORT',
  ESOCKTNOSUPPORT: 'EAFNOSUPPORT',
};

/** The closest OvpnError code for errno `e`; `remap` overrides it for a caller's context, by name. */
export function errnoCode(e: number, remap: Readonly<Record<string, Errno>> = {}): Errno {
  const name = errnoName(e);
  return remap[name] ?? (name in ERRNO ? (name as Errno) : (CLOSEST[name] ?? 'EIO'));
}

/**
 * An OvpnError for `what` failing with errno `e`, e.g. "bind [::]:1194: EADDRINUSE (Address already in
 * use)", blaming `attr` if given.
 */
export function sysError(
  what: string,
  e: number,
  attr?: string,
  remap?: Readonly<Record<string, Errno>>,
): OvpnError {
  return new OvpnError(errnoCode(e, remap), `${what}: ${errnoName(e)} (${strerror(e)})`, attr);
}
