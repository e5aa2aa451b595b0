import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverPeerDataOptions } from '../../../../src/openvpn/server/server.js';

describe('the server peers’ compression framing and MSS clamp', () => {
  const byDefault = { value: 0, mode: 'default' } as const;
  it('default mssfix at tun-mtu 1500: 1400 over UDP/IPv4, no framing (as the client computes it)', () => {
    assert.deepEqual(
      serverPeerDataOptions({ compression: 'none', mssfix: byDefault, tunMtu: 1500 }, 'udp', 4),
      {
        'mss-clamp': 1400,
        'comp-framing': 'none',
      },
    );
  });
  it('comp-lzo no over TCP: the 0xFA byte and the 2-byte length and TCP header counted', () => {
    assert.deepEqual(
      serverPeerDataOptions({ compression: 'lzo-stub', mssfix: byDefault, tunMtu: 1500 }, 'tcp', 4),
      { 'mss-clamp': 1385, 'comp-framing': 'comp-lzo-no' },
    );
  });
  it('a plain mssfix counts the encapsulation but not the outer headers', () => {
    const o = { compression: 'stub-v2', mssfix: { value: 1300, mode: 'plain' }, tunMtu: 1500 } as const;
    assert.deepEqual(serverPeerDataOptions(o, 'udp', 6), {
      'mss-clamp': 1236,
      'comp-framing': 'compress-stub-v2',
    });
  });
});
