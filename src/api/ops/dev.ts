/**
 * Device create and delete: the rtnetlink side of ovpn (spec ovpn-kernel §1.1, §1.5). A device is made
 * by name and mode; deleting it removes every peer with reason teardown before the interface goes.
 */
import { readFileSync } from 'node:fs';
import { OvpnDevice, type OvpnDeviceOptions } from '../../device/ovpn-device.js';
import { describe, einval, OvpnError } from '../../errors/ovpn-error.js';
import { ifnameProblem } from '../../sys/ifname.js';
import { ifNameToIndex } from '../../sys/libc.js';
import { type Attrs, get, required } from '../attrs.js';
import type { DevInfo, DevStats } from '../messages.js';
import { MODES } from '../spec.js';

export function devNew(a: Attrs, opts: OvpnDeviceOptions): OvpnDevice {
  const name = required(get.str(a, 'ifname'), 'ifname');
  const problem = ifnameProblem(name);
  if (problem !== undefined) throw einval(`${problem}: ${describe(name)}`, 'ifname');
  if (ifNameToIndex(name) !== 0) throw new OvpnError('EEXIST', `interface ${name} already exists`, 'ifname');
  const mode = MODES[get.u32(a, 'mode') ?? 0];
  const flag = (attr: string) => {
    const v = get.u32(a, attr);
    return v === undefined ? undefined : v === 1;
  };
  const offloads = { tun: flag('tun-offload'), udpGso: flag('udp-gso'), udpGro: flag('udp-gro') };
  return OvpnDevice.create(name, mode, { ...opts, offloads });
}

export function devInfo(dev: OvpnDevice): DevInfo {
  return { ifindex: dev.ifindex, ifname: dev.name, mode: dev.mode };
}

/** The one writer of a device's stats: counters, and drops by cause (the data plane's own JSON). */
export function devStats(dev: OvpnDevice): DevStats {
  return {
    ...dev.counters,
    'rx-dropped': dev.drops.rxDropped,
    'tx-dropped': dev.drops.txDropped,
    drops: dev.drops.toJSON(),
  };
}

/** True if `ifindex` names some interface of this network namespace (ovpn or not). */
export function interfaceExists(ifindex: number): boolean {
  try {
    for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)) {
      const name = line.split(':')[0]?.trim();
      if (name && ifNameToIndex(name) === ifindex) return true;
    }
  } catch {
    // no /proc: treat as unknown
  }
  return false;
}
