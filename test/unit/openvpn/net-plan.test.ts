/**
 * Route planning from the profile and the PUSH_REPLY (net-plan.ts), against OpenVPN 2.6's rules
 * (route.c init_route_list, init_route_ipv6_list, redirect_default_route_to_vpn; init.c
 * do_init_route_list, pull_permission_mask).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clearHostBits6,
  collectNetSettings,
  type NetDirective,
  type PlanInput,
  type PlannedRoute,
  planNetConfig,
} from '../../../src/openvpn/net-plan.js';
import type { Topology } from '../../../src/openvpn/pushed-options.js';

const SUBNET_PUSH = ['topology subnet', 'ifconfig 10.8.0.2 255.255.255.0', 'route-gateway 10.8.0.1'];
const NET30_PUSH = ['topology net30', 'ifconfig 10.8.0.6 10.8.0.5'];

function plan(
  pushed: string[],
  opts: {
    config?: NetDirective[];
    topology?: Topology;
    nopull?: boolean;
    remote?: { address: string; family: 4 | 6 };
    input?: Partial<PlanInput>;
  } = {},
) {
  const settings = collectNetSettings(
    opts.config ?? [],
    opts.topology ?? 'net30',
    pushed,
    opts.nopull ?? false,
  );
  return planNetConfig({
    settings,
    tunMtu: 1500,
    remote: opts.remote ?? { address: '192.0.2.10', family: 4 },
    serverRoute: { gateway: '192.168.1.1', oif: 2 },
    defaultRoute4: { gateway: '192.168.1.1', oif: 2 },
    defaultRoute6: undefined,
    ...opts.input,
  });
}

function brief(routes: PlannedRoute[]): string[] {
  return routes.map(
    (r) =>
      `${r.network}/${r.prefixLen}${r.gateway ? ` via ${r.gateway}` : ''} ${r.dev}${r.metric !== undefined ? ` metric ${r.metric}` : ''}`,
  );
}

describe('net-plan: addresses and MTU', () => {
  it('subnet: the address with its netmask; net30: a point-to-point address with the peer', () => {
    assert.deepEqual(plan(SUBNET_PUSH).addr4, { local: '10.8.0.2', prefixLen: 24, peer: undefined });
    assert.deepEqual(plan(NET30_PUSH).addr4, { local: '10.8.0.6', prefixLen: 32, peer: '10.8.0.5' });
    assert.deepEqual(plan(['topology p2p', 'ifconfig 10.8.0.2 10.8.0.1']).addr4, {
      local: '10.8.0.2',
      prefixLen: 32,
      peer: '10.8.0.1',
    });
  });

  it('the pushed topology wins over the profile; with none pushed the profile one is used', () => {
    assert.equal(plan(['ifconfig 10.8.0.2 255.255.255.0'], { topology: 'subnet' }).addr4?.prefixLen, 24);
    assert.equal(
      plan(['topology subnet', 'ifconfig 10.8.0.2 255.255.255.0'], { topology: 'net30' }).addr4?.prefixLen,
      24,
    );
  });

  it('a bad netmask in subnet topology is a warning and no address', () => {
    const p = plan(['topology subnet', 'ifconfig 10.8.0.2 255.0.255.0']);
    assert.equal(p.addr4, undefined);
    assert.match(p.warnings.join('\n'), /not a netmask/);
  });

  it('ifconfig-ipv6 with its remote; netbits outside 64..124 refused as OpenVPN does', () => {
    const p = plan([...SUBNET_PUSH, 'ifconfig-ipv6 fd00::1000/64 fd00::1']);
    assert.deepEqual(p.addr6, { local: 'fd00::1000', prefixLen: 64 });
    const bad = plan([...SUBNET_PUSH, 'ifconfig-ipv6 fd00::1000/48 fd00::1']);
    assert.equal(bad.addr6, undefined);
    assert.match(bad.warnings.join('\n'), /between 64 and 124/);
  });

  it('the pushed tun-mtu wins over the profile', () => {
    assert.equal(plan(SUBNET_PUSH).mtu, 1500);
    assert.equal(plan([...SUBNET_PUSH, 'tun-mtu 1400']).mtu, 1400);
  });

  it('a pushed tun-mtu out of bounds: above 1600 lowered to it, below 100 or not a number refused, with a warning', () => {
    for (const big of ['65536', '99999999999', '9000']) {
      const p = plan([...SUBNET_PUSH, `tun-mtu ${big}`]);
      assert.equal(p.mtu, 1600, big);
      assert.match(p.warnings.join('\n'), /tun-mtu .* too large/, big);
    }
    for (const bad of ['99', '0', '-5', '1400x', '1e4']) {
      const p = plan([...SUBNET_PUSH, `tun-mtu ${bad}`]);
      assert.equal(p.mtu, 1500, bad);
      assert.match(p.warnings.join('\n'), /pushed tun-mtu .*refused/, bad);
    }
    assert.deepEqual(plan([...SUBNET_PUSH, 'tun-mtu 1600']).warnings, []);
  });
});

describe('net-plan: routes', () => {
  it('subnet: routes go via route-gateway; metric and explicit gateway kept', () => {
    const p = plan([
      ...SUBNET_PUSH,
      'route 10.10.0.0 255.255.0.0',
      'route 10.20.0.0 255.255.255.0 10.8.0.254 7',
    ]);
    assert.deepEqual(brief(p.routes), [
      '10.10.0.0/16 via 10.8.0.1 any',
      '10.20.0.0/24 via 10.8.0.254 any metric 7',
    ]);
    assert.equal(p.vpnGateway, '10.8.0.1');
    assert.deepEqual(p.routeEnv, {
      route_network_1: '10.10.0.0',
      route_netmask_1: '255.255.0.0',
      route_gateway_1: '10.8.0.1',
      route_network_2: '10.20.0.0',
      route_netmask_2: '255.255.255.0',
      route_gateway_2: '10.8.0.254',
      route_metric_2: '7',
    });
  });

  it('net30: the default gateway is the peer; a route without netmask is a host route', () => {
    const p = plan([...NET30_PUSH, 'route 10.8.0.1']);
    assert.deepEqual(brief(p.routes), ['10.8.0.1/32 via 10.8.0.5 any']);
  });

  it("subnet without route-gateway: routes without gateway fail with OpenVPN's message", () => {
    const p = plan(['topology subnet', 'ifconfig 10.8.0.2 255.255.255.0', 'route 10.10.0.0 255.255.0.0']);
    assert.deepEqual(p.routes, []);
    assert.match(p.warnings.join('\n'), /needs a gateway parameter for a --route option/);
  });

  it('vpn_gateway, net_gateway and remote_host keywords; `default` means not given', () => {
    const p = plan([
      ...SUBNET_PUSH,
      'route 10.30.0.0 255.255.0.0 vpn_gateway',
      'route 10.40.0.0 255.255.0.0 net_gateway',
      'route remote_host 255.255.255.255 net_gateway',
      'route 10.50.0.0 255.255.0.0 default 5',
    ]);
    assert.deepEqual(brief(p.routes), [
      '10.30.0.0/16 via 10.8.0.1 any',
      '10.40.0.0/16 via 192.168.1.1 any',
      '192.0.2.10/32 via 192.168.1.1 any',
      '10.50.0.0/16 via 10.8.0.1 any metric 5',
    ]);
    const noDefault = plan([...SUBNET_PUSH, 'route 10.40.0.0 255.255.0.0 net_gateway'], {
      input: { defaultRoute4: undefined },
    });
    assert.deepEqual(noDefault.routes, []);
    assert.match(noDefault.warnings.join('\n'), /net_gateway undefined/);
  });

  it("route-metric is the default metric; the profile's routes come before the pushed ones", () => {
    const p = plan([...SUBNET_PUSH, 'route 10.2.0.0 255.255.0.0'], {
      config: [
        { name: 'route', args: ['10.1.0.0', '255.255.0.0'] },
        { name: 'route-metric', args: ['50'] },
      ],
    });
    assert.deepEqual(brief(p.routes), [
      '10.1.0.0/16 via 10.8.0.1 any metric 50',
      '10.2.0.0/16 via 10.8.0.1 any metric 50',
    ]);
    assert.equal(p.routeEnv.route_metric_1, '50');
  });

  it('a non-contiguous netmask or a host name is refused for that route only', () => {
    const p = plan([
      ...SUBNET_PUSH,
      'route 10.1.0.0 255.0.255.0',
      'route vpn.example.com',
      'route 10.3.0.0 255.255.0.0',
    ]);
    assert.deepEqual(brief(p.routes), ['10.3.0.0/16 via 10.8.0.1 any']);
    assert.equal(p.routeEnv.route_network_1, '10.3.0.0');
    assert.equal(p.warnings.length, 2);
  });

  it('route-ipv6: through the device, never a gateway on tun; env names the ifconfig-ipv6 remote', () => {
    const p = plan([
      ...SUBNET_PUSH,
      'ifconfig-ipv6 fd00::1000/64 fd00::1',
      'route-ipv6 fd99:1::/64',
      'route-ipv6 2001:db8::1/48 fd00::2 3',
    ]);
    assert.deepEqual(brief(p.routes), ['fd99:1::/64 tun', '2001:db8::/48 tun metric 3']);
    assert.equal(p.routeEnv.route_ipv6_network_1, 'fd99:1::/64');
    assert.equal(p.routeEnv.route_ipv6_gateway_1, 'fd00::1');
    assert.equal(p.routeEnv.route_ipv6_network_2, '2001:db8::1/48');
    assert.equal(p.routeEnv.route_ipv6_gateway_2, 'fd00::2');
    assert.equal(p.routeEnv.route_ipv6_metric_2, '3');
    const canon = plan([...SUBNET_PUSH, 'route-ipv6 FD99:0001:0:0::/64']);
    assert.equal(canon.routeEnv.route_ipv6_network_1, 'fd99:1::/64');
  });

  it("route-nopull refuses pushed routes and dhcp-options, not the profile's, nor ifconfig or route-gateway", () => {
    const p = plan(
      [
        ...SUBNET_PUSH,
        'route 10.2.0.0 255.255.0.0',
        'route-ipv6 fd99::/64',
        'redirect-gateway def1',
        'dhcp-option DNS 10.8.0.1',
      ],
      {
        config: [{ name: 'route', args: ['10.1.0.0', '255.255.0.0'] }],
        nopull: true,
      },
    );
    assert.deepEqual(brief(p.routes), ['10.1.0.0/16 via 10.8.0.1 any']);
    assert.equal(p.redirected, false);
    assert.deepEqual(p.addr4, { local: '10.8.0.2', prefixLen: 24, peer: undefined });
    assert.equal(p.warnings.filter((w) => /route-nopull/.test(w)).length, 4);
  });
});

describe('net-plan: redirect-gateway', () => {
  it('def1: the server host route via the original route, then 0/1 and 128/1 via the VPN gateway', () => {
    const p = plan([...SUBNET_PUSH, 'redirect-gateway def1 bypass-dhcp']);
    assert.deepEqual(brief(p.routes), [
      '192.0.2.10/32 via 192.168.1.1 net',
      '0.0.0.0/1 via 10.8.0.1 any',
      '128.0.0.0/1 via 10.8.0.1 any',
    ]);
    assert.equal(p.redirected, true);
    assert.equal(p.deleteDefault, undefined);
    assert.match(p.warnings.join('\n'), /bypass-dhcp/);
  });

  it('an on-link server gets a host route through its interface without a gateway', () => {
    const p = plan([...SUBNET_PUSH, 'redirect-gateway def1'], {
      input: { serverRoute: { gateway: undefined, oif: 3 } },
    });
    assert.deepEqual(brief(p.routes).slice(0, 1), ['192.0.2.10/32 net']);
  });

  it('without def1: the original default route is deleted and 0/0 goes via the VPN gateway', () => {
    const p = plan([...SUBNET_PUSH, 'redirect-gateway']);
    assert.deepEqual(brief(p.routes), ['192.0.2.10/32 via 192.168.1.1 net', '0.0.0.0/0 via 10.8.0.1 any']);
    assert.deepEqual(brief(p.deleteDefault ? [p.deleteDefault] : []), ['0.0.0.0/0 via 192.168.1.1 net']);
  });

  it('local: no host route; autolocal: none when the server is on-link; !ipv4: no IPv4 redirect', () => {
    assert.deepEqual(brief(plan([...SUBNET_PUSH, 'redirect-gateway def1 local']).routes), [
      '0.0.0.0/1 via 10.8.0.1 any',
      '128.0.0.0/1 via 10.8.0.1 any',
    ]);
    const auto = plan([...SUBNET_PUSH, 'redirect-gateway def1 autolocal'], {
      input: { serverRoute: { gateway: undefined, oif: 3 } },
    });
    assert.equal(auto.routes.length, 2);
    const v6only = plan([
      ...SUBNET_PUSH,
      'ifconfig-ipv6 fd00::2/64 fd00::1',
      'redirect-gateway def1 ipv6 !ipv4',
    ]);
    assert.deepEqual(brief(v6only.routes), ['::/3 tun', '2000::/4 tun', '3000::/4 tun', 'fc00::/7 tun']);
  });

  it('redirect-private: only the host route to the server', () => {
    assert.deepEqual(brief(plan([...SUBNET_PUSH, 'redirect-private def1']).routes), [
      '192.0.2.10/32 via 192.168.1.1 net',
    ]);
  });

  it("no VPN gateway: OpenVPN's note and nothing redirected", () => {
    const p = plan(['topology subnet', 'ifconfig 10.8.0.2 255.255.255.0', 'redirect-gateway def1']);
    assert.deepEqual(p.routes, []);
    assert.equal(p.redirected, false);
    assert.match(p.warnings.join('\n'), /unable to redirect IPv4 default gateway/);
  });

  it('ipv6 over an IPv6 server: the redirect prefixes and a /128 to the server (metric 1) first', () => {
    const p = plan([...SUBNET_PUSH, 'ifconfig-ipv6 fd00::2/64 fd00::1', 'redirect-gateway def1 ipv6'], {
      remote: { address: '2001:db8::10', family: 6 },
      input: { serverRoute: { gateway: 'fe80::1', oif: 2 } },
    });
    assert.deepEqual(brief(p.routes), [
      '0.0.0.0/1 via 10.8.0.1 any',
      '128.0.0.0/1 via 10.8.0.1 any',
      '2001:db8::10/128 via fe80::1 net metric 1',
      '::/3 tun',
      '2000::/4 tun',
      '3000::/4 tun',
      'fc00::/7 tun',
    ]);
    assert.equal(p.routeEnv.route_ipv6_network_1, '2001:db8::10/128');
    assert.equal(p.routeEnv.route_ipv6_gateway_1, 'fe80::1');
    assert.equal(p.routeEnv.route_ipv6_metric_1, '1');
    assert.equal(p.routeEnv.route_ipv6_network_2, '::/3');
    assert.equal(p.routeEnv.route_ipv6_gateway_2, 'fd00::1');
  });

  it('unknown flags refuse the directive', () => {
    const p = plan([...SUBNET_PUSH, 'redirect-gateway def1 sideways']);
    assert.equal(p.redirected, false);
    assert.match(p.warnings.join('\n'), /unknown flag sideways/);
  });
});

describe('net-plan: dhcp-option and helpers', () => {
  it("dhcp-options in order, the profile's first", () => {
    const s = collectNetSettings(
      [{ name: 'dhcp-option', args: ['DOMAIN', 'corp.example'] }],
      'subnet',
      ['dhcp-option DNS 10.8.0.1', 'dhcp-option DNS 10.8.0.2'],
      false,
    );
    assert.deepEqual(s.foreign, [
      ['dhcp-option', 'DOMAIN', 'corp.example'],
      ['dhcp-option', 'DNS', '10.8.0.1'],
      ['dhcp-option', 'DNS', '10.8.0.2'],
    ]);
  });

  it('clearHostBits6', () => {
    assert.equal(clearHostBits6('2001:db8:ffff::1', 36), '2001:db8:f000::');
    assert.equal(clearHostBits6('fd99:1::1', 128), 'fd99:1::1');
    assert.equal(clearHostBits6('ffff::', 0), '::');
  });
});
