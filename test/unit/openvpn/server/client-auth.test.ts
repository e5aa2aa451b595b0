/**
 * client-auth.ts, the shell's glue to the auth and script modules, with a scripted runner and
 * in-memory temp files: a ccd laid under client-connect's output, the order and environments of the
 * scripts through one client's life, and what is not run for a client client-connect refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadServerConfig } from '../../../../src/config/load.js';
import type { ServerOptions } from '../../../../src/config/server-options.js';
import type { DecodedKeyMethod2 } from '../../../../src/control/key-method2.js';
import { PlainWrap } from '../../../../src/control/wrap/plain.js';
import { emptyClientConfig, parseClientConfig } from '../../../../src/openvpn/server/ccd.js';
import {
  mergeClientConfigs,
  parseRealAddress,
  ServerAuth,
} from '../../../../src/openvpn/server/client-auth.js';
import type { ServerClient } from '../../../../src/openvpn/server/server-client.js';
import { FakeRunner, FakeTemp } from './fakes.js';

const BASE =
  'server 10.8.0.0 255.255.255.0\ntopology subnet\ndev tun\nca ca.crt\ncert s.crt\nkey s.key\ndh none\n';

async function options(extra: string): Promise<ServerOptions> {
  const files: Record<string, string> = { '/etc/ovpn/s.conf': BASE + extra };
  const readFile = (p: string): string => {
    const f = files[p];
    if (f === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return f;
  };
  return (await loadServerConfig(['--config', 's.conf'], { readFile, cwd: '/etc/ovpn', env: {} })).options;
}

function fakeClient(): ServerClient {
  return {
    peerId: 0,
    record: {
      peerId: 0,
      realAddress: '[::ffff:192.0.2.7]:40000',
      proto: 'udp',
      // as with verify-client-cert optional and no certificate (tlsDone is not run here)
      commonName: undefined,
      username: undefined,
      vpn: undefined,
      cipher: undefined,
      peerInfo: undefined,
      connectedSinceMs: undefined,
    },
  } as unknown as ServerClient;
}

function km2(username: string, password: string): DecodedKeyMethod2 {
  return {
    username,
    password,
    credentialsTooLong: false,
    peerInfo: 'IV_VER=2.6.14\nIV_PLAT=linux\n',
    options: '',
  } as unknown as DecodedKeyMethod2;
}

describe('client-auth: ccd under client-connect output', () => {
  it("the script's address wins, its push-remove and push-reset reach the ccd's pushes", () => {
    const ccd = parseClientConfig(
      'ifconfig-push 10.8.0.40 255.255.255.0\npush "route 198.51.100.0 255.255.255.0"\npush "dhcp-option DNS 10.8.0.1"\niroute 192.168.1.0 255.255.255.0\n',
      'ccd/x',
    );
    const out = parseClientConfig(
      'ifconfig-push 10.8.0.50 255.255.255.0\npush-remove dhcp-option\npush "route 192.0.2.0 255.255.255.0"\niroute 192.168.2.0 255.255.255.0\n',
      'cc.tmp',
    );
    const m = mergeClientConfigs(ccd, out);
    assert.equal(m.ifconfigPush?.local, '10.8.0.50');
    assert.deepEqual(m.push, ['route 198.51.100.0 255.255.255.0', 'route 192.0.2.0 255.255.255.0']);
    assert.deepEqual(m.pushRemove, ['dhcp-option']);
    assert.deepEqual(
      m.iroutes.map((r) => r.address),
      ['192.168.1.0', '192.168.2.0'],
    );
    const reset = mergeClientConfigs(
      ccd,
      parseClientConfig('push-reset\npush "route 203.0.113.0 255.255.255.0"\n', 'cc'),
    );
    assert.equal(reset.pushReset, true);
    assert.deepEqual(reset.push, ['route 203.0.113.0 255.255.255.0']);
    assert.equal(reset.ifconfigPush?.local, '10.8.0.40', "the ccd's address stays when the script sets none");
    assert.equal(mergeClientConfigs(emptyClientConfig(), parseClientConfig('disable\n', 'cc')).disable, true);
  });

  it('reads the shell real address text', () => {
    assert.deepEqual(parseRealAddress('10.0.0.2:1194'), { address: '10.0.0.2', port: 1194 });
    assert.deepEqual(parseRealAddress('[fd00::2]:40000'), { address: 'fd00::2', port: 40000 });
  });
});

describe('client-auth: one client through its scripts', () => {
  it('user-pass-verify, client-connect output, learn-address, token, client-disconnect with bytes', async () => {
    const o = await options(
      [
        'script-security 2',
        'auth-user-pass-verify /s/upv via-file',
        'auth-gen-token',
        'client-connect /s/cc',
        'client-disconnect /s/cd',
        'learn-address /s/la',
        '',
      ].join('\n'),
    );
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp, (call) => {
      if (call.argv[0] === '/s/cc')
        tmp.files.set(call.argv[1], Buffer.from('push "route 192.0.2.0 255.255.255.0"\n'));
      if (call.argv[0] === '/s/upv')
        return { exitCode: call.files.get(call.argv[1]) === 'alice\nright\n' ? 0 : 1 };
      return { exitCode: 0 };
    });
    const sent: string[] = [];
    const auth = await ServerAuth.create(o, {
      readFile: () => '',
      log: () => {},
      configFile: '/etc/ovpn/s.conf',
      dev: 'tun0',
      sendControl: (_c, t) => sent.push(t),
      runner,
      tmp,
    });
    const c = fakeClient();
    auth.clientCreated(c, new PlainWrap());
    const wrong = await auth.userPass(c, km2('alice', 'wrong'), 0);
    assert.equal(wrong.kind, 'auth-failed');
    const ok = await auth.userPass(c, km2('alice', 'right'), 0);
    assert.equal(ok.kind, 'ok');
    assert.equal(c.record.username, 'alice');
    const upv = runner.calls.filter((x) => x.argv[0] === '/s/upv');
    assert.equal(upv.length, 2);
    assert.equal(upv[1].env.untrusted_ip, '192.0.2.7');
    assert.equal(upv[1].env.IV_VER, '2.6.14');
    assert.equal(upv[1].env.config, '/etc/ovpn/s.conf');

    const addresses = {
      ifconfig: { local: '10.8.0.2', remoteNetmask: '255.255.255.0' },
      ifconfigIpv6: undefined,
    };
    const cc = await auth.clientConnect(c, undefined, addresses);
    assert.equal(cc.ok, true);
    assert.deepEqual(cc.ok ? cc.config?.push : undefined, ['route 192.0.2.0 255.255.255.0']);
    const ccCall = runner.calls.find((x) => x.argv[0] === '/s/cc');
    assert.equal(ccCall?.env.script_type, 'client-connect');
    assert.equal(ccCall?.env.ifconfig_pool_remote_ip, '10.8.0.2');
    assert.equal(ccCall?.env.username, 'alice');
    assert.equal(tmp.files.size, 0, 'temp files removed');

    const token = auth.admitted(c, addresses, []);
    assert.match(token ?? '', /^SESS_ID_AT_/);
    // a renegotiation with the token: no script, and the renewed token to send
    const reneg = await auth.userPass(c, km2('alice', token ?? ''), 1);
    assert.equal(reneg.kind, 'ok', JSON.stringify(reneg));
    assert.equal(runner.calls.filter((x) => x.argv[0] === '/s/upv').length, 2);
    assert.match(auth.renegotiated(c, 1) ?? '', /^PUSH_REPLY,auth-token SESS_ID_AT_/);

    auth.clientGone(c, { rx: 1234n, tx: 567n });
    await auth.drain(1000);
    const order = runner.calls.map((x) =>
      [x.argv[0], ...x.argv.slice(1).filter((a) => !a.startsWith('/tmp'))].join(' '),
    );
    assert.deepEqual(order.slice(-3), ['/s/la add 10.8.0.2 UNDEF', '/s/cd', '/s/la delete 10.8.0.2 UNDEF']);
    const cd = runner.calls.find((x) => x.argv[0] === '/s/cd');
    assert.equal(cd?.env.bytes_received, '1234');
    assert.equal(cd?.env.bytes_sent, '567');
    assert.equal(cd?.env.trusted_ip, '192.0.2.7');
  });

  it('a refused client-connect: no learn-address, no client-disconnect', async () => {
    const o = await options(
      'script-security 2\nclient-connect /s/cc\nclient-disconnect /s/cd\nlearn-address /s/la\n',
    );
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp, (call) => ({ exitCode: call.argv[0] === '/s/cc' ? 1 : 0 }));
    const auth = await ServerAuth.create(o, {
      readFile: () => '',
      log: () => {},
      configFile: undefined,
      dev: 'tun0',
      sendControl: () => {},
      runner,
      tmp,
    });
    const c = fakeClient();
    auth.clientCreated(c, new PlainWrap());
    const cc = await auth.clientConnect(c, undefined, { ifconfig: undefined, ifconfigIpv6: undefined });
    assert.equal(cc.ok, false);
    auth.clientGone(c, { rx: 1, tx: 1 });
    await auth.drain(1000);
    assert.deepEqual(
      runner.calls.map((x) => x.argv[0]),
      ['/s/cc'],
    );
  });
});
