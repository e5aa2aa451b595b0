import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataPlane } from '../../../src/openvpn/data-plane.js';
import type { AppliedNetConfig } from '../../../src/openvpn/net-config.js';
import { type DeviceNetConfig, KeptTun } from '../../../src/openvpn/tun-keeper.js';

/** The two device calls KeptTun makes, recorded in `calls`. */
function fakeApi(calls: string[]) {
  let next = 10;
  const api = {
    devNew: async (m: { ifname: string; mode: string }) => {
      const ifindex = next++;
      calls.push(`dev-new ${m.ifname} ${m.mode} -> ${ifindex}`);
      return { ifindex, ifname: m.ifname };
    },
    devDel: async (m: { ifindex: number }) => {
      calls.push(`dev-del ${m.ifindex}`);
    },
  };
  return api as unknown as DataPlane;
}

/** A network configuration that records what is done with it in `calls`. */
function fakeNet(calls: string[], n: number): DeviceNetConfig {
  return {
    up: (lines) => {
      calls.push(`net${n} up ${lines.join(',')}`);
      return { commands: [['addr', 'add', `n${n}`]], routeErrors: 0 } as unknown as AppliedNetConfig;
    },
    beforeDeviceClose: () => calls.push(`net${n} routes down`),
    removeAddresses: () => calls.push(`net${n} addresses deleted`),
    afterDeviceClose: () => calls.push(`net${n} down script`),
  };
}

describe('persist-tun: KeptTun', () => {
  it('keeps one device, configures it again only when the pushed options change, and releases it in close order', async () => {
    const calls: string[] = [];
    const log: string[] = [];
    const kt = new KeptTun(fakeApi(calls), (m) => log.push(m));
    let made = 0;
    const make = () => fakeNet(calls, ++made);
    const d1 = await kt.device('vpn0');
    assert.equal(kt.ifindex, 10);
    assert.deepEqual(kt.configure(['ifconfig 10.8.0.2 255.255.255.0', 'peer-id 0'], make).commands, [
      ['addr', 'add', 'n1'],
    ]);
    // a reconnection: the same device; the same pushed options but the peer-id: nothing is run
    assert.equal(await kt.device('vpn0'), d1);
    assert.ok(log.includes('Preserving previous TUN/TAP instance: vpn0'));
    const same = kt.configure(['ifconfig 10.8.0.2 255.255.255.0', 'peer-id 3'], make);
    assert.deepEqual(same.commands, []);
    assert.equal(same.routeErrors, 0);
    assert.equal(made, 1);
    // different pushed options: the old configuration is taken back, its addresses deleted, a new one up
    assert.deepEqual(kt.configure(['ifconfig 10.8.0.3 255.255.255.0', 'peer-id 3'], make).commands, [
      ['addr', 'add', 'n2'],
    ]);
    assert.ok(log.some((l) => l.startsWith('NOTE: Pulled options changed on restart')));
    await kt.release();
    await kt.release();
    assert.equal(kt.ifindex, undefined);
    assert.deepEqual(calls, [
      'dev-new vpn0 p2p -> 10',
      'net1 up ifconfig 10.8.0.2 255.255.255.0,peer-id 0',
      'net1 routes down',
      'net1 addresses deleted',
      'net1 down script',
      'net2 up ifconfig 10.8.0.3 255.255.255.0,peer-id 3',
      'net2 routes down',
      'dev-del 10',
      'net2 down script',
    ]);
    // after a release, a new device and a fresh configuration
    assert.equal((await kt.device('vpn0')).ifindex, 11);
    assert.equal(kt.configure(['ifconfig 10.8.0.3 255.255.255.0'], make).commands.length, 1);
    await kt.release();
  });
});
