/**
 * Offloads are options of the device, reachable from ovpn-cli and the API (dev-new's tun-offload,
 * udp-gso, udp-gro): `new_iface ... no-tun-offload` makes a TUN without the virtio header, the default
 * one with it, as `ip -d link` reports (`vnet_hdr on|off`).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { repoRoot } from '../support/repo.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const CLI = join(repoRoot(), 'bin', 'ovpn-cli');

describe('offload options', { skip }, () => {
  it('new_iface no-tun-offload makes a plain TUN; the default has the virtio header', async () => {
    const lab = new NetnsLab('ovof');
    try {
      const ns = lab.ns('a');
      lab.exec(ns, CLI, ['new_iface', 'ovof0', 'P2P', 'no-tun-offload', 'no-udp-gso']);
      lab.exec(ns, CLI, ['new_iface', 'ovof1', 'MP']);
      const vnet = (ifname: string) =>
        /vnet_hdr (on|off)/.exec(lab.exec(ns, 'ip', ['-d', 'link', 'show', ifname]))?.[1];
      assert.equal(vnet('ovof0'), 'off');
      assert.equal(vnet('ovof1'), 'on');
      lab.exec(ns, CLI, ['del_iface', 'ovof0']);
      lab.exec(ns, CLI, ['del_iface', 'ovof1']);
      assert.throws(() => lab.exec(ns, CLI, ['new_iface', 'ovof2', 'MP', 'no-gso']));
    } finally {
      await lab.cleanup();
    }
  });
});
