/**
 * The server's client-certificate checks (src/openvpn/server/client-cert-check.ts) on certificates
 * made by `openssl` at test time: verify-client-cert none/optional/require, remote-cert-tls client,
 * the CRL file re-read when it changes (and not otherwise), the CRL directory, tls-verify per depth.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import {
  type ClientCertConfig,
  type ClientCertVerdict,
  CrlFile,
  checkClientChain,
  clientCertTlsOptions,
  clientCheckOptions,
  crlDirChecker,
  crlVerifier,
  peerChainDer,
  runTlsVerify,
} from '../../../../src/openvpn/server/client-cert-check.js';
import { der, issue, makeCa, makeCrl, opensslSubject, ossl } from '../../../support/pki.js';
import { FakeRunner } from './fakes.js';

const BASE: ClientCertConfig = {
  verifyClientCert: 'require',
  remoteCertTls: 'client',
  remoteCertKu: undefined,
  remoteCertEku: undefined,
  nsCertType: undefined,
  verifyX509Name: undefined,
};
const NO_CRL = { crls: undefined, crlDirHas: undefined };

describe('client certificate checks', () => {
  let dir: string;
  let client: Buffer;
  let server: Buffer;
  let other: Buffer;
  let ca: Buffer;
  // a minute ahead: the certificates and CRLs made during the tests are already valid then
  const now = new Date(Date.now() + 60_000);
  const log = () => {};

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sa-cert-'));
    makeCa(dir, 'ca', '/CN=Test CA');
    client = issue(dir, 'client', {
      subj: '/O=Acme/CN=alice',
      ext: ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'],
    });
    other = issue(dir, 'other', {
      subj: '/O=Acme/CN=bob',
      ext: ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'],
    });
    server = issue(dir, 'server', {
      subj: '/CN=vpn.example',
      ext: [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
      ],
    });
    ca = der(dir, 'ca.crt');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('what node:tls is told: ask unless none, never reject on its own', () => {
    assert.deepEqual(clientCertTlsOptions('none'), { requestCert: false, rejectUnauthorized: false });
    assert.deepEqual(clientCertTlsOptions('optional'), { requestCert: true, rejectUnauthorized: false });
    assert.deepEqual(clientCertTlsOptions('require'), { requestCert: true, rejectUnauthorized: false });
  });

  it('remote-cert-tls client: a client certificate passes with its CN, a server certificate does not', () => {
    const checks = clientCheckOptions(BASE, NO_CRL);
    assert.equal(checks.remoteCertKu, 'required');
    assert.equal(checks.remoteCertEku, 'TLS Web Client Authentication');
    assert.deepEqual(checkClientChain([client, ca], undefined, 'require', checks, now, log), {
      ok: true,
      commonName: 'alice',
      chain: [client, ca],
    });
    const bad = checkClientChain([server, ca], undefined, 'require', checks, now, log);
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.reason, /VERIFY EKU ERROR/);
  });

  it('a chain error from node:tls refuses the client', () => {
    const v = checkClientChain(
      [client],
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'require',
      clientCheckOptions(BASE, NO_CRL),
      now,
      log,
    );
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /unable to get local issuer certificate/);
  });

  it('verify-client-cert: require needs a certificate, optional takes none but checks one, none ignores it', () => {
    const checks = clientCheckOptions(BASE, NO_CRL);
    assert.equal(checkClientChain([], undefined, 'require', checks, now, log).ok, false);
    assert.deepEqual(checkClientChain([], undefined, 'optional', checks, now, log), {
      ok: true,
      commonName: undefined,
      chain: [],
    });
    assert.equal(checkClientChain([server, ca], undefined, 'optional', checks, now, log).ok, false);
    assert.deepEqual(checkClientChain([server, ca], 'CERT_HAS_EXPIRED', 'none', checks, now, log), {
      ok: true,
      commonName: undefined,
      chain: [],
    });
  });

  it('crl-verify FILE: re-read when the file changes (size or mtime), not otherwise', () => {
    const path = join(dir, 'crl.pem');
    makeCrl(dir, 'crl.pem', []);
    let reads = 0;
    const fs = {
      stat: (p: string) => statSync(p),
      read: (p: string) => {
        reads++;
        return readFileSync(p);
      },
    };
    const file = new CrlFile(path, log, fs);
    const check = () =>
      checkClientChain(
        [client, ca],
        undefined,
        'require',
        clientCheckOptions(BASE, { crls: file.current(), crlDirHas: undefined }),
        now,
        log,
      );
    assert.equal(check().ok, true);
    assert.equal(check().ok, true);
    assert.equal(reads, 1, 'an unchanged file is not read again');
    makeCrl(dir, 'crl2.pem', ['client']);
    writeFileSync(path, readFileSync(join(dir, 'crl2.pem')));
    const t = new Date(Date.now() + 5000);
    utimesSync(path, t, t);
    const v = check();
    assert.equal(reads, 2);
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /certificate revoked/);
    assert.equal(
      checkClientChain(
        [other, ca],
        undefined,
        'require',
        clientCheckOptions(BASE, { crls: file.current(), crlDirHas: undefined }),
        now,
        log,
      ).ok,
      true,
      'only the revoked one',
    );
  });

  it('crl-verify FILE: a missing file is fatal at first, later the old CRLs stay; an unreadable CRL refuses everyone', () => {
    const path = join(dir, 'crl-gone.pem');
    assert.throws(() => new CrlFile(path).current(), /Failed to stat CRL file/);
    writeFileSync(path, makeCrl(dir, 'crl3.pem', ['client']));
    const warnings: string[] = [];
    const file = new CrlFile(path, (m) => warnings.push(m));
    assert.equal(file.current().length, 1);
    rmSync(path);
    assert.equal(file.current().length, 1);
    assert.match(warnings.join('\n'), /Failed to stat CRL file, not reloading CRL/);
    writeFileSync(path, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    const crls = file.current();
    assert.deepEqual(crls, []);
    const v = checkClientChain(
      [client, ca],
      undefined,
      'require',
      clientCheckOptions(BASE, { crls, crlDirHas: undefined }),
      now,
      log,
    );
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /CRL not loaded/);
  });

  it('crl-verify DIR dir: a file named after the decimal serial revokes, looked up at each check', () => {
    const crlDir = join(dir, 'crldir');
    mkdirSync(crlDir);
    const has = crlDirChecker(crlDir, existsSync);
    const checks = clientCheckOptions(BASE, { crls: undefined, crlDirHas: has });
    assert.equal(checkClientChain([client, ca], undefined, 'require', checks, now, log).ok, true);
    const serial = BigInt(
      `0x${ossl(dir, 'x509', '-in', 'client.crt', '-noout', '-serial')
        .trim()
        .replace(/^serial=/, '')}`,
    );
    writeFileSync(join(crlDir, serial.toString(10)), '');
    const v = checkClientChain([client, ca], undefined, 'require', checks, now, log);
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /is revoked/);
  });

  it('tls-verify: `cmd depth subject` root first, with the X509 variables down to that depth', async () => {
    const runner = new FakeRunner(undefined, (c) => ({
      exitCode: c.argv[1] === '0' && c.env.X509_0_CN === 'bob' ? 1 : 0,
    }));
    const logs: string[] = [];
    const ok = await runTlsVerify(
      '/etc/tv "x y"',
      [client, ca],
      { verb: '3' },
      { address: '192.0.2.8', port: 999 },
      { runner, log: (l) => logs.push(l) },
    );
    assert.equal(ok, true);
    assert.deepEqual(
      runner.calls.map((c) => c.argv),
      [
        ['/etc/tv', 'x y', '1', opensslSubject(dir, 'ca.crt')],
        ['/etc/tv', 'x y', '0', opensslSubject(dir, 'client.crt')],
      ],
    );
    assert.equal(runner.calls[0].env.X509_0_CN, undefined);
    assert.equal(runner.calls[0].env.X509_1_CN, 'Test CA');
    assert.equal(runner.calls[1].env.X509_0_CN, 'alice');
    assert.equal(runner.calls[0].env.common_name, undefined);
    assert.equal(runner.calls[1].env.common_name, 'alice', 'set at depth 0 before the script runs');
    assert.equal(runner.calls[1].env.script_type, 'tls-verify');
    assert.equal(runner.calls[1].env.untrusted_ip, '192.0.2.8');
    assert.equal(runner.calls[1].env.verb, '3');
    assert.equal(
      await runTlsVerify(
        '/etc/tv',
        [other, ca],
        {},
        { address: '192.0.2.8', port: 999 },
        { runner, log: (l) => logs.push(l) },
      ),
      false,
    );
    assert.match(logs.join('\n'), /VERIFY SCRIPT ERROR: depth=0, O=Acme, CN=bob/);
  });

  it('crlVerifier: the config forms (relative path, inline, dir, none)', () => {
    const text = makeCrl(dir, 'crl4.pem', ['client']);
    const fromFile = crlVerifier({ ref: { kind: 'path', path: 'crl4.pem', dir }, dir: false });
    assert.equal(fromFile().crls?.length, 1);
    const inline = crlVerifier({ ref: { kind: 'inline', text }, dir: false });
    const v = checkClientChain(
      [client, ca],
      undefined,
      'require',
      clientCheckOptions(BASE, inline()),
      now,
      log,
    );
    assert.match(v.ok ? '' : v.reason, /certificate revoked/);
    const d = crlVerifier({ ref: { kind: 'path', path: dir, dir: '/' }, dir: true })();
    assert.equal(d.crls, undefined);
    assert.equal(d.crlDirHas?.('crl4.pem'), true);
    assert.deepEqual(crlVerifier(undefined)(), { crls: undefined, crlDirHas: undefined });
    assert.throws(
      () => crlVerifier({ ref: { kind: 'path', path: 'missing.pem', dir }, dir: false }),
      /Failed to stat/,
    );
  });

  it('over node:tls: the chain as peerChainDer reads it, with and without a client certificate', async () => {
    const read = (f: string) => readFileSync(join(dir, f));
    const verdicts: ClientCertVerdict[] = [];
    const server = createServer({
      key: read('server.key'),
      cert: read('server.crt'),
      ca: [read('ca.crt')],
      ...clientCertTlsOptions('optional'),
    });
    server.on('secureConnection', (sock) => {
      const chain = peerChainDer(sock);
      const err = sock.authorized ? undefined : String(sock.authorizationError);
      verdicts.push(
        checkClientChain(
          chain,
          chain.length === 0 ? undefined : err,
          'optional',
          clientCheckOptions(BASE, NO_CRL),
          now,
          log,
        ),
      );
      sock.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const dial = (opts: { key?: Buffer; cert?: Buffer }) =>
      new Promise<void>((resolve, reject) => {
        const c = connect({
          host: '127.0.0.1',
          port,
          ca: [read('ca.crt')],
          checkServerIdentity: () => undefined,
          ...opts,
        });
        c.on('error', reject);
        c.on('end', () => resolve());
        c.resume();
      });
    try {
      await dial({ key: read('client.key'), cert: read('client.crt') });
      await dial({});
      await dial({ key: read('server.key'), cert: read('server.crt') });
    } finally {
      server.close();
    }
    assert.equal(verdicts.length, 3);
    assert.equal(verdicts[0].ok && verdicts[0].commonName, 'alice');
    assert.equal(verdicts[0].ok && verdicts[0].chain.length, 2, 'the client certificate and the CA');
    assert.deepEqual(verdicts[1], { ok: true, commonName: undefined, chain: [] });
    assert.equal(verdicts[2].ok, false, 'a server certificate is no client certificate');
  });
});
