import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../../src/config/tokenize.js';
import {
  CCD_DEFAULT,
  ccdExclusiveRefusal,
  ccdFileName,
  findCcdFile,
  parseClientConfig,
  readClientConfig,
} from '../../../../src/openvpn/server/ccd.js';

const F = '/etc/openvpn/ccd/alice';

describe('client-config-dir file', () => {
  it('reads the per-client directives', () => {
    const c = parseClientConfig(
      [
        'ifconfig-push 10.8.0.50 255.255.255.0',
        'ifconfig-ipv6-push fd00:8::50/64',
        'iroute 192.168.99.0 255.255.255.0',
        'iroute 192.168.5.1',
        'iroute-ipv6 fd00:99::/64',
        'push "route 172.16.0.0 255.255.0.0"',
        'inactive 600',
        'echo hello there',
        '',
      ].join('\n'),
      F,
      { serverIfconfigIpv6: 'fd00:8::1' },
    );
    assert.deepEqual(c.ifconfigPush, { local: '10.8.0.50', remoteNetmask: '255.255.255.0' });
    assert.deepEqual(c.ifconfigIpv6Push, {
      address: { address: 'fd00:8::50', prefix: 64 },
      remote: 'fd00:8::1',
    });
    assert.deepEqual(c.iroutes, [
      { address: '192.168.99.0', prefix: 24 },
      { address: '192.168.5.1', prefix: 32 },
    ]);
    assert.deepEqual(c.iroutesIpv6, [{ address: 'fd00:99::', prefix: 64 }]);
    assert.deepEqual(c.push, ['route 172.16.0.0 255.255.0.0']);
    assert.equal(c.disable, false);
    assert.deepEqual(
      c.other.map((o) => [o.name, o.args, o.at.line]),
      [
        ['inactive', ['600'], 7],
        ['echo', ['hello', 'there'], 8],
      ],
    );
    const d = parseClientConfig(
      'disable\nifconfig-push 10.8.0.6 10.8.0.5 10.8.0.99\nifconfig-ipv6-push fd00::5/64 fd00::1\n',
      F,
    );
    assert.equal(d.disable, true);
    assert.deepEqual(d.ifconfigPush, { local: '10.8.0.6', remoteNetmask: '10.8.0.5', alias: '10.8.0.99' });
    assert.deepEqual(d.ifconfigIpv6Push, { address: { address: 'fd00::5', prefix: 64 }, remote: 'fd00::1' });
  });

  it('refuses what 2.6 does not allow in a ccd file, naming file:line', () => {
    const refused = (text: string, re: RegExp) => {
      assert.throws(
        () => parseClientConfig(text, F),
        (e: unknown) => e instanceof ConfigError && e.file === F && re.test(e.message),
        text,
      );
    };
    refused(
      '# c\nsetenv FOO bar\n',
      /^\/etc\/openvpn\/ccd\/alice:2: setenv: option cannot be used in a client-config-dir/,
    );
    refused('route 10.0.0.0 255.0.0.0\n', /:1: route: option cannot be used/);
    refused('dev tun\n', /:1: dev: /);
    refused('ifconfig-push 10.8.0.5\n', /:1: ifconfig-push: takes 2 to 3 parameter\(s\), got 1/);
    refused('ifconfig-push host.example 255.255.255.0\n', /cannot parse --ifconfig-push addresses/);
    refused('ifconfig-push 0.0.0.0 255.255.255.0\n', /cannot parse --ifconfig-push addresses/);
    refused(
      'iroute 10.1.0.0 255.0.255.0\n',
      /in --iroute 10.1.0.0 255.0.255.0 : Bad network\/subnet specification|Bad network/,
    );
    refused('iroute-ipv6 fd00::/129\n', /Bad IPv6 prefix specification/);
    refused('ifconfig-ipv6-push fd00::5/64\n', /no global --ifconfig-ipv6 address set/);
    refused('push "a,b"\n', /PUSH OPTION FAILED \(illegal comma/);
    refused('disable now\n', /disable: takes 0 parameter/);
    refused('<ca>\nx\n</ca>\n', /ca: option cannot be used/);
    refused('config other.conf\n', /config: config files cannot be read here/);
  });

  it('collects every bad line and applies the good ones (2.6 logs and goes on)', () => {
    const r = readClientConfig('setenv A b\niroute 10.1.0.0 255.255.0.0\nroute x\npush "ping 5"\n', F);
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.directive]),
      [
        [1, 'setenv'],
        [3, 'route'],
      ],
    );
    assert.deepEqual(r.config.iroutes, [{ address: '10.1.0.0', prefix: 16 }]);
    assert.deepEqual(r.config.push, ['ping 5']);
  });

  it('push-reset and push-remove act on the list as it stands at that line', () => {
    const c = parseClientConfig(
      'push "route 1.0.0.0 255.0.0.0"\npush "dhcp-option DNS 1.1.1.1"\npush-remove dhcp\npush "dhcp-option DNS 9.9.9.9"\n',
      F,
    );
    assert.deepEqual(c.push, ['route 1.0.0.0 255.0.0.0', 'dhcp-option DNS 9.9.9.9']);
    assert.deepEqual(c.pushRemove, ['dhcp']);
    assert.equal(c.pushReset, false);
    const r = parseClientConfig(
      'push-remove ifconfig\npush "a"\npush-remove route\npush-reset\npush "b"\n',
      F,
    );
    assert.deepEqual(r.push, ['b']);
    assert.equal(r.pushReset, true);
    assert.deepEqual(r.pushRemove, ['ifconfig'], 'the ifconfig block outlives push-reset');
  });

  it('follows config through the injected reader, with 2.6 depth limit', () => {
    const files: Record<string, string> = {
      '/x/common': 'iroute 10.2.0.0 255.255.0.0\nbogus 1\n',
      '/x/loop': 'config /x/loop\n',
    };
    const readFile = (p: string) => {
      const t = files[p];
      if (t === undefined) throw new Error('ENOENT');
      return t;
    };
    const r = readClientConfig('config /x/common\nconfig /x/missing\n', F, { readFile });
    assert.deepEqual(r.config.iroutes, [{ address: '10.2.0.0', prefix: 16 }]);
    assert.deepEqual(
      r.errors.map((e) => `${e.file}:${e.line}:${e.directive}`),
      ['/x/common:2:bogus', `${F}:2:config`],
    );
    const loop = readClientConfig('config /x/loop\n', F, { readFile });
    assert.equal(loop.errors.length, 1);
    assert.match(loop.errors[0].message, /maximum recursive include levels exceeded/);
  });
});

describe('client-config-dir lookup', () => {
  it('maps a common name to a file name as platform_gen_path does', () => {
    assert.equal(ccdFileName('alice'), 'alice');
    assert.equal(ccdFileName('a/b'), 'a_b');
    assert.equal(ccdFileName('../etc/passwd'), '.._etc_passwd');
    assert.equal(ccdFileName('.hidden'), '.hidden');
    assert.equal(ccdFileName('.'), undefined);
    assert.equal(ccdFileName('..'), undefined);
    assert.equal(ccdFileName('j\u00fcrgen'), 'j__rgen');
    assert.equal(ccdFileName('tab\there'), 'tab_here');
    assert.equal(ccdFileName(''), 'UNDEF');
  });

  it('reads the common name file, else DEFAULT, else none', () => {
    const have = new Set(['/c/alice', '/c/DEFAULT']);
    const exists = (p: string) => have.has(p);
    assert.equal(findCcdFile('/c', 'alice', exists), '/c/alice');
    assert.equal(findCcdFile('/c', 'bob', exists), '/c/DEFAULT');
    assert.equal(findCcdFile('/c', '..', exists), '/c/DEFAULT');
    assert.equal(
      findCcdFile('/c', 'bob', (p) => p === '/c/alice'),
      undefined,
    );
  });

  it('ccd-exclusive lets in only a client with its own file', () => {
    const have = new Set(['/c/alice', '/c/DEFAULT', '/c/a_b']);
    const exists = (p: string) => have.has(p);
    assert.equal(ccdExclusiveRefusal('/c', 'alice', exists), undefined);
    assert.equal(ccdExclusiveRefusal('/c', 'a/b', exists), undefined);
    assert.equal(
      ccdExclusiveRefusal('/c', 'bob', exists),
      "TLS Auth Error: --client-config-dir authentication failed for common name 'bob' file='/c/bob'",
    );
    assert.match(
      ccdExclusiveRefusal('/c', CCD_DEFAULT, exists) ?? '',
      /common name 'DEFAULT' file='\/c\/DEFAULT'/,
    );
    assert.match(ccdExclusiveRefusal('/c', '..', exists) ?? '', /file='UNDEF'/);
    assert.match(ccdExclusiveRefusal('/c', undefined, exists) ?? '', /file='UNDEF'/);
  });
});
