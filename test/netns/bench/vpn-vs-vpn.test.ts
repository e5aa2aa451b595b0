/**
 * The full-VPN-against-full-VPN bench (bench/vpn-vs-vpn.ts) at a small size: one round of 2 s each
 * way. openvpn → openvpn and ovpn-ts → openvpn must both run (connected, ping, iperf3 both ways); the
 * ovpn-ts server's pairs run too once it accepts a server config, and are reported "not available"
 * (with its refusal) until then. The throughput target is not judged at this size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runVpnBench } from '../../../bench/vpn-vs-vpn.js';
import { canUseNetns, NetnsLab } from '../../../src/lab/netns.js';
import { haveOpenvpn } from '../openvpn/fixture.js';

describe('full VPN vs full VPN bench', {
  skip: !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false,
}, () => {
  it('runs every pair that can run, one short round', async (t) => {
    const r = await runVpnBench({ seconds: 2, rounds: 1 });
    assert.ok(r.measured.includes('openvpn → openvpn'), `measured: ${r.measured.join(', ')}`);
    assert.ok(r.measured.includes('ovpn-ts → openvpn'), `measured: ${r.measured.join(', ')}`);
    if (r.ovpnTsUnavailable !== undefined) {
      t.diagnostic(`ovpn-ts server not available: ${r.ovpnTsUnavailable}`);
      assert.equal(r.target, 'not measured');
    } else {
      assert.ok(r.measured.includes('openvpn → ovpn-ts'), `measured: ${r.measured.join(', ')}`);
      assert.ok(r.measured.includes('ovpn-ts → ovpn-ts'), `measured: ${r.measured.join(', ')}`);
    }
    assert.ok(r.ran, 'no pair that could run failed');
    assert.deepEqual(new NetnsLab('sbv').leftovers(), []);
  });
});
