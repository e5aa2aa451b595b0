/**
 * Server configs (src/config/server-directives.ts, server-options-build.ts, load.ts loadServerConfig
 * and configRole), through the loader with an in-memory file system: the `server` / `server-ipv6`
 * helper expansions with exact addresses (net30, subnet, p2p, /29, nopool), keepalive and
 * tcp-nodelay pushes, the listening socket, 2.6's mode-server checks, refusals naming file:line,
 * role detection, and a typical Debian-style server.conf.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIRECTIVES, SERVER_DIRECTIVES } from '../../../src/config/directives.js';
import { configRole, loadClientConfig, loadServerConfig } from '../../../src/config/load.js';
import { readConfigText } from '../../../src/config/read.js';
import { ConfigError } from '../../../src/config/tokenize.js';

const PEM = (label: string) => `-----BEGIN ${label}-----\nTk9UIEEgUkVBTCBLRVk=\n-----END ${label}-----\n`;
/** Lines 1-5: what every server needs besides `server`. */
const BASE = 'dev tun\nca ca.crt\ncert server.crt\nkey server.key\ndh none\n';
const FILE = '/etc/ovpn/s.conf';

async function load(text: string, argv: string[] = [], files: Record<string, string> = {}) {
  const fs: Record<string, string> = { [FILE]: text, ...files };
  const readFile = (p: string): string => {
    const f = fs[p];
    if (f === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return f;
  };
  return loadServerConfig(['--config', 's.conf', ...argv], { readFile, cwd: '/etc/ovpn', env: {} });
}

async function refused(text: string, line: number, directive: string, re: RegExp): Promise<void> {
  await assert.rejects(load(text), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.file, FILE);
    assert.equal(e.line, line);
    assert.equal(e.directive, directive);
    assert.match(e.message, re);
    return true;
  });
}

describe('server directive table', () => {
  it('every entry has a consistent shape', () => {
    for (const [name, s] of SERVER_DIRECTIVES) {
      assert.ok(s.min >= 0 && s.max >= s.min && s.max <= 15, name);
      assert.equal(s.disposition !== 'honoured', s.reason !== undefined, name);
    }
  });
  it('server directives stay refused for the client, with its reason', () => {
    assert.equal(DIRECTIVES.get('push')?.disposition, 'refused');
    assert.equal(DIRECTIVES.get('server')?.disposition, 'refused');
    assert.equal(DIRECTIVES.get('tls-server')?.disposition, 'refused');
    assert.equal(DIRECTIVES.get('ccd-exclusive'), undefined);
    assert.equal(SERVER_DIRECTIVES.get('push')?.disposition, 'honoured');
    assert.equal(SERVER_DIRECTIVES.get('client')?.disposition, 'refused');
  });
  it('a config using every honoured server directive builds (each one is read)', async () => {
    const text = [
      'mode server',
      'tls-server',
      'dev tun0',
      'dev-type tun',
      'topology subnet',
      'ifconfig 10.8.0.1 255.255.255.0',
      'ifconfig-pool 10.8.0.10 10.8.0.100 255.255.255.0',
      'ifconfig-ipv6 fd00::1/64 fd00::2',
      'ifconfig-ipv6-pool fd00::1000/64',
      'ifconfig-pool-persist ipp.txt 30',
      'push "dhcp-option DNS 10.8.0.1"',
      'duplicate-cn',
      'max-clients 10',
      'client-config-dir ccd',
      'ccd-exclusive',
      'client-to-client',
      'route 10.9.0.0 255.255.255.0',
      'route-ipv6 fd01::/64',
      'route-gateway 10.8.0.2',
      'ping 10',
      'ping-restart 60',
      'explicit-exit-notify 2',
      'verify-client-cert optional',
      'remote-cert-tls client',
      'remote-cert-eku "TLS Web Client Authentication"',
      'remote-cert-ku a0 88',
      'ns-cert-type client',
      'verify-x509-name client name-prefix',
      'crl-verify crl.pem',
      'tls-crypt-v2 v2.key allow-noncookie',
      'tls-crypt-v2-verify /bin/true',
      'key-direction 0',
      'auth-user-pass-verify /bin/check via-file',
      'username-as-common-name',
      'auth-user-pass-optional',
      'auth-gen-token 3600 600 external-auth',
      'auth-gen-token-secret tok.key',
      'script-security 2',
      'up /bin/up',
      'down /bin/down',
      'client-connect /bin/cc',
      'client-disconnect /bin/cd',
      'learn-address /bin/la',
      'tls-verify /bin/tv',
      'tmp-dir /run/ovpn',
      'connect-freq 5 10',
      'connect-freq-initial 50 5',
      'status status.log 10',
      'status-version 2',
      'proto udp6',
      'port 1195',
      'lport 1196',
      'local ::',
      'bind ipv6only',
      'tun-mtu 1400',
      'mssfix 1350 mtu',
      'ca ca.crt',
      'capath /etc/ssl/certs',
      'cert s.crt',
      'key s.key',
      'extra-certs extra.pem',
      'askpass pass.txt',
      'dh dh.pem',
      'tls-version-min 1.2',
      'tls-version-max 1.3',
      'tls-cipher DEFAULT',
      'tls-ciphersuites TLS_AES_256_GCM_SHA384',
      'tls-groups X25519',
      'tls-cert-profile preferred',
      'data-ciphers AES-256-GCM:CHACHA20-POLY1305',
      'data-ciphers-fallback AES-128-GCM',
      'cipher AES-256-GCM',
      'auth SHA256',
      'compress stub-v2',
      'allow-compression no',
      'reneg-sec 1800',
      'reneg-bytes 1000000',
      'reneg-pkts 1000',
      'hand-window 30',
      'tran-window 600',
      'tls-timeout 3',
      'verb 4',
      'log-append ovpn.log',
      'daemon ovpn-srv',
      'writepid ovpn.pid',
      'persist-tun',
      'persist-key',
      'setenv FOO bar',
      'setenv-safe BAZ 1',
      'tcp-nodelay',
      'cd /etc/ovpn',
      'ignore-unknown-option foo',
    ].join('\n');
    // with REST below, every honoured directive but `config` (expanded by the loader)
    const written = new Set(`${text}\n${REST}`.split('\n').map((l) => l.split(' ')[0]));
    for (const [name, spec] of SERVER_DIRECTIVES) {
      if (spec.disposition === 'honoured' && name !== 'config') {
        assert.ok(written.has(name), `${name} is not in the test configs`);
      }
    }
    const { options: o } = await load(text);
    assert.equal(o.dev, 'tun0');
    assert.deepEqual(o.listen, { proto: 'udp', family: 6, local: '::', port: 1196, ipv6only: true });
    assert.deepEqual(o.ifconfig, { local: '10.8.0.1', remoteOrPrefix: '24', topology: 'subnet' });
    assert.deepEqual(o.pool, { start: '10.8.0.10', end: '10.8.0.100', netmask: '255.255.255.0' });
    assert.deepEqual(o.ifconfigIpv6, { address: 'fd00::1', prefix: 64 });
    assert.deepEqual(o.poolIpv6, { address: 'fd00::1000', prefix: 64 });
    assert.equal(o.poolPersist?.seconds, 30);
    assert.equal(o.clientConfigDir, '/etc/ovpn/ccd');
    assert.deepEqual(o.tlsWrap, {
      mode: 'tls-crypt-v2',
      key: { kind: 'path', path: 'v2.key', dir: '/etc/ovpn' },
      forceCookie: false,
    });
    assert.deepEqual(o.authGenToken, { lifetime: 3600, renewal: 600, externalAuth: true });
    assert.deepEqual(o.scripts, {
      up: '/bin/up',
      down: '/bin/down',
      clientConnect: '/bin/cc',
      clientDisconnect: '/bin/cd',
      learnAddress: '/bin/la',
      tlsVerify: '/bin/tv',
    });
    assert.deepEqual(o.connectFreq, { n: 5, seconds: 10 });
    assert.deepEqual(o.connectFreqInitial, { n: 50, seconds: 5 });
    assert.equal(o.statusVersion, 2);
    assert.equal(o.status?.seconds, 10);
    assert.deepEqual(o.dataCiphers, ['AES-256-GCM', 'CHACHA20-POLY1305']);
    assert.equal(o.compression, 'stub-v2');
    assert.deepEqual(o.push, ['dhcp-option DNS 10.8.0.1', 'socket-flags TCP_NODELAY']);
    assert.equal(o.ping, 10);
    assert.equal(o.pingRecvTimeout, 60);
    assert.equal(o.tmpDir, '/run/ovpn');
    assert.equal(o.setenv.get('OPENVPN_BAZ'), '1');
    assert.deepEqual(o.routesIpv6[0].network, { address: 'fd01::', prefix: 64 });
    assert.equal(o.verifyClientCert, 'optional');
  });
});

/** The honoured directives that exclude some of the first config's (keepalive/ping, pkcs12/cert...). */
const REST = [
  'dev tun',
  'server 10.8.0.0 255.255.255.0',
  'server-ipv6 fd00::/64',
  'keepalive 5 30',
  'pkcs12 server.p12',
  'tls-auth ta.key 0',
  'ncp-ciphers AES-128-GCM',
  'comp-lzo no',
  'log ovpn.log',
  'ca ca.crt',
  'dh none',
  'tls-crypt tc.key',
].join('\n');

describe('the rest of the honoured directives', () => {
  it('build too', async () => {
    await refused(REST, 12, 'tls-crypt', /mutually exclusive/);
    const { options: o, notes } = await load(REST.replace('\ntls-crypt tc.key', ''));
    assert.deepEqual(o.tlsWrap, {
      mode: 'tls-auth',
      key: { kind: 'path', path: 'ta.key', dir: '/etc/ovpn' },
      direction: 0,
    });
    assert.deepEqual(o.pkcs12, { kind: 'path', path: 'server.p12', dir: '/etc/ovpn' });
    assert.deepEqual(o.dataCiphers, ['AES-128-GCM']);
    assert.ok(notes.some((n) => n.directive === 'ncp-ciphers'));
    assert.equal(o.compression, 'lzo-stub');
    assert.deepEqual(o.log, { ref: { kind: 'path', path: 'ovpn.log', dir: '/etc/ovpn' }, append: false });
    assert.equal(o.pingRecvTimeout, 60);
  });
});

describe('the server helper (helper.c helper_client_server)', () => {
  it('net30 (the 2.6 default): .1 <-> .2, pool .4 to broadcast-4, route, pushed route to .1', async () => {
    const { options: o, notes } = await load(`${BASE}server 10.8.0.0 255.255.255.0\n`);
    assert.equal(o.topology, 'net30');
    assert.deepEqual(o.ifconfig, { local: '10.8.0.1', remoteOrPrefix: '10.8.0.2', topology: 'net30' });
    assert.deepEqual(o.pool, { start: '10.8.0.4', end: '10.8.0.251', netmask: undefined });
    assert.deepEqual(
      o.routes.map((r) => [r.network, r.netmask, r.gateway, r.at.line]),
      [['10.8.0.0', '255.255.255.0', undefined, 6]],
    );
    assert.deepEqual(o.push, ['route 10.8.0.1', 'topology net30']);
    assert.equal(o.routeGateway, undefined);
    assert.ok(notes.some((n) => n.directive === 'server' && /net30/.test(n.message)));
  });
  it('net30 with client-to-client pushes the whole network instead', async () => {
    const { options: o } = await load(`${BASE}client-to-client\nserver 10.8.0.0 255.255.255.0\n`);
    assert.deepEqual(o.push, ['route 10.8.0.0 255.255.255.0', 'topology net30']);
  });
  it('net30 /29 keeps no reserve at the end of the pool', async () => {
    const { options: o } = await load(`${BASE}server 10.8.0.8 255.255.255.248\n`);
    assert.deepEqual(o.pool, { start: '10.8.0.12', end: '10.8.0.15', netmask: undefined });
  });
  it('p2p: the net30 addresses and pool without the pushed route', async () => {
    const { options: o } = await load(`${BASE}topology p2p\nserver 10.8.0.0 255.255.255.0\n`);
    assert.deepEqual(o.ifconfig, { local: '10.8.0.1', remoteOrPrefix: '10.8.0.2', topology: 'p2p' });
    assert.deepEqual(o.pool, { start: '10.8.0.4', end: '10.8.0.251', netmask: undefined });
    assert.deepEqual(o.push, ['topology p2p']);
  });
  it('subnet: .1/24, pool .2 to broadcast-1, route-gateway pushed (.1) and local (.2), no route', async () => {
    const { options: o } = await load(`${BASE}topology subnet\nserver 10.8.0.0 255.255.255.0\n`);
    assert.deepEqual(o.ifconfig, { local: '10.8.0.1', remoteOrPrefix: '24', topology: 'subnet' });
    assert.deepEqual(o.pool, { start: '10.8.0.2', end: '10.8.0.254', netmask: '255.255.255.0' });
    assert.deepEqual(o.push, ['route-gateway 10.8.0.1', 'topology subnet']);
    assert.equal(o.routeGateway, '10.8.0.2');
    assert.deepEqual(o.routes, []);
  });
  it('subnet /16 and an explicit route-gateway', async () => {
    const { options: o } = await load(
      `${BASE}topology subnet\nroute-gateway 10.20.0.9\nserver 10.20.0.0 255.255.0.0\n`,
    );
    assert.deepEqual(o.pool, { start: '10.20.0.2', end: '10.20.255.254', netmask: '255.255.0.0' });
    assert.equal(o.routeGateway, '10.20.0.9');
  });
  it('nopool: addresses without a pool, and an explicit ifconfig-pool is then allowed', async () => {
    const a = await load(`${BASE}topology subnet\nserver 10.8.0.0 255.255.255.0 nopool\n`);
    assert.equal(a.options.pool, undefined);
    assert.deepEqual(a.options.ifconfig, { local: '10.8.0.1', remoteOrPrefix: '24', topology: 'subnet' });
    const b = await load(
      `${BASE}topology subnet\nserver 10.8.0.0 255.255.255.0 nopool\nifconfig-pool 10.8.0.100 10.8.0.199\n`,
    );
    assert.deepEqual(b.options.pool, { start: '10.8.0.100', end: '10.8.0.199', netmask: undefined });
  });
  it('config push lines come first, then the helpers: tun-ipv6, route/topology, keepalive, tcp-nodelay', async () => {
    const { options: o } = await load(
      `${BASE}tcp-nodelay\nkeepalive 10 120\npush "redirect-gateway def1"\nserver-ipv6 fd00:1::/64\ntopology subnet\nserver 10.8.0.0 255.255.255.0\n`,
    );
    assert.deepEqual(o.push, [
      'redirect-gateway def1',
      'tun-ipv6',
      'route-gateway 10.8.0.1',
      'topology subnet',
      'ping 10',
      'ping-restart 120',
      'socket-flags TCP_NODELAY',
    ]);
  });
});

describe('server-ipv6 and keepalive', () => {
  it('server-ipv6 /64: server ::1, pool from base + 0x1000', async () => {
    const { options: o } = await load(`${BASE}server-ipv6 fd00:1:2:3::/64\n`);
    assert.deepEqual(o.ifconfigIpv6, { address: 'fd00:1:2:3::1', prefix: 64 });
    assert.deepEqual(o.poolIpv6, { address: 'fd00:1:2:3::1000', prefix: 64 });
    assert.deepEqual(o.push, ['tun-ipv6']);
    assert.equal(o.ifconfig, undefined);
  });
  it('server-ipv6 /112 and smaller: pool from base + 2', async () => {
    const { options: o } = await load(`${BASE}server-ipv6 fd00::ab:0/112\n`);
    assert.deepEqual(o.ifconfigIpv6, { address: 'fd00::ab:1', prefix: 112 });
    assert.deepEqual(o.poolIpv6, { address: 'fd00::ab:2', prefix: 112 });
  });
  it('keepalive a b on a server: ping a, drop after 2b, pushes ping a / ping-restart b', async () => {
    const { options: o } = await load(`${BASE}server 10.8.0.0 255.255.255.0\nkeepalive 10 120\n`);
    assert.equal(o.ping, 10);
    assert.equal(o.pingRecvTimeout, 240);
    assert.deepEqual(o.push.slice(-2), ['ping 10', 'ping-restart 120']);
  });
  it('keepalive refusals name the line', async () => {
    const s = `${BASE}server 10.8.0.0 255.255.255.0\n`;
    await refused(`${s}keepalive 10 15\n`, 7, 'keepalive', /at least twice/);
    await refused(`${s}keepalive 0 15\n`, 7, 'keepalive', /> 0/);
    await refused(
      `${s}ping 5\nkeepalive 10 60\n`,
      8,
      'keepalive',
      /conflicts with ping \(\/etc\/ovpn\/s\.conf:7\)/,
    );
  });
});

describe('the listening socket', () => {
  it('defaults: udp, port 1194, dual stack without local', async () => {
    const { options: o } = await load(`${BASE}server 10.8.0.0 255.255.255.0\n`);
    assert.deepEqual(o.listen, { proto: 'udp', family: 'dual', local: undefined, port: 1194 });
  });
  it('tcp is tcp-server; local an IPv4 address makes it IPv4; tcp6-server', async () => {
    const s = `${BASE}server 10.8.0.0 255.255.255.0\n`;
    assert.deepEqual((await load(`${s}proto tcp\nlocal 192.0.2.1\nport 443\n`)).options.listen, {
      proto: 'tcp',
      family: 4,
      local: '192.0.2.1',
      port: 443,
    });
    assert.deepEqual((await load(`${s}proto tcp6-server\n`)).options.listen.family, 6);
    assert.deepEqual((await load(`${s}proto udp\nbind ipv6only\n`)).options.listen.family, 6);
    assert.equal((await load(`${s}proto udp\nbind ipv6only\n`)).options.listen.ipv6only, true);
    // 2.6: an IPv6 socket takes IPv4 peers too unless `bind ipv6only`
    assert.equal((await load(`${s}proto udp6\n`)).options.listen.ipv6only, undefined);
    assert.equal((await load(`${s}proto udp4\nbind ipv6only\n`)).options.listen.ipv6only, undefined);
    assert.deepEqual((await load(`${s}proto udp4\n`)).options.listen.family, 4);
  });
  it('tcp-client and connect-freq on tcp are refused', async () => {
    const s = `${BASE}server 10.8.0.0 255.255.255.0\n`;
    await refused(`${s}proto tcp-client\n`, 7, 'proto', /client side of TCP/);
    await refused(`${s}proto tcp\nconnect-freq 1 2\n`, 8, 'connect-freq', /only works with proto udp/);
  });
  it('explicit-exit-notify on tcp is dropped with a note', async () => {
    const { options: o, notes } = await load(
      `${BASE}server 10.8.0.0 255.255.255.0\nproto tcp\nexplicit-exit-notify 1\n`,
    );
    assert.equal(o.explicitExitNotify, 0);
    assert.ok(notes.some((n) => n.directive === 'explicit-exit-notify' && n.line === 8));
  });
});

describe('refusals (2.6 helper and options_postprocess_verify_ce)', () => {
  it('bad server networks', async () => {
    await refused(`${BASE}server 10.8.0.1 255.255.255.0\n`, 6, 'server', /combination is invalid/);
    await refused(`${BASE}server 10.0.0.0 255.0.255.0\n`, 6, 'server', /combination is invalid/);
    await refused(`${BASE}server 10.0.0.0 255.254.0.0\n`, 6, 'server', /too many host addresses.*\/16/);
    await refused(`${BASE}server 10.8.0.0 255.255.255.252\n`, 6, 'server', /\/29\) or lower/);
    await refused(`${BASE}server 10.8.0.0 255.255.255.0 pool\n`, 6, 'server', /only 'nopool'/);
    await refused(`${BASE}server 10.8.0.x 255.255.255.0\n`, 6, 'server', /bad network/);
  });
  it('pools', async () => {
    await refused(
      `${BASE}ifconfig-pool 10.8.0.10 10.8.0.20\nserver 10.8.0.0 255.255.255.0\n`,
      6,
      'ifconfig-pool',
      /already defines an ifconfig-pool/,
    );
    await refused(
      `${BASE}server 10.8.0.0 255.255.255.0 nopool\nifconfig-pool 10.8.0.10 10.8.0.5\n`,
      7,
      'ifconfig-pool',
      /greater than/,
    );
    await refused(
      `${BASE}server 10.8.0.0 255.255.255.0 nopool\nifconfig-pool 10.8.0.10 10.8.0.20 255.255.255.0\n`,
      7,
      'ifconfig-pool',
      /only valid with topology subnet/,
    );
    await refused(
      `${BASE}mode server\ntls-server\nifconfig-pool-persist ipp.txt\n`,
      8,
      'ifconfig-pool-persist',
      /must be used with/,
    );
    await refused(
      `${BASE}server 10.8.0.0 255.255.255.0\nifconfig-ipv6-pool fd00::1000/64\n`,
      7,
      'ifconfig-ipv6-pool',
      /needs --ifconfig-ipv6/,
    );
    await refused(`${BASE}server-ipv6 fd00::/63\n`, 6, 'server-ipv6', /between \/64 and \/124/);
    await refused(
      `${BASE}server 10.8.0.0 255.255.255.0 nopool\nserver-ipv6 fd00::/64\n`,
      7,
      'server-ipv6',
      /nopool/,
    );
  });
  it('mode server needs tls-server; tls-server alone is a point-to-point server', async () => {
    await refused(`${BASE}mode server\n`, 6, 'mode', /requires --tls-server/);
    await refused(`${BASE}tls-server\n`, 6, 'tls-server', /point-to-point TLS server/);
    await refused(`${BASE}mode p2p\n`, 6, 'mode', /point-to-point mode is not a server/);
  });
  it('table refusals, with the reason', async () => {
    const s = `${BASE}server 10.8.0.0 255.255.255.0\n`;
    await refused(`${s}push-reset\n`, 7, 'push-reset', /client-config-dir/);
    await refused(`${s}iroute 10.9.0.0 255.255.255.0\n`, 7, 'iroute', /cannot be used in this context/);
    await refused(`${s}server-bridge\n`, 7, 'server-bridge', /dev tap/);
    await refused(`${s}plugin /x.so\n`, 7, 'plugin', /plugins are not supported/);
    await refused(`${s}client\n`, 7, 'client', /cannot be used together/);
    await refused(`${s}remote vpn.example.net\n`, 7, 'remote', /mode server/);
    await refused(`${s}nobind\n`, 7, 'nobind', /a server listens/);
    await refused(`${s}redirect-gateway def1\n`, 7, 'redirect-gateway', /push "redirect-gateway/);
    await refused(`${s}chroot /var/empty\n`, 7, 'chroot', /later paths/);
    await refused(`${s}ifconfig-pool-linear\n`, 7, 'ifconfig-pool-linear', /removed/);
    await refused(`${s}secret static.key\n`, 7, 'secret', /static-key/);
    await refused(`${s}no-such-directive\n`, 7, 'no-such-directive', /unrecognized option/);
    await refused(`${s}max-clients 0\n`, 7, 'max-clients', /at least 1/);
  });
  it('devices: tap and null are refused, a missing dev names the first line', async () => {
    await refused(
      'dev tap\nca ca.crt\ncert s.crt\nkey s.key\ndh none\nserver 10.8.0.0 255.255.255.0\n',
      1,
      'dev',
      /dev tap/,
    );
    await refused(
      'dev null\nca ca.crt\ncert s.crt\nkey s.key\ndh none\nserver 10.8.0.0 255.255.255.0\n',
      1,
      'dev',
      /only makes sense with --dev tun/,
    );
    await refused(
      'ca ca.crt\ncert s.crt\nkey s.key\ndh none\nserver 10.8.0.0 255.255.255.0\n',
      1,
      'dev',
      /'dev' is missing/,
    );
  });
  it('real compression and non-AEAD cipher lists are refused', async () => {
    const s = `${BASE}server 10.8.0.0 255.255.255.0\n`;
    await refused(`${s}compress lz4\n`, 7, 'compress', /real compression \(lz4\)/);
    await refused(`${s}comp-lzo\n`, 7, 'comp-lzo', /real compression \(lzo\)/);
    await refused(`${s}compress migrate\n`, 7, 'compress', /migrate/);
    await refused(`${s}data-ciphers AES-256-CBC:BF-CBC\n`, 7, 'data-ciphers', /names no AEAD cipher/);
    await refused(`${s}data-ciphers-fallback BF-CBC\n`, 7, 'data-ciphers-fallback', /not an AEAD cipher/);
    assert.equal((await load(`${s}comp-lzo no\n`)).options.compression, 'lzo-stub');
  });
  it('authentication options that need a verify script', async () => {
    const s = `${BASE}server 10.8.0.0 255.255.255.0\n`;
    await refused(`${s}verify-client-cert none\n`, 1, 'verify-client-cert', /auth-user-pass-verify/);
    await refused(`${s}username-as-common-name\n`, 1, 'username-as-common-name', /auth-user-pass-verify/);
    await refused(`${s}ccd-exclusive\n`, 7, 'ccd-exclusive', /client-config-dir/);
    await refused(`${s}auth-gen-token\nreneg-sec 0\n`, 7, 'auth-gen-token', /reneg-sec/);
    await refused(`${s}auth-user-pass-verify /bin/x via-pipe\n`, 7, 'auth-user-pass-verify', /via-env/);
    await refused(`${s}auth-user-pass\n`, 7, 'auth-user-pass', /mode server/);
  });
  it('missing certificates and dh', async () => {
    const srv = 'server 10.8.0.0 255.255.255.0\n';
    await refused(`dev tun\ncert s.crt\nkey s.key\ndh none\n${srv}`, 1, 'ca', /CA file/);
    await refused(`dev tun\nca ca.crt\ncert s.crt\nkey s.key\n${srv}`, 1, 'dh', /DH file/);
    await refused(`dev tun\nca ca.crt\nkey s.key\ndh none\n${srv}`, 1, 'cert', /certificate file/);
    await refused(`dev tun\nca ca.crt\ncert s.crt\ndh none\n${srv}`, 1, 'key', /private key/);
  });
  it('two TLS wrappings are refused', async () => {
    await refused(
      `${BASE}server 10.8.0.0 255.255.255.0\ntls-auth ta.key 0\ntls-crypt tc.key\n`,
      8,
      'tls-crypt',
      /mutually exclusive/,
    );
  });
});

describe('notes', () => {
  it('user and group are ignored with a warning shown at every verbosity; sndbuf quietly', async () => {
    const { notes } = await load(
      `${BASE}server 10.8.0.0 255.255.255.0\nuser nobody\ngroup nogroup\nsndbuf 0\npull-filter ignore route\n`,
    );
    const byName = new Map(notes.map((n) => [n.directive, n]));
    assert.equal(byName.get('user')?.level, 'warn');
    assert.equal(byName.get('user')?.minVerb, 0);
    assert.match(byName.get('user')?.message ?? '', /NOT dropped/);
    assert.equal(byName.get('group')?.minVerb, 0);
    assert.equal(byName.get('sndbuf')?.minVerb, 3);
    assert.equal(byName.get('pull-filter')?.minVerb, 3);
  });
});

describe('configRole', () => {
  const role = (text: string) => configRole(readConfigText(text, '/x.conf'));
  it('server when mode server or a server helper is given', () => {
    assert.equal(role('dev tun\nserver 10.8.0.0 255.255.255.0\n'), 'server');
    assert.equal(role('dev tun\nserver-ipv6 fd00::/64\n'), 'server');
    assert.equal(role('mode server\ntls-server\n'), 'server');
    assert.equal(role('setenv opt mode server\n'), 'server');
  });
  it('tls-server without client/pull is a server (refused later with its reason)', () => {
    assert.equal(role('tls-server\nifconfig 10.8.0.1 10.8.0.2\n'), 'server');
    assert.equal(role('tls-server\npull\n'), 'client');
  });
  it('client profiles and anything else are clients', () => {
    assert.equal(role('client\nremote vpn.example.net\n'), 'client');
    assert.equal(role('remote vpn.example.net\ntls-client\npull\n'), 'client');
    assert.equal(role(''), 'client');
    assert.equal(role('mode server\nmode p2p\n'), 'client');
  });
});

describe('a typical Debian-style server.conf', () => {
  it('loads with the 2.6 expansions and defaults', async () => {
    const text = [
      '# VPN for the office',
      'port 1194',
      'proto udp',
      'dev tun',
      'ca /etc/openvpn/server/ca.crt',
      'cert /etc/openvpn/server/office.crt',
      'key /etc/openvpn/server/office.key  # keep secret',
      'dh none',
      'topology subnet',
      'server 10.66.0.0 255.255.255.0',
      'ifconfig-pool-persist /var/log/openvpn/ipp.txt',
      ';push "route 192.168.10.0 255.255.255.0"',
      'push "route 192.168.20.0 255.255.255.0"',
      'push "dhcp-option DNS 192.168.20.1"',
      'client-to-client',
      'keepalive 10 120',
      '<tls-crypt>',
      PEM('OpenVPN Static key V1').trimEnd(),
      '</tls-crypt>',
      'user nobody',
      'group nogroup',
      'persist-key',
      'persist-tun',
      'status /var/log/openvpn/openvpn-status.log',
      'verb 3',
      'explicit-exit-notify 1',
    ].join('\n');
    const { options: o, notes } = await load(text);
    assert.deepEqual(o.listen, { proto: 'udp', family: 'dual', local: undefined, port: 1194 });
    assert.equal(o.topology, 'subnet');
    assert.deepEqual(o.ifconfig, { local: '10.66.0.1', remoteOrPrefix: '24', topology: 'subnet' });
    assert.deepEqual(o.pool, { start: '10.66.0.2', end: '10.66.0.254', netmask: '255.255.255.0' });
    assert.deepEqual(o.poolPersist, {
      ref: { kind: 'path', path: '/var/log/openvpn/ipp.txt', dir: '/etc/ovpn' },
      seconds: 600,
    });
    assert.deepEqual(o.push, [
      'route 192.168.20.0 255.255.255.0',
      'dhcp-option DNS 192.168.20.1',
      'route-gateway 10.66.0.1',
      'topology subnet',
      'ping 10',
      'ping-restart 120',
    ]);
    assert.equal(o.clientToClient, true);
    assert.equal(o.ping, 10);
    assert.equal(o.pingRecvTimeout, 240);
    assert.equal(o.tlsWrap?.mode, 'tls-crypt');
    assert.equal(o.dh, 'none');
    assert.equal(o.persistKey, true);
    assert.equal(o.persistTun, true);
    assert.equal(o.status?.seconds, 60);
    assert.equal(o.statusVersion, 1);
    assert.equal(o.verb, 3);
    assert.equal(o.explicitExitNotify, 1);
    assert.deepEqual(o.dataCiphers, ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']);
    assert.equal(o.maxClients, 1024);
    assert.equal(o.verifyClientCert, 'require');
    assert.equal(o.renegSec, 3600);
    assert.equal(o.tmpDir, '/tmp');
    assert.deepEqual(o.connectFreqInitial, { n: 100, seconds: 10 });
    assert.deepEqual(
      notes.filter((n) => n.level === 'warn').map((n) => n.directive),
      ['user', 'group'],
    );
  });
  it('the same file is refused by the client loader, naming the first server directive', async () => {
    const readFile = () => `${BASE}server 10.8.0.0 255.255.255.0\n`;
    await assert.rejects(
      loadClientConfig(['--config', 's.conf'], { readFile, cwd: '/etc/ovpn' }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.directive, 'server');
        assert.equal(e.line, 6);
        return true;
      },
    );
  });
});
