/**
 * Directive dispositions (src/config/directives.ts) and client options (src/config/client-options.ts),
 * through the loader with an in-memory file system: each disposition, setenv opt and
 * ignore-unknown-option, error messages naming directive/file/line, 2.6 defaults, later-wins,
 * connection blocks, and a few realistic profiles (fake PEM bodies).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIRECTIVES } from '../../../src/config/directives.js';
import { loadClientConfig, parseAuthUserPass, readFileRef } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/tokenize.js';

const PEM = (label: string) => `-----BEGIN ${label}-----\nTk9UIEEgUkVBTCBLRVk=\n-----END ${label}-----\n`;
const BASE = `client\ndev tun\nremote vpn.example.net 1194\n<ca>\n${PEM('CERTIFICATE')}</ca>\nauth-user-pass\n`;

async function load(text: string, argv: string[] = [], files: Record<string, string> = {}) {
  const fs: Record<string, string> = { '/p/c.ovpn': text, ...files };
  const readFile = (p: string): string => {
    const f = fs[p];
    if (f === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return f;
  };
  return loadClientConfig(['--config', 'c.ovpn', ...argv], { readFile, cwd: '/p' });
}

async function refused(
  text: string,
  line: number,
  directive: string,
  re: RegExp,
  argv: string[] = [],
): Promise<void> {
  await assert.rejects(load(text, argv), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.file, line === 0 ? '[CMD-LINE]' : '/p/c.ovpn');
    if (line > 0) assert.equal(e.line, line);
    assert.equal(e.directive, directive);
    assert.match(e.message, re);
    return true;
  });
}

describe('dispositions', () => {
  it('every table entry has a consistent shape', () => {
    for (const [name, s] of DIRECTIVES) {
      assert.ok(s.min >= 0 && s.max >= s.min && s.max <= 15, name);
      assert.equal(s.disposition !== 'honoured', s.reason !== undefined, name);
    }
  });
  it('ignored directives become notes shown from verb 3', async () => {
    const { notes } = await load(`${BASE}persist-key\nnobind\nfast-io\nsndbuf 0\nmute-replay-warnings\n`);
    const ignored = notes.filter((n) => n.minVerb === 3).map((n) => [n.directive, n.line]);
    assert.deepEqual(ignored, [
      ['persist-key', 10],
      ['nobind', 11],
      ['fast-io', 12],
      ['sndbuf', 13],
      ['mute-replay-warnings', 14],
    ]);
    assert.match(notes[0].message, /^ignored: /);
  });
  it('refusals name directive, file, line and reason', async () => {
    await refused(`${BASE}fragment 1300\n`, 10, 'fragment', /c\.ovpn:10: fragment: refused: .*not supported/);
    await refused(`${BASE}secret static.key\n`, 10, 'secret', /static-key mode/);
    await refused(`${BASE}tls-server\n`, 10, 'tls-server', /client/);
    await refused(`${BASE}dev-node /dev/net/tun\n`, 10, 'dev-node', /refused/);
    await refused(`${BASE}http-proxy proxy 8080\n`, 10, 'http-proxy', /prox/);
  });
  it('dev tap and dev-type tap are refused', async () => {
    await refused(BASE.replace('dev tun', 'dev tap0'), 2, 'dev', /tap.*layer 2/);
    await refused(`${BASE.replace('dev tun', 'dev vpn0')}dev-type tap\n`, 10, 'dev-type', /tap/);
    await refused(BASE.replace('dev tun', 'dev vpn0'), 2, 'dev', /dev-type tun/);
    const { options } = await load(`${BASE.replace('dev tun', 'dev vpn0')}dev-type tun\n`);
    assert.equal(options.devType, 'tun');
  });
  it('compression: stubs and real algorithms are read as 2.6 reads them; allow-compression no refuses real ones', async () => {
    assert.equal((await load(`${BASE}comp-lzo no\n`)).options.compression, 'lzo-stub');
    assert.equal((await load(`${BASE}compress\n`)).options.compression, 'stub');
    assert.equal((await load(`${BASE}compress stub-v2\n`)).options.compression, 'stub-v2');
    assert.equal((await load(BASE)).options.compression, 'none');
    assert.equal((await load(BASE)).options.compressionAt, undefined);
    // real compression is refused at connect time unless the push replaces it (openvpn/data-options.ts)
    for (const [line, alg] of [
      ['comp-lzo', 'lzo'],
      ['comp-lzo yes', 'lzo'],
      ['comp-lzo adaptive', 'lzo'],
      ['compress lzo', 'lzo'],
      ['compress lz4', 'lz4'],
      ['compress lz4-v2', 'lz4-v2'],
    ]) {
      const { options } = await load(`${BASE}${line}\n`);
      assert.equal(options.compression, alg, line);
      assert.deepEqual(options.compressionAt, { file: '/p/c.ovpn', line: 10, directive: line.split(' ')[0] });
    }
    // the later one wins
    assert.equal((await load(`${BASE}compress lz4\ncomp-lzo no\n`)).options.compression, 'lzo-stub');
    await refused(`${BASE}comp-lzo maybe\n`, 10, 'comp-lzo', /bad parameter/);
    await refused(`${BASE}compress zstd\n`, 10, 'compress', /bad compression/);
    // allow-compression no: stubs only, in either order (2.6 options.c and its post-process check)
    const noComp = await load(`${BASE}allow-compression no\ncompress stub-v2\n`);
    assert.equal(noComp.options.compression, 'stub-v2');
    await refused(`${BASE}allow-compression no\ncompress lz4-v2\n`, 11, 'compress', /allow-compression/);
    await refused(`${BASE}comp-lzo\nallow-compression no\n`, 11, 'allow-compression', /conflicts/);
    await refused(`${BASE}allow-compression no\nallow-compression yes\n`, 11, 'allow-compression', /after/);
  });
  it('proto: tcp means tcp-client, server variants and others are refused', async () => {
    const { options } = await load(`${BASE}proto tcp4\n`);
    assert.deepEqual(options.connections[0].remote, {
      host: 'vpn.example.net',
      port: 1194,
      proto: 'tcp',
      family: 4,
    });
    await refused(`${BASE}proto tcp-server\n`, 10, 'proto', /server side/);
    await refused(`${BASE}proto sctp\n`, 10, 'proto', /bad protocol/);
    await refused(`${BASE}remote b 443 udp-client\n`, 10, 'remote', /bad protocol/);
  });

  it('explicit-exit-notify is dropped with a note for TCP remotes and kept for UDP ones (2.6)', async () => {
    const { options, notes } = await load(`${BASE}proto tcp\nremote u 1194 udp\nexplicit-exit-notify 2\n`);
    assert.equal(options.connections[0].remote.proto, 'tcp');
    assert.equal(options.connections[0].explicitExitNotify, 0);
    assert.equal(options.connections[1].remote.proto, 'udp');
    assert.equal(options.connections[1].explicitExitNotify, 2);
    const n = notes.filter((x) => x.directive === 'explicit-exit-notify');
    assert.equal(n.length, 1);
    assert.match(n[0].message, /ignored for proto tcp \(remote vpn\.example\.net\)/);
    assert.equal(n[0].minVerb, 1);
  });
  it('data-ciphers naming only non-AEAD ciphers is refused; mixed lists keep the AEAD ones', async () => {
    await refused(`${BASE}data-ciphers AES-256-CBC:BF-CBC\n`, 10, 'data-ciphers', /no AEAD cipher/);
    const { options, notes } = await load(`${BASE}data-ciphers aes-128-gcm:AES-256-CBC:CHACHA20-POLY1305\n`);
    assert.deepEqual(options.dataCiphers, ['AES-128-GCM', 'CHACHA20-POLY1305']);
    assert.ok(
      notes.some((n) => n.directive === 'data-ciphers' && /AES-256-CBC: not an AEAD/.test(n.message)),
    );
    await refused(`${BASE}data-ciphers-fallback AES-256-CBC\n`, 10, 'data-ciphers-fallback', /AEAD/);
  });
  it('unknown directives are errors; wrong counts too', async () => {
    await refused(`${BASE}frobnicate 1\n`, 10, 'frobnicate', /c\.ovpn:10: frobnicate: unrecognized option/);
    await refused(`${BASE}verb\n`, 10, 'verb', /wrong number of parameters: 0 given, 1 expected/);
    await refused(`${BASE}nobind yes\n`, 10, 'nobind', /wrong number/);
    await refused(`${BASE}verify-x509-name ""\n`, 10, 'verify-x509-name', /wrong number/);
  });
  it('setenv opt turns an unknown directive (or a wrong count) into a warning, but not a refusal', async () => {
    const { notes } = await load(
      `${BASE}setenv opt block-outside-dns\nsetenv opt frobnicate 1 2\nsetenv opt verb\n`,
    );
    assert.deepEqual(
      notes.map((n) => [n.directive, n.level]),
      [
        ['block-outside-dns', 'info'],
        ['frobnicate', 'warn'],
        ['verb', 'warn'],
      ],
    );
    await refused(`${BASE}setenv opt fragment 1300\n`, 10, 'fragment', /refused/);
    const { notes: n2 } = await load(`${BASE}setenv opt\n`);
    assert.equal(n2[0].directive, 'setenv opt');
  });
  it('ignore-unknown-option covers the names listed, from that line on', async () => {
    await refused(`${BASE}frob\nignore-unknown-option frob\n`, 10, 'frob', /unrecognized/);
    const { notes } = await load(
      `${BASE}ignore-unknown-option frob --knob\nfrob 1\nknob\nignore-unknown-option zz\nzz\n`,
    );
    assert.deepEqual(
      notes.map((n) => n.directive),
      ['frob', 'knob', 'zz'],
    );
  });
  it('inline blocks are refused for directives that cannot be inline', async () => {
    await refused(`${BASE}<verb>\n3\n</verb>\n`, 10, 'verb', /inline/);
  });
});

describe('client options', () => {
  it('2.6 defaults', async () => {
    const { options: o } = await load(BASE);
    assert.equal(o.pull, true);
    assert.equal(o.tlsClient, true);
    assert.deepEqual(o.dataCiphers, ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']);
    assert.equal(o.auth, 'SHA1');
    assert.equal(o.renegSec, 3600);
    assert.equal(o.handWindow, 60);
    assert.equal(o.tranWindow, 3600);
    assert.equal(o.tlsTimeout, 2);
    assert.equal(o.tlsVersionMin, '1.2');
    assert.equal(o.resolvRetrySeconds, Number.POSITIVE_INFINITY);
    assert.equal(o.verb, 1);
    assert.equal(o.authUserPass, 'prompt');
    const c = o.connections[0];
    assert.deepEqual(c.remote, { host: 'vpn.example.net', port: 1194, proto: 'udp', family: 'any' });
    assert.equal(c.connectRetry, 1);
    assert.equal(c.connectRetryMax, 300);
    assert.equal(c.connectTimeout, 120);
    assert.equal(c.tunMtu, 1500);
    assert.equal(c.tlsWrap, undefined);
  });
  it('a lone cipher AES-256-CBC still negotiates the default AEAD list (with a note)', async () => {
    const { options, notes } = await load(`${BASE}cipher AES-256-CBC\n`);
    assert.deepEqual(options.dataCiphers, ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']);
    assert.ok(notes.some((n) => n.directive === 'cipher' && n.line === 10));
  });
  it('the command line overrides the file when it comes later, and not when it comes first', async () => {
    const text = `${BASE}verb 3\n`;
    assert.equal((await load(text, ['--verb', '5'])).options.verb, 5);
    const r = await loadClientConfig(['--verb', '5', '--config', 'c.ovpn'], {
      readFile: () => text,
      cwd: '/p',
    });
    assert.equal(r.options.verb, 3);
  });
  it('keepalive on a client means ping and ping-restart; conflicts are refused', async () => {
    const { options: o } = await load(`${BASE}keepalive 10 60\n`);
    assert.deepEqual([o.ping, o.pingRecvTimeout, o.pingAction], [10, 60, 'restart']);
    await refused(`${BASE}keepalive 10 15\n`, 10, 'keepalive', /twice/);
    await refused(`${BASE}ping 5\nkeepalive 10 60\n`, 11, 'keepalive', /conflicts with ping/);
  });
  it('tls-auth with key-direction, in either order; direction on the tls-auth line for a file', async () => {
    const inline = `${BASE}<tls-auth>\nK\n</tls-auth>\nkey-direction 1\n`;
    const w = (await load(inline)).options.connections[0].tlsWrap;
    assert.deepEqual(w, { mode: 'tls-auth', key: { kind: 'inline', text: 'K\n' }, direction: 1 });
    const file = (await load(`${BASE}tls-auth ta.key 0\n`)).options.connections[0].tlsWrap;
    assert.deepEqual(file, {
      mode: 'tls-auth',
      key: { kind: 'path', path: 'ta.key', dir: '/p' },
      direction: 0,
    });
    const bidi = (await load(`${BASE}tls-auth ta.key\n`)).options.connections[0].tlsWrap;
    assert.equal(bidi?.mode === 'tls-auth' && bidi.direction, undefined);
    await refused(`${BASE}key-direction 2\n`, 10, 'key-direction', /0 or 1/);
    await refused(`${BASE}tls-auth ta.key\ntls-crypt tc.key\n`, 3, 'remote', /mutually exclusive/);
  });
  it('tls-crypt and tls-crypt-v2', async () => {
    const tc = (await load(`${BASE}<tls-crypt>\nK\n</tls-crypt>\n`)).options.connections[0].tlsWrap;
    assert.deepEqual(tc, { mode: 'tls-crypt', key: { kind: 'inline', text: 'K\n' } });
    const v2 = (await load(`${BASE}tls-crypt-v2 c.key\n`)).options.connections[0].tlsWrap;
    assert.equal(v2?.mode, 'tls-crypt-v2');
  });
  it('several remotes use the final top-level settings; their own port and proto win', async () => {
    const { options } = await load(
      `${BASE}remote b 443 tcp\nremote c\nport 1200\nproto udp6\nremote-random\n`,
    );
    assert.deepEqual(
      options.connections.map((c) => c.remote),
      [
        { host: 'vpn.example.net', port: 1194, proto: 'udp', family: 6 },
        { host: 'b', port: 443, proto: 'tcp', family: 'any' },
        { host: 'c', port: 1200, proto: 'udp', family: 6 },
      ],
    );
    assert.equal(options.remoteRandom, true);
  });
  it('<connection> blocks: they win over top-level remotes and start from the settings where they stand', async () => {
    const t =
      `${BASE}connect-retry 5\n<connection>\nremote a 1194 udp\nconnect-retry 2\n</connection>\n` +
      `<connection>\nremote b 443\nproto tcp\n<tls-crypt>\nB\n</tls-crypt>\n</connection>\n` +
      `tls-auth ta.key\nkey-direction 1\n`;
    const { options, notes } = await load(t);
    const [a, b] = options.connections;
    assert.equal(options.connections.length, 2);
    assert.deepEqual(a.remote, { host: 'a', port: 1194, proto: 'udp', family: 'any' });
    assert.equal(a.connectRetry, 2);
    assert.deepEqual(a.tlsWrap, {
      mode: 'tls-auth',
      key: { kind: 'path', path: 'ta.key', dir: '/p' },
      direction: 1,
    });
    assert.deepEqual(b.remote, { host: 'b', port: 443, proto: 'tcp', family: 'any' });
    assert.equal(b.connectRetry, 5);
    assert.deepEqual(b.tlsWrap, { mode: 'tls-crypt', key: { kind: 'inline', text: 'B\n' } });
    assert.ok(notes.some((n) => n.directive === 'remote' && /not used/.test(n.message)));
  });
  it('<connection> refuses directives that are not per-connection, and needs a remote', async () => {
    await refused(
      `${BASE}<connection>\nremote a\nverb 4\n</connection>\n`,
      12,
      'verb',
      /inside a <connection>/,
    );
    await refused(
      `${BASE}<connection>\nport 1\n</connection>\n`,
      10,
      'connection',
      /must contain a 'remote'/,
    );
    await refused(`${BASE}<connection>\nremote a\nfrob\n</connection>\n`, 12, 'frob', /unrecognized/);
  });
  it('verify-x509-name in its three forms, peer-fingerprint single and as a block', async () => {
    const v = async (s: string) => (await load(`${BASE}${s}\n`)).options.verifyX509Name;
    assert.deepEqual(await v("verify-x509-name 'C=DE, CN=vpn'"), { name: 'C=DE, CN=vpn', type: 'subject' });
    assert.deepEqual(await v('verify-x509-name vpn.example.net name'), {
      name: 'vpn.example.net',
      type: 'name',
    });
    assert.deepEqual(await v('verify-x509-name vpn name-prefix'), { name: 'vpn', type: 'name-prefix' });
    await refused(`${BASE}verify-x509-name vpn cn\n`, 10, 'verify-x509-name', /name type/);
    const fp = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join(':');
    const one = (await load(`${BASE}peer-fingerprint ${fp}\n`)).options.peerFingerprints;
    assert.equal(one[0].toString('hex'), Buffer.from(fp.replace(/:/g, ''), 'hex').toString('hex'));
    const block = `${BASE}<peer-fingerprint>\n# server 1\n${fp}\n\n${fp.toUpperCase()}\r\n</peer-fingerprint>\n`;
    assert.equal((await load(block)).options.peerFingerprints.length, 2);
    await refused(`${BASE}peer-fingerprint AA:BB\n`, 10, 'peer-fingerprint', /wrong length/);
  });
  it('tls-version-min with or-highest, remote-cert-tls, crl-verify', async () => {
    const { options: o } = await load(
      `${BASE}tls-version-min 1.3\nremote-cert-tls server\ncrl-verify crl.pem\n`,
    );
    assert.equal(o.tlsVersionMin, '1.3');
    assert.equal(o.remoteCertEku, 'TLS Web Server Authentication');
    assert.equal(o.remoteCertKu, 'required');
    assert.deepEqual(o.crlVerify, { ref: { kind: 'path', path: 'crl.pem', dir: '/p' }, dir: false });
    assert.equal((await load(`${BASE}tls-version-min 1.4 or-highest\n`)).options.tlsVersionMin, '1.3');
    await refused(`${BASE}tls-version-min 1.4\n`, 10, 'tls-version-min', /unknown TLS version/);
  });
  it('a client needs client (or pull), a dev, a remote and a way to authenticate', async () => {
    await assert.rejects(load(BASE.replace('client\n', 'tls-client\n')), /needs 'client'/);
    await assert.rejects(load(BASE.replace('dev tun\n', '')), /'dev' is missing/);
    await assert.rejects(load(BASE.replace('remote vpn.example.net 1194\n', '')), /no 'remote'/);
    await assert.rejects(load(BASE.replace('auth-user-pass\n', '')), /no client authentication/);
    await assert.rejects(load(`${BASE}cert c.crt\n`), /cert or key, you must use them both/);
  });
  it('numbers parse like atoi (positive_atoi)', async () => {
    const { options: o } = await load(`${BASE}reneg-sec 0\nhand-window 10s\nping -5\n`);
    assert.deepEqual([o.renegSec, o.handWindow, o.ping], [0, 10, 0]);
  });
});

describe('realistic profiles', () => {
  it('a provider profile: several remotes, comp-lzo no, cipher AES-256-CBC only, setenv opt, tls-auth', async () => {
    const profile = [
      '# Generated for customer 123 - do not edit',
      'client',
      'dev tun',
      'proto udp',
      'remote nl1.vpn.example 1194',
      'remote nl2.vpn.example 1194',
      'remote nl3.vpn.example 443 tcp',
      'remote-random',
      'resolv-retry infinite',
      'nobind',
      'persist-key',
      'persist-tun',
      'remote-cert-tls server',
      'cipher AES-256-CBC',
      'auth SHA512',
      'comp-lzo no',
      'verb 3',
      'mute-replay-warnings',
      'auth-user-pass',
      'auth-nocache',
      'setenv opt block-outside-dns',
      'fast-io',
      'reneg-sec 0',
      'ping 15',
      'ping-restart 0',
      'explicit-exit-notify 2',
      'key-direction 1',
      '<ca>',
      PEM('CERTIFICATE').trimEnd(),
      '</ca>',
      '<tls-auth>',
      '#',
      '# 2048 bit OpenVPN static key',
      '#',
      PEM('OpenVPN Static key V1').trimEnd(),
      '</tls-auth>',
      '',
    ].join('\r\n');
    const { options: o, notes } = await load(profile);
    assert.equal(o.connections.length, 3);
    assert.deepEqual(o.connections[2].remote, {
      host: 'nl3.vpn.example',
      port: 443,
      proto: 'tcp',
      family: 'any',
    });
    assert.equal(o.connections[0].explicitExitNotify, 2);
    assert.deepEqual(o.dataCiphers, ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']);
    assert.equal(o.compression, 'lzo-stub');
    assert.equal(o.auth, 'SHA512');
    assert.equal(o.renegSec, 0);
    assert.equal(o.persistTun, true);
    assert.equal(o.authNocache, true);
    assert.equal(o.verb, 3);
    const w = o.connections[1].tlsWrap;
    assert.ok(
      w?.mode === 'tls-auth' && w.direction === 1 && w.key.kind === 'inline' && /Static key/.test(w.key.text),
    );
    assert.ok(notes.some((n) => n.directive === 'block-outside-dns'));
    assert.ok(notes.some((n) => n.directive === 'cipher'));
  });

  it('an Access Server style profile: tls-crypt-v2, cert/key inline, data-ciphers, setenv, connection blocks', async () => {
    const profile = `# Automatically generated OpenVPN client config file
# OVPN_ACCESS_SERVER_USERNAME=alice
setenv FORWARD_COMPATIBLE 1
client
server-poll-timeout 4
nobind
<connection>
remote as.example.com 1194 udp
</connection>
<connection>
remote as.example.com 443 tcp
</connection>
dev tun
dev-type tun
remote-cert-tls server
tls-version-min 1.2
reneg-sec 604800
tun-mtu 1420
verb 3
push-peer-info
setenv PUSH_PEER_INFO
data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305
<ca>
${PEM('CERTIFICATE')}</ca>
<cert>
${PEM('CERTIFICATE')}</cert>
<key>
${PEM('PRIVATE KEY')}</key>
<tls-crypt-v2>
${PEM('OpenVPN tls-crypt-v2 client key')}</tls-crypt-v2>
`;
    const { options: o, notes } = await load(profile);
    assert.equal(o.connections.length, 2);
    assert.equal(o.connections[1].remote.proto, 'tcp');
    assert.equal(o.connections[0].connectTimeout, 4);
    // as in OpenVPN, per-connection settings after the blocks do not reach them (and say so)
    assert.equal(o.connections[0].tunMtu, 1500);
    assert.ok(notes.some((n) => n.directive === 'tun-mtu' && /previous <connection> blocks/.test(n.message)));
    assert.equal(o.connections[0].tlsWrap?.mode, 'tls-crypt-v2');
    assert.equal(o.cert?.kind, 'inline');
    assert.equal(o.key?.kind, 'inline');
    assert.equal(o.setenv.get('FORWARD_COMPATIBLE'), '1');
    assert.equal(o.setenv.get('PUSH_PEER_INFO'), '');
    assert.equal(o.pushPeerInfo, true);
  });

  it('a pfSense style export: files next to the profile, auth-user-pass file, tls-crypt', async () => {
    const profile = `dev tun
persist-tun
persist-key
data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305
data-ciphers-fallback AES-256-GCM
auth SHA256
tls-client
client
resolv-retry infinite
remote 203.0.113.9 1194 udp4
nobind
verify-x509-name "pfsense-server" name
auth-user-pass creds.txt
pkcs12 fw-udp-1194-alice.p12
tls-crypt fw-udp-1194-alice-tls.key
remote-cert-tls server
explicit-exit-notify
ca "ca file.crt"
`;
    const files = { '/p/creds.txt': 'alice\ns3cret\n', '/p/ca file.crt': PEM('CERTIFICATE') };
    const fsRead = (p: string): string => {
      const all: Record<string, string> = { '/p/c.ovpn': profile, ...files };
      if (all[p] === undefined) throw new Error('ENOENT');
      return all[p];
    };
    const { options: o } = await loadClientConfig(['c.ovpn'], { readFile: fsRead, cwd: '/p' });
    assert.deepEqual(o.connections[0].remote, { host: '203.0.113.9', port: 1194, proto: 'udp', family: 4 });
    assert.equal(o.connections[0].explicitExitNotify, 1);
    assert.equal(o.dataCiphersFallback, 'AES-256-GCM');
    assert.deepEqual(o.verifyX509Name, { name: 'pfsense-server', type: 'name' });
    assert.ok(o.authUserPass !== undefined && o.authUserPass !== 'prompt');
    const creds = await readFileRef(o.authUserPass, fsRead, 'auth-user-pass');
    assert.deepEqual(parseAuthUserPass(Buffer.from(creds).toString()), {
      username: 'alice',
      password: 's3cret',
    });
    assert.ok(o.ca !== undefined);
    assert.match(Buffer.from(await readFileRef(o.ca, fsRead, 'ca')).toString(), /BEGIN CERTIFICATE/);
    assert.equal(o.pkcs12?.kind === 'path' && o.pkcs12.path, 'fw-udp-1194-alice.p12');
  });
});
