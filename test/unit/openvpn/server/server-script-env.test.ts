/**
 * The server's script environment (src/openvpn/server/server-script-env.ts): setenv_str's filters,
 * addresses (IPv4, IPv4-mapped, IPv6), the pool variables per topology, peer-info validation as
 * validate_peer_info_line and buf_parse do it, the certificate variables against `openssl`'s own
 * printing of the same certificates, and the client-connect / client-disconnect steps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  clientConnectEnv,
  clientDisconnectEnv,
  envName,
  envValue,
  linkEnv,
  mergeEnv,
  peerInfoEnv,
  protoName,
  serverProcessEnv,
  timeAscii,
  virtualAddrEnv,
  x509Env,
} from '../../../../src/openvpn/server/server-script-env.js';
import { der, issue, makeCa, opensslSubject, ossl } from '../../../support/pki.js';

describe('server script env: filters and addresses', () => {
  it('setenv_str drops control characters from values and non-name characters from names', () => {
    assert.equal(envValue('a\tb\nc\x7fd é'), 'abcd é');
    assert.equal(envName('X509_0_CN'), 'X509_0_CN');
    assert.equal(envName('a-b.c d'), 'abcd');
  });

  it('trusted/untrusted: _ip for IPv4 and IPv4-mapped, _ip6 for IPv6, no port when 0', () => {
    assert.deepEqual(linkEnv('trusted', '192.0.2.7', 50000), {
      trusted_ip: '192.0.2.7',
      trusted_port: '50000',
    });
    assert.deepEqual(linkEnv('untrusted', '::ffff:192.0.2.7', 1194), {
      untrusted_ip: '192.0.2.7',
      untrusted_port: '1194',
    });
    assert.deepEqual(linkEnv('trusted', '2001:db8::5', 0), { trusted_ip6: '2001:db8::5' });
  });

  it('pool variables: netmask in subnet, local end in net30, IPv6 both ends and bits', () => {
    const v = {
      ipv4: { local: '10.8.0.6', remoteNetmask: '255.255.255.0' },
      ipv6: { local: 'fd00::1000', remote: 'fd00::1', netbits: 64 },
    };
    assert.deepEqual(virtualAddrEnv('subnet', v), {
      ifconfig_pool_remote_ip: '10.8.0.6',
      ifconfig_pool_netmask: '255.255.255.0',
      ifconfig_pool_remote_ip6: 'fd00::1000',
      ifconfig_pool_local_ip6: 'fd00::1',
      ifconfig_pool_ip6_netbits: '64',
    });
    assert.deepEqual(
      virtualAddrEnv('net30', { ipv4: { local: '10.8.0.6', remoteNetmask: '10.8.0.5' }, ipv6: undefined }),
      {
        ifconfig_pool_remote_ip: '10.8.0.6',
        ifconfig_pool_local_ip: '10.8.0.5',
      },
    );
    assert.deepEqual(virtualAddrEnv('net30', { ipv4: undefined, ipv6: undefined }), {});
  });

  it('process variables: setenv_settings, setenv, and what the up step left', () => {
    const env = serverProcessEnv({
      config: '/etc/openvpn/server.conf',
      verb: 4,
      daemon: false,
      logRedirect: false,
      startTime: 1700000000,
      pid: 77,
      listen: { proto: 'udp', family: 'dual', local: undefined, port: 1194 },
      setenv: new Map([['SITE', 'lab\n1']]),
      dev: 'tun3',
      tunMtu: 1500,
      topology: 'subnet',
      ifconfig: { local: '10.8.0.1', remoteNetmask: '255.255.255.0' },
      ifconfigIpv6: { local: 'fd00::1', netbits: 64, remote: undefined },
    });
    assert.deepEqual(env, {
      config: '/etc/openvpn/server.conf',
      verb: '4',
      daemon: '0',
      daemon_log_redirect: '0',
      daemon_start_time: '1700000000',
      daemon_pid: '77',
      proto_1: 'udp',
      local_port_1: '1194',
      remote_port_1: '1194',
      SITE: 'lab1',
      ifconfig_local: '10.8.0.1',
      ifconfig_netmask: '255.255.255.0',
      ifconfig_ipv6_local: 'fd00::1',
      ifconfig_ipv6_netbits: '64',
      script_context: 'init',
      tun_mtu: '1500',
      dev: 'tun3',
      dev_type: 'tun',
      redirect_gateway: '0',
    });
    assert.equal(protoName({ proto: 'tcp', family: 4, local: undefined, port: 1 }), 'tcp4-server');
    assert.equal(protoName({ proto: 'udp', family: 6, local: undefined, port: 1 }), 'udp6');
  });
});

describe('server script env: peer-info', () => {
  it('keeps valid IV_ and UV_ lines, later lines winning, and counts the refused ones', () => {
    const r = peerInfoEnv(
      'IV_VER=2.6.12\nIV_PLAT=linux\nIV_CIPHERS=AES-256-GCM:AES-128-GCM\nUV_X=1\nFOO=bar\nIV_PLAT=win\r\n',
    );
    assert.deepEqual(r.env, {
      IV_VER: '2.6.12',
      IV_PLAT: 'win',
      IV_CIPHERS: 'AES-256-GCM:AES-128-GCM',
      UV_X: '1',
    });
    assert.equal(r.refused, 1);
  });

  it('replaces whitespace, $, ( and ` and non-ASCII in values; refuses bad names and empty lines', () => {
    const r = peerInfoEnv('IV_GUI_VER=a b$(c)`d`\nIV-BAD=1\n=x\nIV_NOEQ\n\nIV_U=é\n');
    assert.deepEqual(r.env, { IV_GUI_VER: 'a_b__c)_d_', IV_U: '__' });
    assert.equal(r.refused, 4);
  });

  it('ends at a NUL, and cuts a line over 255 bytes as buf_parse does', () => {
    assert.deepEqual(peerInfoEnv('IV_A=1\n\0IV_B=2\n').env, { IV_A: '1' });
    const long = `IV_LONG=${'x'.repeat(300)}`;
    const r = peerInfoEnv(`${long}\nIV_NEXT=1\n`);
    assert.equal(r.env.IV_LONG, 'x'.repeat(255 - 'IV_LONG='.length));
    assert.equal(r.env.IV_NEXT, '1');
    // the rest of the long line (after the 2 lost bytes) is read as a line of its own and refused
    assert.equal(r.refused, 1);
  });
});

describe('server script env: certificates', () => {
  let dir: string;
  let leaf: Buffer;
  let ca: Buffer;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sa-env-'));
    makeCa(dir, 'ca', '/C=DE/O=Acme/CN=Acme Root');
    leaf = issue(dir, 'alice', {
      subj: '/C=DE/O=Acme/OU=One/OU=Two/CN=alice/emailAddress=alice@example.org',
      ext: ['keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'],
    });
    ca = der(dir, 'ca.crt');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const opensslSerial = (file: string) =>
    ossl(dir, 'x509', '-in', file, '-noout', '-serial')
      .trim()
      .replace(/^serial=/, '');
  const opensslSha = (file: string, alg: string) =>
    ossl(dir, 'x509', '-in', file, '-noout', '-fingerprint', `-${alg}`)
      .trim()
      .replace(/^.*=/, '')
      .toLowerCase();

  it('X509_<depth>_<attr> (repeated attributes get _1), tls_id, digests and serials per depth', () => {
    const env = x509Env([leaf, ca]);
    assert.equal(env.X509_0_C, 'DE');
    assert.equal(env.X509_0_O, 'Acme');
    assert.equal(env.X509_0_OU, 'One');
    assert.equal(env.X509_0_OU_1, 'Two');
    assert.equal(env.X509_0_CN, 'alice');
    assert.equal(env.X509_0_emailAddress, 'alice@example.org');
    assert.equal(env.X509_1_CN, 'Acme Root');
    assert.equal(env.tls_id_0, opensslSubject(dir, 'alice.crt'));
    assert.equal(env.tls_id_1, opensslSubject(dir, 'ca.crt'));
    for (const [d, f] of [
      [0, 'alice.crt'],
      [1, 'ca.crt'],
    ] as const) {
      assert.equal(env[`tls_digest_${d}`], opensslSha(f, 'sha1'));
      assert.equal(env[`tls_digest_sha256_${d}`], opensslSha(f, 'sha256'));
      const hex = opensslSerial(f);
      assert.equal(env[`tls_serial_${d}`], BigInt(`0x${hex}`).toString(10));
      const bytes = hex.length % 2 ? `0${hex}` : hex;
      assert.equal(env[`tls_serial_hex_${d}`], bytes.toLowerCase().match(/../g)?.join(':'));
    }
  });

  it('a tls-verify run at depth 1 sees only the root variables', () => {
    const env = x509Env([leaf, ca], 1);
    assert.equal(env.X509_1_CN, 'Acme Root');
    assert.equal(env.X509_0_CN, undefined);
    assert.equal(env.tls_id_0, undefined);
  });
});

describe('server script env: client steps', () => {
  it('client-connect: common_name, trusted address, pool, time_ascii and time_unix', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'UTC';
    try {
      assert.equal(timeAscii(1700000000), '2023-11-14 22:13:20');
      const env = clientConnectEnv({
        commonName: 'alice',
        remote: { address: '::ffff:198.51.100.4', port: 40000 },
        topology: 'subnet',
        virtual: { ipv4: { local: '10.8.0.2', remoteNetmask: '255.255.255.0' }, ipv6: undefined },
        created: 1700000000,
      });
      assert.deepEqual(env, {
        common_name: 'alice',
        trusted_ip: '198.51.100.4',
        trusted_port: '40000',
        ifconfig_pool_remote_ip: '10.8.0.2',
        ifconfig_pool_netmask: '255.255.255.0',
        time_ascii: '2023-11-14 22:13:20',
        time_unix: '1700000000',
      });
      assert.equal(
        clientConnectEnv({
          ...{ commonName: '', remote: { address: '1.2.3.4', port: 1 } },
          topology: 'net30',
          virtual: { ipv4: undefined, ipv6: undefined },
          created: 0,
        }).common_name,
        undefined,
        'an empty common name is not set',
      );
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('client-disconnect: bytes and duration on top of what the client had', () => {
    const env = mergeEnv(
      { common_name: 'alice', script_type: 'client-connect' },
      clientDisconnectEnv({
        remote: { address: '2001:db8::9', port: 1195 },
        bytesReceived: 12345n,
        bytesSent: 678,
        created: 1000,
        now: 1061.7,
      }),
    );
    assert.deepEqual(env, {
      common_name: 'alice',
      script_type: 'client-connect',
      trusted_ip6: '2001:db8::9',
      trusted_port: '1195',
      bytes_received: '12345',
      bytes_sent: '678',
      time_duration: '61',
    });
  });
});
