import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseClientConfig } from '../../../../src/openvpn/server/ccd.js';
import { DCO_IROUTE_METRIC, planIroutes } from '../../../../src/openvpn/server/iroute.js';

const server = {
  routes: [{ network: '192.168.0.0', netmask: '255.255.0.0' }],
  routesIpv6: [{ network: { address: 'fd00:99::', prefix: 48 } }],
  tunnelIpv4: { address: '10.8.0.0', prefix: 24 },
  tunnelIpv6: { address: 'fd00:8::', prefix: 64 },
};

describe('iroutes on the server', () => {
  it('become routes on the tun via the client VPN address, host bits cleared', () => {
    const c = parseClientConfig(
      'iroute 192.168.99.7 255.255.255.0\niroute 10.8.0.200\niroute-ipv6 fd00:99:0:1::5/64\n',
      'ccd/a',
    );
    const plan = planIroutes(c, { ipv4: '10.8.0.2', ipv6: 'fd00:8::1000' }, server);
    assert.deepEqual(plan.routes, [
      { family: 4, dst: '192.168.99.0', prefix: 24, via: '10.8.0.2', metric: 100 },
      { family: 4, dst: '10.8.0.200', prefix: 32, via: '10.8.0.2', metric: 100 },
      { family: 6, dst: 'fd00:99:0:1::', prefix: 64, via: 'fd00:8::1000', metric: 100 },
    ]);
    assert.equal(DCO_IROUTE_METRIC, 100);
    assert.deepEqual(plan.notes, []);
  });

  it('notes an iroute no server route covers, and one without a VPN address of its family', () => {
    const c = parseClientConfig(
      'iroute 172.16.0.0 255.255.0.0\niroute 192.0.0.0 255.0.0.0\niroute-ipv6 fd01::/64\n',
      'ccd/b',
    );
    const plan = planIroutes(c, { ipv4: '10.8.0.6', ipv6: undefined }, server, { file: 'ccd/b', line: 0 });
    assert.deepEqual(
      plan.routes.map((r) => `${r.dst}/${r.prefix} via ${r.via}`),
      ['172.16.0.0/16 via 10.8.0.6', '192.0.0.0/8 via 10.8.0.6'],
    );
    assert.deepEqual(plan.notes, [
      "ccd/b: iroute 172.16.0.0/16 is not covered by a server 'route'; packets for it will not reach the tun",
      "ccd/b: iroute 192.0.0.0/8 is not covered by a server 'route'; packets for it will not reach the tun",
      'ccd/b: iroute-ipv6 fd01::/64: the client has no IPv6 VPN address; not routed',
    ]);
  });

  it('a server route by name covers nothing and does not throw', () => {
    const c = parseClientConfig('iroute 192.168.5.0 255.255.255.0\n', 'ccd/c');
    const plan = planIroutes(
      c,
      { ipv4: '10.8.0.10', ipv6: undefined },
      {
        routes: [{ network: 'lan.example', netmask: '255.255.0.0' }],
        routesIpv6: [],
      },
    );
    assert.equal(plan.routes.length, 1);
    assert.match(plan.notes[0], /^iroute 192.168.5.0\/24 is not covered/);
  });
});
