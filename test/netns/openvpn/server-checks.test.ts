/**
 * The server checks of the ovpn-ts client against Debian's OpenVPN 2.6 server, in namespaces: each
 * failing check (verify-x509-name in its three forms, peer-fingerprint, the server certificate
 * revoked in a crl-verify CRL, a server certificate without the serverAuth EKU under
 * `remote-cert-tls server`, tls-version-min 1.3 against a server stopping at TLS 1.2) ends the
 * client with exit code 1, the check's message, and no device left; the passing forms connect. One
 * lab on the fixture's EC PKI; a second with an RSA PKI of our own, where the client also connects
 * with a password-protected PKCS#12 file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { fingerprint, issue, makeCa, makeCrl, makePkcs12 } from '../../support/pki.js';
import {
  haveOpenvpn,
  type OpenvpnLab,
  SERVER_LINK,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const SKIP = !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false;

/**
 * Runs a client with `cfg` that must fail: resolves with its error message once it exited 1. A failed
 * check is a failed attempt that 2.6 retries: `connect-retry-max 1` makes it the only one, and the
 * final error names it as its `cause`.
 */
async function mustFail(ol: OpenvpnLab, tun: string, cfg: string): Promise<string> {
  const c = ol.spawnClient([
    '--config',
    cfg,
    '--dev',
    tun,
    '--dev-type',
    'tun',
    '--json',
    '--verb',
    '3',
    '--connect-retry-max',
    '1',
  ]);
  try {
    const line = await c.waitFor(
      (l) => l.includes('"event":"error"') || l.includes('"event":"up"'),
      20_000,
      'the error',
    );
    const ev = JSON.parse(line) as { event: string; message?: string; cause?: string };
    assert.equal(ev.event, 'error', `the client connected: ${line}`);
    assert.equal(await c.waitExit(10_000), 1, c.tail());
    // no tunnel: the device is gone with the process
    const link = await ol.lab.run(ol.nsC, 'ip', ['-o', 'link', 'show'], 5000);
    assert.ok(!link.stdout.includes(tun), `device ${tun} left behind:\n${link.stdout}`);
    assert.match(ev.message ?? '', /connect-retry-max \(1\) times unsuccessful/);
    return ev.cause ?? '';
  } finally {
    await stopClient(c);
  }
}

/** Runs a client with `cfg` that must connect and ping the server; stops it; returns its up event and log. */
async function mustConnect(
  ol: OpenvpnLab,
  tun: string,
  cfg: string,
): Promise<{ up: Record<string, unknown>; log: string[] }> {
  const c = ol.spawnClient(['--config', cfg, '--dev', tun, '--dev-type', 'tun', '--json', '--verb', '3']);
  try {
    const up = await c.waitEvent('up', 25_000, 0);
    const ping = await ol.lab.run(ol.nsC, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', SERVER_VPN], 10_000);
    assert.match(ping.stdout, /2 packets transmitted, 2 received/, ping.stdout + ping.stderr);
    const log = c.out.map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '');
    return { up, log };
  } finally {
    await stopClient(c);
    await c.waitExit(5000);
  }
}

describe('server checks against OpenVPN 2.6: EC PKI (netns)', { skip: SKIP, timeout: 180_000 }, () => {
  let ol: OpenvpnLab;
  const TUN = 'ovka0';
  let fp: string;

  before(async () => {
    ol = await startOpenvpnLab('ovka');
    fp = fingerprint(ol.dir, 'server.crt');
    makeCrl(ol.dir, 'clean.pem', []);
    makeCrl(ol.dir, 'revoked.pem', ['server']);
  });
  after(async () => {
    const left = (await ol?.cleanup()) ?? [];
    assert.deepEqual(left, []);
  });

  it('the passing forms connect: verify-x509-name subject/name/name-prefix, peer-fingerprint, a CRL without the server', async () => {
    const first = await mustConnect(
      ol,
      TUN,
      ol.writeClientConfig(
        [
          'verify-x509-name CN=ovka-server subject',
          `peer-fingerprint ${fp}`,
          `crl-verify ${join(ol.dir, 'clean.pem')}`,
          'tls-version-min 1.3',
        ],
        'pass1.ovpn',
      ),
    );
    for (const line of [
      'VERIFY OK: depth=1, CN=ovka-ca',
      'VERIFY X509NAME OK: CN=ovka-server',
      'VERIFY OK: depth=0, CN=ovka-server',
    ])
      assert.ok(first.log.includes(line), `no "${line}" in\n${first.log.join('\n')}`);
    assert.equal(first.up.tlsVersion, 'TLSv1.3');
    await mustConnect(
      ol,
      TUN,
      ol.writeClientConfig(
        [
          'verify-x509-name ovka-server name',
          '<peer-fingerprint>',
          `${'00:'.repeat(31)}00`,
          fp,
          '</peer-fingerprint>',
        ],
        'pass2.ovpn',
      ),
    );
    // peer-fingerprint and no ca: the chain is not judged (the server certificate is not self-signed here)
    const noCa = join(ol.dir, 'pass3.ovpn');
    writeFileSync(
      noCa,
      [
        'client',
        'dev tun',
        'proto udp',
        `remote ${SERVER_LINK} 1194`,
        `cert ${join(ol.dir, 'client.crt')}`,
        `key ${join(ol.dir, 'client.key')}`,
        `peer-fingerprint ${fp}`,
        'verify-x509-name ovka- name-prefix',
        '',
      ].join('\n'),
    );
    await mustConnect(ol, TUN, noCa);
  });

  it('verify-x509-name with the wrong subject, name or name prefix: refused, exit 1, no device', async () => {
    for (const [arg, name] of [
      ['"CN=ovka-server, O=x" subject', 'CN=ovka-server, O=x'],
      ['ovka-serve name', 'ovka-serve'],
      ['ovka-server2 name-prefix', 'ovka-server2'],
      ['CN=ovka-client', 'CN=ovka-client'],
    ]) {
      const msg = await mustFail(ol, TUN, ol.writeClientConfig([`verify-x509-name ${arg}`], 'x509.ovpn'));
      assert.equal(msg, `VERIFY X509NAME ERROR: CN=ovka-server, must be ${name}`);
    }
  });

  it('a wrong peer-fingerprint is refused, with the certificate fingerprint in the message', async () => {
    const msg = await mustFail(
      ol,
      TUN,
      ol.writeClientConfig([`peer-fingerprint ${'AB:'.repeat(31)}AB`], 'fp.ovpn'),
    );
    assert.equal(
      msg,
      `TLS Error: --tls-verify/--peer-fingerprint certificate hash verification failed. (got certificate fingerprint: ${fp})`,
    );
  });

  it('the server certificate revoked in the crl-verify CRL is refused', async () => {
    const msg = await mustFail(
      ol,
      TUN,
      ol.writeClientConfig([`crl-verify ${join(ol.dir, 'revoked.pem')}`], 'crl.ovpn'),
    );
    assert.match(msg, /^VERIFY ERROR: depth=0, error=certificate revoked: CN=ovka-server, serial=\d+$/);
  });
});

describe('server checks against OpenVPN 2.6: RSA PKI, PKCS#12, TLS 1.2 server without serverAuth (netns)', {
  skip: SKIP,
  timeout: 120_000,
}, () => {
  let ol: OpenvpnLab;
  const TUN = 'ovkb0';
  const pki = mkdtempSync(join(tmpdir(), 'ovkb-pki-'));
  const p = (f: string) => join(pki, f);
  /** A client config for this server (no remote-cert-tls unless given). */
  const config = (name: string, lines: string[]) => {
    const path = p(name);
    writeFileSync(
      path,
      ['client', 'dev tun', 'proto udp', `remote ${SERVER_LINK} 1194`, ...lines, ''].join('\n'),
    );
    return path;
  };

  before(async () => {
    makeCa(pki, 'ca', '/CN=ovkb-rsa-ca', 'rsa');
    // a server certificate with key usage but no extended key usage: OpenSSL's purpose check passes it
    issue(pki, 'server', {
      subj: '/CN=ovkb-server',
      ext: ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment'],
      type: 'rsa',
    });
    issue(pki, 'client', {
      subj: '/CN=ovkb-client',
      ext: ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'],
      type: 'rsa',
    });
    makePkcs12(pki, 'client', 'client.p12', 'ovkb-pass');
    writeFileSync(p('pass.txt'), 'ovkb-pass\n');
    ol = await startOpenvpnLab('ovkb', {
      serverArgs: [
        '--ca',
        p('ca.crt'),
        '--cert',
        p('server.crt'),
        '--key',
        p('server.key'),
        '--tls-version-max',
        '1.2',
      ],
    });
  });
  after(async () => {
    const left = (await ol?.cleanup()) ?? [];
    rmSync(pki, { recursive: true, force: true });
    assert.deepEqual(left, []);
  });

  it('an RSA client with a password-protected PKCS#12 (askpass file) connects over TLS 1.2', async () => {
    const { up } = await mustConnect(
      ol,
      TUN,
      config('p12.ovpn', [`pkcs12 ${p('client.p12')}`, `askpass ${p('pass.txt')}`]),
    );
    assert.equal(up.tlsVersion, 'TLSv1.2');
  });

  it('remote-cert-tls server: a server certificate without the serverAuth EKU is refused', async () => {
    const msg = await mustFail(
      ol,
      TUN,
      config('eku.ovpn', [`pkcs12 ${p('client.p12')}`, `askpass ${p('pass.txt')}`, 'remote-cert-tls server']),
    );
    assert.equal(
      msg,
      'VERIFY EKU ERROR: the certificate does not have the extended key usage extension (expected TLS Web Server Authentication)',
    );
  });

  it('tls-version-min 1.3 against a server with tls-version-max 1.2: no handshake, the hand-window runs out', async () => {
    // the 2.6 server drops a ClientHello it cannot serve without sending its alert (its log says
    // "Sent fatal SSL alert: protocol version" but the session is gone), as a 2.6 client sees too
    const msg = await mustFail(
      ol,
      TUN,
      config('v13.ovpn', [
        `pkcs12 ${p('client.p12')}`,
        `askpass ${p('pass.txt')}`,
        'tls-version-min 1.3',
        'hand-window 5',
      ]),
    );
    assert.equal(
      msg,
      'TLS key negotiation failed to occur within 5 seconds (the server never answered our TLS ClientHello: it may accept nothing that tls-version-min 1.3 allows)',
    );
    await ol.waitServerLog(/Sent fatal SSL alert: protocol version/, 1000, 0);
  });
});
