/**
 * The full-VPN-against-full-VPN bench (bench/vpn-vs-vpn.ts) at a small size: one round of 2 s each
 * way, at two of its tunnel MTU cases (the default and 9000; `npm run bench` adds 60000). All four
 * pairs must run (connected, ping, iperf3 both ways): openvpn and ovpn-ts, each as client and as
 * server, and the raw veth path beside them. The throughput target is not judged at this size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runVpnBench } from '../../../bench/vpn-vs-vpn.js';
import { canUseNetns, NetnsLab } from '../../../src/lab/netns.js';
import { haveOpenvpn } from '../openvpn/fixture.js';

describe('full VPN vs full VPN bench', {
  skip: !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false,
}, () => {
  it('runs every pair, one short round', async () => {
    const r = await runVpnBench({ seconds: 2, rounds: 1, mtus: ['default', 9000] });
    assert.equal(r.ovpnTsUnavailable, undefined, 'the ovpn-ts server starts from the bench config');
    for (const pair of ['openvpn → openvpn', 'ovpn-ts → openvpn', 'openvpn → ovpn-ts', 'ovpn-ts → ovpn-ts']) {
      assert.ok(r.measured.includes(pair), `${pair} missing; measured: ${r.measured.join(', ')}`);
    }
    assert.ok(r.ran, 'no pair that could run failed');
    // the ceiling printed beside the target: the bare veth path, measured in the same run
    assert.ok((r.rawPath?.forward ?? 0) > 0 && (r.rawPath?.reverse ?? 0) > 0, 'the raw path was measured');
    assert.deepEqual(new NetnsLab('sbv').leftovers(), []);
  });
});
