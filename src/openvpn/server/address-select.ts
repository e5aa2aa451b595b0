/**
 * A client's VPN addresses at admission (2.6 multi.c multi_select_virtual_addr), from its merged
 * client config (ccd, then client-connect output) and the server's pool:
 *
 * - `ifconfig-push` wins for IPv4 and then no pool entry is taken (so no pool IPv6 either: 2.6 logs
 *   its MULTI_sva warning when an IPv6 pool exists and no `ifconfig-ipv6-push` is given);
 * - else a pool entry (by common name unless duplicate-cn: ifconfig-pool.ts); an exhausted pool is
 *   2.6's "no free --ifconfig-pool addresses" and, with nothing else to give, the client is refused
 *   (the MP device cannot carry a peer without a VPN address);
 * - `ifconfig-ipv6-push` wins for IPv6.
 *
 * Ours beyond 2.6: a pushed address is reserved in the pool (`reserveStaticAddresses` at start-up for
 * every ccd file, and again here for files written since), so no dynamic lease ever equals it; and a
 * pushed address another connected client already has refuses the newcomer instead of stealing the
 * other's packets.
 */
import type { ClientConfig } from '../../config/server-options.js';
import { parseIPv4, parseIPv6 } from '../../net/ip-address.js';
import { type IfconfigPool, POOL_EXHAUSTED, type PoolLease } from './ifconfig-pool.js';
import { type ClientAddresses, clientAddresses, type ServerAddressing } from './push-list.js';

/** The addresses chosen for a client, with the pool entry it holds (release it when it goes). */
export type AddressChoice = { lease: PoolLease | undefined; addresses: ClientAddresses } | { refuse: string };

export interface AddressSelectInput {
  pool: IfconfigPool | undefined;
  addressing: ServerAddressing;
  commonName: string | undefined;
  config: ClientConfig | undefined;
  /** The VPN addresses of the other clients now admitted. */
  others: readonly (ClientAddresses | undefined)[];
  log: (msg: string) => void;
  /**
   * The entry this client already holds, for a second selection (after client-connect's output,
   * as 2.6 selects again): kept, or released hard when an `ifconfig-push` now gives the address
   * (and on a refusal).
   */
  previous?: PoolLease;
}

/** 2.6's MULTI_sva note for static IPv4 with a dynamic IPv6 pool. */
export const STATIC_V4_POOL_V6 =
  'MULTI_sva: WARNING: if --ifconfig-push is used for IPv4, automatic IPv6 assignment from --ifconfig-ipv6-pool does not work.  Use --ifconfig-ipv6-push for IPv6 then.';

export function selectVpnAddresses(i: AddressSelectInput): AddressChoice {
  const c = i.config;
  const pool = i.pool;
  const dropPrevious = () => {
    if (i.previous !== undefined) pool?.release(i.previous.handle, true, Math.floor(Date.now() / 1000));
  };
  for (const a of [c?.ifconfigPush?.local, c?.ifconfigIpv6Push?.address.address]) {
    if (a === undefined) continue;
    pool?.reserve(a);
    if (i.others.some((o) => sameAddress(o?.ifconfig?.local, a) || sameAddress(o?.ifconfigIpv6?.local, a))) {
      dropPrevious();
      return { refuse: `ifconfig-push address ${a} is in use by another client` };
    }
  }
  let lease: PoolLease | undefined;
  if (c?.ifconfigPush !== undefined) {
    dropPrevious();
    if (pool !== undefined && pool.lease(0).ipv6 !== undefined && c.ifconfigIpv6Push === undefined)
      i.log(STATIC_V4_POOL_V6);
  } else if (i.previous !== undefined) {
    lease = i.previous;
  } else if (pool !== undefined) {
    lease = pool.acquire(i.commonName);
    if (lease === undefined) i.log(POOL_EXHAUSTED);
    else
      i.log(
        `MULTI_sva: pool returned IPv4=${lease.ipv4 ?? '(Not enabled)'}, IPv6=${lease.ipv6 ?? '(Not enabled)'}`,
      );
  }
  const addresses = clientAddresses(i.addressing, lease, c);
  if (addresses.ifconfig === undefined && addresses.ifconfigIpv6 === undefined) {
    if (lease !== undefined) pool?.release(lease.handle, lease === i.previous, Math.floor(Date.now() / 1000));
    return {
      refuse: lease === undefined && pool !== undefined ? 'no free address in the pool' : 'no VPN address',
    };
  }
  return { lease, addresses };
}

/** Reserves each pushed address of the ccd in the pool; logs the ones outside it (nothing to keep). */
export function reserveStaticAddresses(
  pool: IfconfigPool,
  addresses: readonly string[],
  log: (m: string) => void,
): void {
  for (const a of addresses) {
    if (pool.reserve(a) >= 0)
      log(`client-config-dir: ${a} is pushed by a ccd file: kept out of the dynamic pool`);
  }
}

function sameAddress(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  try {
    const x = a.includes(':') ? parseIPv6(a) : parseIPv4(a);
    const y = b.includes(':') ? parseIPv6(b) : parseIPv4(b);
    return x.equals(y);
  } catch {
    return false;
  }
}
