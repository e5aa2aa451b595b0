/**
 * The TLS options of the client (src/openvpn/tls-config.ts) through real handshakes: a node:tls
 * server on loopback, the client's TlsChannel with the secure context and checks built from a config.
 * RSA and ECDSA certificates, PKCS#12 (file and inline, with askpass), tls-version-min/max,
 * tls-cipher with IANA names, tls-groups, peer-fingerprint without a CA, crl-verify, the chain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer, type Server, type TlsOptions } from 'node:tls';
import { loadClientConfig } from '../../../src/config/load.js';
import { ServerCheckError } from '../../../src/openvpn/cert-checks.js';
import { TlsChannel } from '../../../src/openvpn/tls-channel.js';
import {
  isEncryptedPemKey,
  loadTlsConfig,
  nodeCipherString,
  opensslCipherName,
} from '../../../src/openvpn/tls-config.js';
import { fingerprint, issue, makeCa, makeCrl, makePkcs12, ossl } from '../../support/pki.js';

const SERVER_EXT = [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
];
const CLIENT_EXT = ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'];

describe('client TLS options (tls-config.ts) in real handshakes', () => {
  let dir: string;
  const servers: Server[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ovkb-unit-'));
    makeCa(dir, 'ca', '/CN=ovkb-ca');
    issue(dir, 'srv', { subj: '/CN=ovkb-server', ext: SERVER_EXT });
    issue(dir, 'cli', { subj: '/CN=ovkb-client', ext: CLIENT_EXT });
    makeCa(dir, 'rca', '/CN=ovkb-rsa-ca', 'rsa');
    issue(dir, 'rsrv', { ca: 'rca', subj: '/CN=ovkb-rsa-server', ext: SERVER_EXT, type: 'rsa' });
    issue(dir, 'rcli', { ca: 'rca', subj: '/CN=ovkb-rsa-client', ext: CLIENT_EXT, type: 'rsa' });
    makePkcs12(dir, 'rcli', 'rcli.p12', 'sesame', 'rca');
    writeFileSync(join(dir, 'pass.txt'), 'sesame\nignored second line\n');
    writeFileSync(join(dir, 'wrong.txt'), 'open\n');
    makeCa(dir, 'other', '/CN=ovkb-other-ca');
    issue(dir, 'osrv', { ca: 'other', subj: '/CN=ovkb-server', ext: SERVER_EXT });
  });
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A TLS server asking for a client certificate from `caFile`, with `extra` options. */
  async function server(name: string, caFile: string, extra: TlsOptions = {}): Promise<number> {
    const s = createServer({
      cert: readFileSync(join(dir, `${name}.crt`)),
      key: readFileSync(join(dir, `${name}.key`)),
      ca: readFileSync(join(dir, caFile)),
      requestCert: true,
      rejectUnauthorized: true,
      ...extra,
    });
    s.on('secureConnection', (sock) => sock.on('error', () => {}));
    s.on('tlsClientError', () => {});
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  }

  /** Runs a handshake with a client configured by `lines`; resolves with the protocol or rejects. */
  async function handshake(port: number, lines: string[]): Promise<string> {
    const cfg = join(dir, `c${Math.random().toString(36).slice(2)}.ovpn`);
    writeFileSync(cfg, ['client', 'dev tun', 'remote 127.0.0.1', ...lines, ''].join('\n'));
    const { options } = await loadClientConfig(['--config', cfg], { readFile: (p) => readFile(p), cwd: dir });
    const tls = await loadTlsConfig(options, (p) => readFile(p));
    const sock = netConnect(port, '127.0.0.1');
    const ch = new TlsChannel({ tls, onCiphertext: (d) => sock.write(d) });
    sock.on('data', (d) => ch.ciphertextIn(d));
    const closed = new Promise<never>((_, reject) => {
      sock.on('error', reject);
      sock.on('close', () => reject(new Error('the server closed the connection')));
    });
    closed.catch(() => {});
    try {
      await Promise.race([ch.handshake(), closed]);
      return ch.socket.getProtocol() ?? '';
    } finally {
      ch.destroy();
      sock.destroy();
    }
  }

  const ec = ['ca ca.crt', 'cert cli.crt', 'key cli.key', 'remote-cert-tls server'];

  it('ECDSA certificates: TLS 1.3 by default, 1.2 with tls-version-max 1.2', async () => {
    const port = await server('srv', 'ca.crt');
    assert.equal(await handshake(port, ec), 'TLSv1.3');
    assert.equal(await handshake(port, [...ec, 'tls-version-max 1.2']), 'TLSv1.2');
  });

  it('tls-version-min 1.3 against a server that stops at 1.2 fails the handshake', async () => {
    const port = await server('srv', 'ca.crt', { maxVersion: 'TLSv1.2' });
    assert.equal(await handshake(port, ec), 'TLSv1.2');
    await assert.rejects(
      handshake(port, [...ec, 'tls-version-min 1.3']),
      /^Error: TLS Error: TLS handshake failed: tlsv1 alert protocol version \(tls-version-min 1.3\)$/,
    );
    // or-highest only stands in for a version OpenSSL does not know (ssl.c tls_version_parse)
    await assert.rejects(handshake(port, [...ec, 'tls-version-min 1.3 or-highest']), /protocol version/);
  });

  it('RSA certificates with a password-protected PKCS#12 (file and inline) and askpass FILE', async () => {
    const port = await server('rsrv', 'rca.crt');
    assert.equal(
      await handshake(port, ['pkcs12 rcli.p12', 'askpass pass.txt', 'remote-cert-tls server']),
      'TLSv1.3',
    );
    const b64 = readFileSync(join(dir, 'rcli.p12')).toString('base64').replace(/.{64}/g, '$&\n');
    assert.equal(
      await handshake(port, ['<pkcs12>', b64, '</pkcs12>', 'askpass pass.txt', 'remote-cert-tls server']),
      'TLSv1.3',
    );
    // no askpass: 2.6 asks on the terminal; the test has none
    await assert.rejects(
      handshake(port, ['pkcs12 rcli.p12', 'remote-cert-tls server']),
      /^Error: askpass: the private key is encrypted and there is no terminal/,
    );
    await assert.rejects(handshake(port, ['pkcs12 rcli.p12', 'askpass wrong.txt']), /^Error: pkcs12: /);
  });

  it('an encrypted private key with askpass FILE; a wrong one refused naming the key, none asked on the terminal', async () => {
    ossl(dir, 'pkey', '-in', 'cli.key', '-aes256', '-passout', 'pass:sesame', '-out', 'cli-enc.key');
    const port = await server('srv', 'ca.crt');
    assert.equal(
      await handshake(port, ['ca ca.crt', 'cert cli.crt', 'key cli-enc.key', 'askpass pass.txt']),
      'TLSv1.3',
    );
    await assert.rejects(
      handshake(port, ['ca ca.crt', 'cert cli.crt', 'key cli-enc.key']),
      /^Error: askpass: the private key is encrypted and there is no terminal/,
    );
    await assert.rejects(
      handshake(port, ['ca ca.crt', 'cert cli.crt', 'key cli-enc.key', 'askpass wrong.txt']),
      /^Error: key: cannot decrypt the private key/,
    );
  });

  it('an encrypted key is told from its PEM text: PKCS#8 and the legacy Proc-Type header, not a plain key', () => {
    ossl(dir, 'ec', '-in', 'cli.key', '-aes256', '-passout', 'pass:sesame', '-out', 'cli-legacy.key');
    assert.equal(isEncryptedPemKey(readFileSync(join(dir, 'cli-enc.key'))), true);
    assert.equal(isEncryptedPemKey(readFileSync(join(dir, 'cli-legacy.key'))), true);
    assert.match(readFileSync(join(dir, 'cli-legacy.key'), 'latin1'), /Proc-Type: 4,ENCRYPTED/);
    assert.equal(isEncryptedPemKey(readFileSync(join(dir, 'cli.key'))), false);
  });

  it('PKCS#12 without ca trusts the CAs inside it (an empty ca list keeps the public roots out), not another CA', async () => {
    const other = await server('osrv', 'rca.crt');
    await assert.rejects(
      handshake(other, ['pkcs12 rcli.p12', 'askpass pass.txt']),
      (e: Error) => e instanceof ServerCheckError && /^VERIFY ERROR: error=/.test(e.message),
    );
  });

  it('a server certificate from another CA is refused with the chain error', async () => {
    const port = await server('osrv', 'ca.crt');
    await assert.rejects(
      handshake(port, ec),
      (e: Error) =>
        e instanceof ServerCheckError &&
        /^VERIFY ERROR: error=unable to verify the first certificate: CN=ovkb-server, serial=\d+$/.test(
          e.message,
        ),
    );
  });

  it('a server with a client-only certificate is refused by OpenSSL purpose check, as in 2.6, even without remote-cert-tls', async () => {
    const port = await server('cli', 'ca.crt');
    await assert.rejects(
      handshake(port, ['ca ca.crt', 'cert cli.crt', 'key cli.key']),
      /^ServerCheckError: VERIFY ERROR: error=unsupported certificate purpose: CN=ovkb-client, serial=\d+$/,
    );
  });

  it('peer-fingerprint without ca: a self-signed server certificate whose fingerprint matches', async () => {
    ossl(
      dir,
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'self.key',
      '-out',
      'self.crt',
      '-subj',
      '/CN=ovkb-self',
      '-days',
      '2',
    );
    const port = await server('self', 'ca.crt');
    const fp = fingerprint(dir, 'self.crt');
    assert.equal(await handshake(port, ['cert cli.crt', 'key cli.key', `peer-fingerprint ${fp}`]), 'TLSv1.3');
    const wrong = fp.replace(/^../, fp.startsWith('00') ? '11' : '00');
    await assert.rejects(
      handshake(port, ['cert cli.crt', 'key cli.key', '<peer-fingerprint>', wrong, '</peer-fingerprint>']),
      /certificate hash verification failed. \(got certificate fingerprint: /,
    );
    // with a ca as well, the chain counts too (the self-signed certificate is not from it)
    await assert.rejects(
      handshake(port, ['ca ca.crt', 'cert cli.crt', 'key cli.key', `peer-fingerprint ${fp}`]),
      /VERIFY ERROR: error=self-signed certificate/,
    );
  });

  it('crl-verify: the revoked server certificate is refused in the handshake; a CRL without it passes', async () => {
    const port = await server('srv', 'ca.crt');
    makeCrl(dir, 'clean.pem', []);
    assert.equal(await handshake(port, [...ec, 'crl-verify clean.pem']), 'TLSv1.3');
    makeCrl(dir, 'revoked.pem', ['srv']);
    await assert.rejects(
      handshake(port, [...ec, 'crl-verify revoked.pem']),
      /VERIFY ERROR: depth=0, error=certificate revoked: CN=ovkb-server/,
    );
    writeFileSync(join(dir, 'empty.pem'), '');
    await assert.rejects(handshake(port, [...ec, 'crl-verify empty.pem']), /VERIFY ERROR: CRL not loaded/);
  });

  it('tls-cipher with IANA names, tls-ciphersuites, tls-groups reach OpenSSL; nonsense is refused naming the directive', async () => {
    const port = await server('srv', 'ca.crt');
    assert.equal(
      await handshake(port, [
        ...ec,
        'tls-version-max 1.2',
        'tls-cipher TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256',
      ]),
      'TLSv1.2',
    );
    assert.equal(
      await handshake(port, [
        ...ec,
        'tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256',
        'tls-groups X25519:secp256r1',
      ]),
      'TLSv1.3',
    );
    await assert.rejects(
      handshake(port, [...ec, 'tls-version-max 1.2', 'tls-cipher NOPE-CIPHER']),
      /^Error: tls-cipher: /,
    );
    await assert.rejects(handshake(port, [...ec, 'tls-groups nonsense-group']), /^Error: tls-groups: /);
    // OpenVPN's security level for tls-cert-profile goes into the cipher string
    assert.equal(
      nodeCipherString({
        tlsCipher: 'DEFAULT:@SECLEVEL=0',
        tlsCiphersuites: 'TLS-AES-128-GCM-SHA256',
        tlsCertProfile: 'preferred',
      }),
      'DEFAULT:@SECLEVEL=0:TLS_AES_128_GCM_SHA256',
    );
    assert.match(
      nodeCipherString({ tlsCipher: undefined, tlsCiphersuites: undefined, tlsCertProfile: 'preferred' }),
      /:@SECLEVEL=2:TLS_/,
    );
  });

  it('opensslCipherName agrees with `openssl ciphers -stdname` for every certificate-based suite', () => {
    const out = ossl(dir, 'ciphers', '-stdname', 'ALL:@SECLEVEL=0');
    let n = 0;
    for (const line of out.split('\n')) {
      const [iana, , openssl] = line.trim().split(/\s+/);
      if (
        !/^TLS_(ECDHE_ECDSA|ECDHE_RSA|DHE_RSA|DHE_DSS|RSA)_WITH_(AES|CAMELLIA|ARIA|CHACHA20)/.test(iana ?? '')
      )
        continue;
      // OpenVPN writes them with dashes
      assert.equal(opensslCipherName(iana.replace(/_/g, '-')), openssl, iana);
      n++;
    }
    assert.ok(n > 40, `only ${n} suites checked`);
    assert.equal(opensslCipherName('ECDHE-RSA-AES256-GCM-SHA384'), 'ECDHE-RSA-AES256-GCM-SHA384');
    assert.equal(opensslCipherName('!aNULL'), '!aNULL');
  });
});
