/**
 * Interface names and indexes of this network namespace, as the tool resolves them (if_nametoindex /
 * if_indextoname: ioctls on a socket, so always the caller's namespace, whatever /sys shows).
 */
import { ifIndexToName, ifNameToIndex } from '../../sys/libc.js';

/** The index of interface `name`, or 0 when there is none. */
export function ifindexOf(name: string): number {
  return ifNameToIndex(name);
}

/** The name of interface `ifindex`, or undefined when there is none. */
export function ifnameOf(ifindex: number): string | undefined {
  if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0xffffffff) return undefined;
  const buf = Buffer.alloc(16);
  const r = ifIndexToName(ifindex, buf);
  if (r === 0 || r === 0n) return undefined;
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}
