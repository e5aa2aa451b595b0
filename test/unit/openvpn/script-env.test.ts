/** The environment and arguments of up/down scripts (script-env.ts) and pull-filter (pull-filter.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectNetSettings, planNetConfig } from '../../../src/openvpn/net-plan.js';
import { applyPullFilters, PullFilterRejected } from '../../../src/openvpn/pull-filter.js';
import { buildScriptEnv, scriptArgv, scriptVars } from '../../../src/openvpn/script-env.js';

function env(pushed: string[], topology: 'net30' | 'subnet' = 'subnet', family: 4 | 6 = 4) {
  const settings = collectNetSettings(
    [{ name: 'dhcp-option', args: ['DOMAIN', 'corp.example'] }],
    topology,
    pushed,
    false,
  );
  const plan = planNetConfig({
    settings,
    tunMtu: 1500,
    remote: { address: family === 4 ? '192.0.2.10' : '2001:db8::10', family },
    serverRoute: { gateway: '192.168.1.1', oif: 2 },
    defaultRoute4: { gateway: '192.168.1.1', oif: 2 },
    defaultRoute6: { gateway: 'fe80::1', oif: 2 },
  });
  return buildScriptEnv({
    config: '/etc/openvpn/client.conf',
    verb: 3,
    daemon: false,
    logRedirect: true,
    startTime: 1700000000,
    pid: 4242,
    connections: [
      { host: 'vpn.example.com', port: 1194, proto: 'udp' },
      { host: 'vpn2.example.com', port: 443, proto: 'tcp-client' },
    ],
    setenv: new Map([['FOO', 'bar baz']]),
    remote: { address: family === 4 ? '192.0.2.10' : '2001:db8::10', port: 1194, family },
    commonName: 'server',
    settings,
    plan,
  });
}

describe('script environment', () => {
  it('has the variables OpenVPN 2.6 sets before `up` (subnet)', () => {
    const e = env([
      'topology subnet',
      'ifconfig 10.8.0.2 255.255.255.0',
      'route-gateway 10.8.0.1',
      'ifconfig-ipv6 fd00::1000/64 fd00::1',
      'route 10.10.0.0 255.255.0.0',
      'route-ipv6 fd99::/64',
      'dhcp-option DNS 10.8.0.53',
    ]);
    assert.deepEqual(e, {
      config: '/etc/openvpn/client.conf',
      verb: '3',
      daemon: '0',
      daemon_log_redirect: '1',
      daemon_start_time: '1700000000',
      daemon_pid: '4242',
      proto_1: 'udp',
      remote_1: 'vpn.example.com',
      remote_port_1: '1194',
      proto_2: 'tcp-client',
      remote_2: 'vpn2.example.com',
      remote_port_2: '443',
      FOO: 'bar baz',
      foreign_option_1: 'dhcp-option DOMAIN corp.example',
      foreign_option_2: 'dhcp-option DNS 10.8.0.53',
      untrusted_ip: '192.0.2.10',
      untrusted_port: '1194',
      trusted_ip: '192.0.2.10',
      trusted_port: '1194',
      common_name: 'server',
      ifconfig_local: '10.8.0.2',
      ifconfig_netmask: '255.255.255.0',
      ifconfig_ipv6_local: 'fd00::1000',
      ifconfig_ipv6_netbits: '64',
      ifconfig_ipv6_remote: 'fd00::1',
      route_net_gateway: '192.168.1.1',
      route_vpn_gateway: '10.8.0.1',
      net_gateway_ipv6: 'fe80::1',
      route_network_1: '10.10.0.0',
      route_netmask_1: '255.255.0.0',
      route_gateway_1: '10.8.0.1',
      route_ipv6_network_1: 'fd99::/64',
      route_ipv6_gateway_1: 'fd00::1',
    });
  });

  it('net30: ifconfig_remote instead of ifconfig_netmask; IPv6 server: *_ip6', () => {
    const e = env(['topology net30', 'ifconfig 10.8.0.6 10.8.0.5'], 'net30', 6);
    assert.equal(e.ifconfig_remote, '10.8.0.5');
    assert.equal(e.ifconfig_netmask, undefined);
    assert.equal(e.route_vpn_gateway, '10.8.0.5');
    assert.equal(e.trusted_ip6, '2001:db8::10');
    assert.equal(e.untrusted_ip6, '2001:db8::10');
    assert.equal(e.trusted_ip, undefined);
  });

  it('per-script variables as run_up_down sets them', () => {
    assert.deepEqual(scriptVars('up', 'tun0', 1500), {
      script_type: 'up',
      script_context: 'init',
      tun_mtu: '1500',
      dev: 'tun0',
      dev_type: 'tun',
    });
    assert.deepEqual(scriptVars('down', 'tun0', 1400, { signal: 'sigterm', redirected: true }), {
      script_type: 'down',
      signal: 'sigterm',
      script_context: 'init',
      tun_mtu: '1400',
      dev: 'tun0',
      redirect_gateway: '1',
    });
    assert.deepEqual(scriptVars('route-up', 'tun0', 1500), { script_type: 'route-up' });
  });

  it("arguments: the script's own words, then dev tun_mtu 0 local remote init", () => {
    const a = {
      dev: 'tun0',
      tunMtu: 1500,
      local: '10.8.0.2',
      remote: '255.255.255.0',
      context: 'init' as const,
    };
    assert.deepEqual(scriptArgv('/etc/openvpn/update-resolv-conf', 'up', a), [
      '/etc/openvpn/update-resolv-conf',
      'tun0',
      '1500',
      '0',
      '10.8.0.2',
      '255.255.255.0',
      'init',
    ]);
    assert.deepEqual(scriptArgv('"/opt/my scripts/up.sh" --verbose', 'down', a).slice(0, 3), [
      '/opt/my scripts/up.sh',
      '--verbose',
      'tun0',
    ]);
    assert.deepEqual(scriptArgv('/bin/route-up.sh x', 'route-up', a), ['/bin/route-up.sh', 'x']);
  });
});

describe('--dns variables', () => {
  it("servers by priority, a pushed one replacing the profile's of the same priority, as setenv_dns_options names them", () => {
    const settings = collectNetSettings(
      [
        { name: 'dns', args: ['server', '-5', 'address', '192.0.2.53'] },
        { name: 'dns', args: ['server', '1', 'address', '192.0.2.1'] },
        { name: 'dns', args: ['search-domains', 'home.example'] },
      ],
      'subnet',
      [
        'dns server 1 address 10.8.0.1:5353 [FD00::0001]:853 fd00::2',
        'dns server 1 resolve-domains corp.example lab.example',
        'dns server 1 dnssec optional',
        'dns server 1 transport DoT',
        'dns server 1 sni dns.corp.example',
        'dns server 0 address 10.8.0.2',
        'dns search-domains corp.example',
        'dns server 2 address not-an-address',
      ],
      false,
    );
    const plan = planNetConfig({
      settings,
      tunMtu: 1500,
      remote: { address: '192.0.2.10', family: 4 },
      serverRoute: undefined,
      defaultRoute4: undefined,
      defaultRoute6: undefined,
    });
    const e = buildScriptEnv({
      config: undefined,
      verb: 1,
      daemon: false,
      logRedirect: false,
      startTime: 0,
      pid: 1,
      connections: [],
      setenv: new Map(),
      remote: { address: '192.0.2.10', port: 1194, family: 4 },
      commonName: undefined,
      settings,
      plan,
    });
    const dns = Object.fromEntries(Object.entries(e).filter(([k]) => k.startsWith('dns_')));
    assert.deepEqual(dns, {
      dns_search_domain_1: 'home.example',
      dns_search_domain_2: 'corp.example',
      dns_server_1_address_1: '192.0.2.53',
      dns_server_2_address_1: '10.8.0.2',
      dns_server_3_address_1: '10.8.0.1',
      dns_server_3_port_1: '5353',
      dns_server_3_address_2: 'fd00::1',
      dns_server_3_port_2: '853',
      dns_server_3_address_3: 'fd00::2',
      dns_server_3_resolve_domain_1: 'corp.example',
      dns_server_3_resolve_domain_2: 'lab.example',
      dns_server_3_dnssec: 'optional',
      dns_server_3_transport: 'DoT',
      dns_server_3_sni: 'dns.corp.example',
    });
    assert.match(settings.warnings.join('\n'), /malformed address .*not-an-address/);
    assert.match(settings.warnings.join('\n'), /dns server 2 does not have an address/);
  });

  it('a pushed negative priority is refused', () => {
    const s = collectNetSettings([], 'subnet', ['dns server -1 address 10.8.0.1'], false);
    assert.deepEqual(s.dns.servers, []);
    assert.match(s.warnings.join('\n'), /invalid priority value '-1'/);
  });
});

describe('pull-filter', () => {
  const lines = [
    'route 10.1.0.0 255.255.0.0',
    'route-gateway 10.8.0.1',
    ' dhcp-option DNS 10.8.0.1',
    'redirect-gateway def1',
  ];

  it('the first matching prefix decides; no match keeps the line', () => {
    const removed: string[] = [];
    const out = applyPullFilters(
      lines,
      [
        { action: 'accept', pattern: 'route-gateway' },
        { action: 'ignore', pattern: 'route' },
        { action: 'ignore', pattern: 'dhcp-option' },
      ],
      (m) => removed.push(m),
    );
    assert.deepEqual(out, ['route-gateway 10.8.0.1', 'redirect-gateway def1']);
    assert.deepEqual(removed, [
      "Pushed option removed by filter: 'route 10.1.0.0 255.255.0.0'",
      "Pushed option removed by filter: 'dhcp-option DNS 10.8.0.1'",
    ]);
  });

  it('reject refuses the whole reply', () => {
    assert.throws(
      () => applyPullFilters(lines, [{ action: 'reject', pattern: 'redirect-gateway' }]),
      (e: unknown) => e instanceof PullFilterRejected && /redirect-gateway def1/.test(e.message),
    );
  });
});
