/**
 * The config files the VPN benchmarks (bench/vpn-vs-vpn.ts, bench/storm.ts) give ovpn-ts are ones its
 * config loader takes: the server file is a server's (configRole) and loads into ServerOptions with the
 * settings the benchmarks rely on, and the client files load as client configs. So once the server
 * shell serves, the benchmarks' ovpn-ts server rows run without a change to the benchmarks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientConfig, serverConfig } from '../../../bench/vpn-endpoints.js';
import type { BenchPki } from '../../../bench/vpn-pki.js';
import {
  configRole,
  loadClientConfig,
  loadConfigDirectives,
  loadServerConfig,
} from '../../../src/config/load.js';

const PKI: BenchPki = {
  dir: '/bench',
  ca: '/bench/ca.crt',
  serverCert: '/bench/server.crt',
  serverKey: '/bench/server.key',
  clientKey: '/bench/client.key',
  clientCerts: ['/bench/client-0.crt'],
};
const FILES: Record<string, string> = {
  '/bench/server.conf': serverConfig({
    pki: PKI,
    local: '10.213.0.1',
    port: 1194,
    net: '10.214.0.0',
    mask: '255.255.255.0',
    status: '/bench/status.txt',
    extra: ['tun-mtu 9000', 'mssfix 0'],
  }),
  '/bench/client.conf': clientConfig({
    pki: PKI,
    cert: 0,
    remote: '10.213.0.1',
    port: 1194,
    dev: 'tun',
    extra: ['tun-mtu 9000', 'mssfix 0'],
  }),
  '/bench/storm-client.conf': clientConfig({
    pki: PKI,
    cert: 0,
    remote: '10.213.0.1',
    port: 1194,
    dev: 'null',
    extra: ['explicit-exit-notify 1', 'ifconfig-noexec', 'route-noexec'],
  }),
};
const readFile = (p: string) => {
  const text = FILES[p];
  if (text !== undefined) return text;
  return 'not read';
};
const opts = { readFile, cwd: '/bench' };

describe('bench configs', () => {
  it('the server config is a server config the ovpn-ts loader accepts', async () => {
    const argv = ['--config', '/bench/server.conf', '--log', '/bench/server.log'];
    assert.equal(configRole(await loadConfigDirectives(argv, opts)), 'server');
    const { options } = await loadServerConfig(argv, opts);
    assert.equal(options.statusVersion, 2);
    assert.equal(options.status?.seconds, 1);
    assert.equal(options.status?.ref.path, '/bench/status.txt');
  });

  it('the client configs (tun, and dev null for the storm) load as client configs', async () => {
    for (const f of ['/bench/client.conf', '/bench/storm-client.conf']) {
      const argv = ['--config', f, '--log', '/bench/client.log'];
      assert.equal(configRole(await loadConfigDirectives(argv, opts)), 'client');
      const { options } = await loadClientConfig(argv, opts);
      assert.equal(options.devType, f.includes('storm') ? 'null' : 'tun');
    }
  });
});
