/**
 * The pushed network configuration applied by the ovpn-ts client through rtnetlink, against Debian's
 * OpenVPN 2.6 server (fixture.ts), and taken back on exit:
 *
 * - pushed `route` and `route-ipv6` (with `--server-ipv6`) lead to addresses on lo in the server's
 *   namespace; pings to them go through the tunnel and show in our per-peer stats; an `up`
 *   script sees OpenVPN's environment (foreign_option_1 from a pushed dhcp-option, ifconfig_*,
 *   route_*, trusted_*, setenv...) and arguments, and `down` runs at SIGTERM;
 * - pushed `redirect-gateway def1 ipv6`: 0/1 and 128/1 via the VPN gateway, the IPv6 redirect
 *   prefixes, a host route to the server through the veth, and an address beyond reached through
 *   the tunnel;
 * - net30 with a route from the client's own profile (gateway: the peer), route-nopull refusing the
 *   pushed ones, and an `up` script refused without script-security 2 (the connection fails, OpenVPN's
 *   warning is logged, nothing is left); then `redirect-gateway` without def1 from the profile over
 *   an existing default route: replaced while up, put back at exit;
 * - after each client exits, `ip addr`, `ip route`, `ip -6 route` and `ip link` in the client's
 *   namespace are exactly as before it started.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  haveOpenvpn,
  type OpenvpnLab,
  SERVER_LINK,
  SERVER_VPN,
  startOpenvpnLab,
} from './fixture.js';

const skip = !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false;

/** What the client's namespace looks like, to compare before and after a client. */
function snapshotNow(ol: OpenvpnLab): string {
  return [['addr'], ['route'], ['-6', 'route'], ['link']]
    .map((a) => `# ip ${a.join(' ')}\n${ol.lab.exec(ol.nsC, 'ip', a)}`)
    .join('\n');
}

/**
 * The snapshot once the veth has settled (carrier up, IPv6 link-local address past DAD), so that
 * the comparison only sees what the client changed.
 */
async function snapshot(ol: OpenvpnLab): Promise<string> {
  for (let i = 0; ; i++) {
    const s = snapshotNow(ol);
    if (!/tentative|NO-CARRIER|state DOWN/.test(s) || i >= 50) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function ip(ol: OpenvpnLab, ns: string, ...args: string[]): string {
  return ol.lab.exec(ns, 'ip', args);
}

/** A script that writes its environment and arguments to $OUTDIR/<script_type>.env/.args. */
function writeDumpScript(dir: string): string {
  const path = join(dir, 'dump.sh');
  writeFileSync(
    path,
    '#!/bin/sh\n/usr/bin/env > "$OUTDIR/$script_type.env"\necho "$@" > "$OUTDIR/$script_type.args"\n',
  );
  chmodSync(path, 0o755);
  return path;
}

function readEnv(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

async function stats(c: ClientProcess): Promise<Record<string, number>> {
  const ev = c.waitEvent('stats', 5000);
  c.command('stats');
  return (await ev).peer as Record<string, number>;
}

async function ping(ol: OpenvpnLab, target: string, count = 3): Promise<void> {
  const r = await ol.lab.run(ol.nsC, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', target], 20_000);
  assert.match(
    r.stdout,
    new RegExp(`${count} packets transmitted, ${count} received`),
    `ping ${target}:\n${r.stdout}${r.stderr}`,
  );
}

/** SIGTERM, as a user's `kill` would, and the exit status. */
async function terminate(c: ClientProcess): Promise<number | string | undefined> {
  c.child.kill('SIGTERM');
  return c.waitExit(10_000);
}

async function withLab(
  prefix: string,
  serverArgs: string[],
  body: (ol: OpenvpnLab) => Promise<void>,
): Promise<void> {
  const ol = await startOpenvpnLab(prefix, { serverArgs });
  try {
    await body(ol);
  } catch (e) {
    throw new Error(`${(e as Error).stack}\nserver log:\n${ol.serverLog.slice(-30).join('\n')}`);
  } finally {
    const left = await ol.cleanup();
    assert.deepEqual(left, []);
  }
}

describe('ovpn-ts client: network configuration and scripts (netns)', { skip, timeout: 180_000 }, () => {
  it("applies pushed route and route-ipv6, runs up/down with OpenVPN's environment, and removes everything", async () => {
    const TUN = 'ovna0';
    await withLab(
      'ovna',
      [
        '--server-ipv6',
        'fd98::/64',
        '--push',
        'route 10.99.1.0 255.255.255.0',
        '--push',
        'route-ipv6 fd99:1::/64',
        '--push',
        'dhcp-option DNS 10.98.0.53',
        '--push',
        'dhcp-option DOMAIN example.test',
        '--push',
        'dns server 1 address 10.98.0.54',
      ],
      async (ol) => {
        ip(ol, ol.nsS, 'addr', 'add', '10.99.1.1/32', 'dev', 'lo');
        ip(ol, ol.nsS, '-6', 'addr', 'add', 'fd99:1::1/128', 'dev', 'lo', 'nodad');
        ip(ol, ol.nsS, 'link', 'set', 'lo', 'up');
        const script = writeDumpScript(ol.dir);
        const before = await snapshot(ol);
        const cfg = ol.writeClientConfig([
          'verb 3',
          'script-security 2',
          `up ${script}`,
          `down ${script}`,
          `setenv OUTDIR ${ol.dir}`,
          'setenv FOO "bar baz"',
        ]);
        const c = ol.spawnClient(['--config', cfg, '--dev', TUN, '--dev-type', 'tun', '--json']);
        await c.waitEvent('up', 25_000, 0);

        assert.match(
          ip(ol, ol.nsC, 'route', 'show', '10.99.1.0/24'),
          new RegExp(`via ${SERVER_VPN} dev ${TUN}`),
        );
        assert.match(ip(ol, ol.nsC, '-6', 'route', 'show', 'fd99:1::/64'), new RegExp(`dev ${TUN}`));
        assert.match(ip(ol, ol.nsC, 'addr', 'show', TUN), /inet 10\.98\.0\.2\/24/);
        assert.match(ip(ol, ol.nsC, 'addr', 'show', TUN), /inet6 fd98::1000\/64/);
        assert.match(ip(ol, ol.nsC, 'link', 'show', TUN), /mtu 1500 .*state (UP|UNKNOWN)/);

        const s0 = await stats(c);
        await ping(ol, '10.99.1.1');
        await ping(ol, 'fd99:1::1');
        const s1 = await stats(c);
        assert.ok(
          s1['vpn-tx-packets'] - s0['vpn-tx-packets'] >= 6,
          `tx ${s0['vpn-tx-packets']} → ${s1['vpn-tx-packets']}`,
        );
        assert.ok(
          s1['vpn-rx-packets'] - s0['vpn-rx-packets'] >= 6,
          `rx ${s0['vpn-rx-packets']} → ${s1['vpn-rx-packets']}`,
        );

        const up = readEnv(join(ol.dir, 'up.env'));
        const expect: Record<string, string> = {
          script_type: 'up',
          script_context: 'init',
          dev: TUN,
          dev_type: 'tun',
          tun_mtu: '1500',
          ifconfig_local: '10.98.0.2',
          ifconfig_netmask: '255.255.255.0',
          ifconfig_ipv6_local: 'fd98::1000',
          ifconfig_ipv6_netbits: '64',
          ifconfig_ipv6_remote: 'fd98::1',
          route_vpn_gateway: SERVER_VPN,
          route_network_1: '10.99.1.0',
          route_netmask_1: '255.255.255.0',
          route_gateway_1: SERVER_VPN,
          route_ipv6_network_1: 'fd99:1::/64',
          route_ipv6_gateway_1: 'fd98::1',
          foreign_option_1: 'dhcp-option DNS 10.98.0.53',
          foreign_option_2: 'dhcp-option DOMAIN example.test',
          dns_server_1_address_1: '10.98.0.54',
          trusted_ip: SERVER_LINK,
          trusted_port: '1194',
          untrusted_ip: SERVER_LINK,
          untrusted_port: '1194',
          remote_1: SERVER_LINK,
          remote_port_1: '1194',
          proto_1: 'udp',
          common_name: 'ovna-server',
          verb: '3',
          daemon: '0',
          config: cfg,
          OUTDIR: ol.dir,
          FOO: 'bar baz',
        };
        for (const [k, v] of Object.entries(expect)) assert.equal(up[k], v, `up env ${k}`);
        assert.equal(up.PATH, undefined, 'only OpenVPN variables reach the script');
        assert.equal(
          readFileSync(join(ol.dir, 'up.args'), 'utf8').trim(),
          `${TUN} 1500 0 10.98.0.2 255.255.255.0 init`,
        );

        assert.equal(await terminate(c), 0, c.tail());
        const down = readEnv(join(ol.dir, 'down.env'));
        assert.equal(down.script_type, 'down');
        assert.equal(down.signal, 'sigterm');
        assert.equal(down.dev, TUN);
        assert.equal(down.foreign_option_1, 'dhcp-option DNS 10.98.0.53');
        assert.equal(
          readFileSync(join(ol.dir, 'down.args'), 'utf8').trim(),
          `${TUN} 1500 0 10.98.0.2 255.255.255.0 init`,
        );
        assert.equal(await snapshot(ol), before);
      },
    );
  });

  it('redirect-gateway def1 ipv6: half routes, a host route to the server, traffic beyond, all removed', async () => {
    const TUN = 'ovnb0';
    await withLab(
      'ovnb',
      ['--server-ipv6', 'fd98::/64', '--push', 'redirect-gateway def1 ipv6 bypass-dhcp'],
      async (ol) => {
        ip(ol, ol.nsS, 'addr', 'add', '10.99.2.1/32', 'dev', 'lo');
        ip(ol, ol.nsS, '-6', 'addr', 'add', 'fd99:2::1/128', 'dev', 'lo', 'nodad');
        ip(ol, ol.nsS, 'link', 'set', 'lo', 'up');
        const before = await snapshot(ol);
        // nothing in the client namespace reaches 10.99.2.1 before the tunnel
        assert.doesNotMatch(ip(ol, ol.nsC, 'route'), /^default/m);
        const cfg = ol.writeClientConfig(['verb 3']);
        const c = ol.spawnClient(['--config', cfg, '--dev', TUN, '--dev-type', 'tun', '--json']);
        await c.waitEvent('up', 25_000, 0);

        const routes = ip(ol, ol.nsC, 'route');
        assert.match(routes, new RegExp(`^0\\.0\\.0\\.0/1 via ${SERVER_VPN} dev ${TUN}`, 'm'), routes);
        assert.match(routes, new RegExp(`^128\\.0\\.0\\.0/1 via ${SERVER_VPN} dev ${TUN}`, 'm'), routes);
        assert.match(routes, new RegExp(`^${SERVER_LINK.replace(/\./g, '\\.')} dev ovnbb`, 'm'), routes);
        const routes6 = ip(ol, ol.nsC, '-6', 'route');
        for (const p of ['::/3', '2000::/4', '3000::/4', 'fc00::/7'])
          assert.match(routes6, new RegExp(`^${p.replace(/[./]/g, '\\$&')} dev ${TUN}`, 'm'), routes6);
        assert.match(ip(ol, ol.nsC, 'route', 'get', SERVER_LINK), /dev ovnbb/);

        const s0 = await stats(c);
        await ping(ol, '10.99.2.1');
        await ping(ol, 'fd99:2::1');
        await ping(ol, SERVER_LINK); // the server itself, still through the veth
        const s1 = await stats(c);
        assert.ok(
          s1['vpn-tx-packets'] - s0['vpn-tx-packets'] >= 6,
          `tx ${s0['vpn-tx-packets']} → ${s1['vpn-tx-packets']}`,
        );

        // a route someone else removed meanwhile: closing skips it quietly
        ip(ol, ol.nsC, 'route', 'del', '128.0.0.0/1');
        assert.equal(await terminate(c), 0, c.tail());
        assert.ok(!c.out.some((l) => /route delete failed/.test(l)), c.tail());
        assert.equal(await snapshot(ol), before);
      },
    );
  });

  it('net30 with a route from the profile, route-nopull, and an up script refused without script-security 2', async () => {
    const TUN = 'ovnc0';
    await withLab(
      'ovnc',
      [
        '--topology',
        'net30',
        '--push',
        'route 10.99.4.0 255.255.255.0',
        '--push',
        'dhcp-option DNS 10.98.0.53',
      ],
      async (ol) => {
        ip(ol, ol.nsS, 'addr', 'add', '10.99.3.1/32', 'dev', 'lo');
        ip(ol, ol.nsS, 'link', 'set', 'lo', 'up');
        const script = writeDumpScript(ol.dir);
        const before = await snapshot(ol);
        const cfg = ol.writeClientConfig([
          'verb 3',
          'route 10.99.3.0 255.255.255.0',
          'route-nopull',
          'script-security 2',
          `up ${script}`,
          `setenv OUTDIR ${ol.dir}`,
        ]);
        const c = ol.spawnClient(['--config', cfg, '--dev', TUN, '--dev-type', 'tun', '--json']);
        await c.waitEvent('up', 25_000, 0);
        const addr = ip(ol, ol.nsC, 'addr', 'show', TUN);
        const m = /inet (10\.98\.0\.\d+) peer (10\.98\.0\.\d+)\/32/.exec(addr);
        assert.ok(m, addr);
        const peer = m[2];
        assert.match(
          ip(ol, ol.nsC, 'route', 'show', '10.99.3.0/24'),
          new RegExp(`via ${peer.replace(/\./g, '\\.')} dev ${TUN}`),
        );
        assert.equal(
          ip(ol, ol.nsC, 'route', 'show', '10.99.4.0/24').trim(),
          '',
          'route-nopull refuses the pushed route',
        );
        const up = readEnv(join(ol.dir, 'up.env'));
        assert.equal(up.ifconfig_remote, peer);
        assert.equal(up.route_vpn_gateway, peer);
        assert.equal(up.route_gateway_1, peer);
        assert.equal(up.foreign_option_1, undefined, 'route-nopull refuses pushed dhcp-option');
        await ping(ol, '10.99.3.1');
        assert.equal(await terminate(c), 0, c.tail());
        assert.equal(await snapshot(ol), before);

        // the same with script-security 1: OpenVPN's warning, the connection fails, nothing is left
        const cfg2 = ol.writeClientConfig(['verb 3', `up ${script}`], 'refused.ovpn');
        const c2 = ol.spawnClient(['--config', cfg2, '--dev', TUN, '--dev-type', 'tun', '--json']);
        await assert.rejects(c2.waitEvent('up', 25_000, 0), /up script/);
        assert.equal(await c2.waitExit(10_000), 1);
        assert.ok(
          [...c2.out, ...c2.err].some((l) =>
            l.includes("External program may not be called unless '--script-security 2'"),
          ),
          c2.tail(),
        );
        assert.equal(await snapshot(ol), before);
        assert.ok(!existsSync(join(ol.dir, 'down.env')));

        // redirect-gateway without def1, from the profile: the default route is replaced, then put back
        ip(ol, ol.nsC, 'route', 'add', 'default', 'via', SERVER_LINK, 'dev', 'ovncb');
        const withDefault = await snapshot(ol);
        const cfg3 = ol.writeClientConfig(['verb 3', 'redirect-gateway'], 'redirect.ovpn');
        const c3 = ol.spawnClient(['--config', cfg3, '--dev', TUN, '--dev-type', 'tun', '--json']);
        await c3.waitEvent('up', 25_000, 0);
        const routes = ip(ol, ol.nsC, 'route');
        const peer3 = /inet 10\.98\.0\.\d+ peer (10\.98\.0\.\d+)/.exec(
          ip(ol, ol.nsC, 'addr', 'show', TUN),
        )?.[1];
        assert.ok(peer3 !== undefined);
        assert.match(
          routes,
          new RegExp(`^default via ${peer3.replace(/\./g, '\\.')} dev ${TUN}`, 'm'),
          routes,
        );
        assert.doesNotMatch(routes, /^default via 10\.97\.0\.1/m, routes);
        assert.match(routes, /^10\.97\.0\.1 dev ovncb/m, routes);
        await ping(ol, '10.99.3.1'); // beyond, through the tunnel by the new default route
        assert.equal(await terminate(c3), 0, c3.tail());
        assert.equal(await snapshot(ol), withDefault);
      },
    );
  });
});
