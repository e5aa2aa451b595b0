/**
 * The server certificate checks (src/openvpn/cert-checks.ts) on certificates made by `openssl` at
 * test time: subject string format against OpenSSL's own printing with OpenVPN's flags,
 * verify-x509-name in its three forms, remote-cert-tls / remote-cert-ku / remote-cert-eku,
 * ns-cert-type, peer-fingerprint, CRLs (revoked, expired, forged, missing), the CN requirement.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkServerChain,
  parseCertificate,
  parseCrlPem,
  type ServerCheckOptions,
} from '../../../src/openvpn/cert-checks.js';
import { clientMessageLevel, LOG_HANDSHAKE } from '../../../src/openvpn/log.js';
import { der, fingerprint, issue, makeCa, makeCrl, opensslSubject } from '../../support/pki.js';

const NONE: ServerCheckOptions = {
  remoteCertKu: undefined,
  remoteCertEku: undefined,
  nsCertType: undefined,
  verifyX509Name: undefined,
  peerFingerprints: [],
  fingerprintOnly: false,
  crls: undefined,
  crlDirHas: undefined,
};
/** What `remote-cert-tls server` sets (options.c). */
const REMOTE_CERT_TLS_SERVER: Partial<ServerCheckOptions> = {
  remoteCertKu: 'required',
  remoteCertEku: 'TLS Web Server Authentication',
};
const SERVER_EXT = [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
];

describe('server certificate checks (cert-checks.ts)', () => {
  let dir: string;
  let ca: Buffer;
  let srv: Buffer;
  const check = (leaf: Buffer, o: Partial<ServerCheckOptions>, now?: Date, chainError?: string) =>
    checkServerChain([leaf, ca], chainError, { ...NONE, ...o }, now);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ovka-unit-'));
    makeCa(dir, 'ca', '/CN=ovka-ca');
    ca = der(dir, 'ca.crt');
    srv = issue(dir, 'srv', {
      subj: '/C=DE/ST=Berlin/O=Acme GmbH/OU=VPN/CN=vpn.example.org',
      ext: SERVER_EXT,
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the subject as OpenVPN does (X509_NAME_print_ex with its flags), for odd names too', () => {
    assert.equal(parseCertificate(srv).subject, 'C=DE, ST=Berlin, O=Acme GmbH, OU=VPN, CN=vpn.example.org');
    assert.equal(parseCertificate(srv).subject, opensslSubject(dir, 'srv.crt'));
    const cases: [string, string, string[]][] = [
      ['multi', '/O=A, Inc./OU=x+OU=y/CN=a+CN=b', []],
      ['email', '/CN=srv/emailAddress=ops@example.org/DC=example/DC=org/L=Köln', ['-utf8']],
      ['unicode', '/O=Zürich €/CN=ünï', ['-utf8']],
      ['leading', '/CN=-dash', []],
      ['oid', '/1.2.3.4=custom/CN=x', []],
      ['ctrl', '/O=tab\there\u007fdel/CN=x', []],
    ];
    for (const [name, subj, reqArgs] of cases) {
      const d = issue(dir, name, { subj, ext: SERVER_EXT, reqArgs });
      const expected = opensslSubject(dir, `${name}.crt`);
      assert.equal(parseCertificate(d).subject, expected, subj);
    }
    // the subject starts with a field name, so OpenVPN's leading-dash rule never bites there
    assert.equal(parseCertificate(der(dir, 'leading.crt')).subject, 'CN=-dash');
    assert.equal(parseCertificate(der(dir, 'multi.crt')).commonName, 'b');
    assert.equal(parseCertificate(der(dir, 'ctrl.crt')).subject, 'O=tab\\09here\\7Fdel, CN=x');
  });

  it('verify-x509-name: subject (whole string), name (CN exact), name-prefix (CN prefix)', () => {
    const subject = 'C=DE, ST=Berlin, O=Acme GmbH, OU=VPN, CN=vpn.example.org';
    assert.equal(check(srv, { verifyX509Name: { name: subject, type: 'subject' } }), undefined);
    assert.equal(
      check(srv, { verifyX509Name: { name: 'CN=vpn.example.org', type: 'subject' } }),
      `VERIFY X509NAME ERROR: ${subject}, must be CN=vpn.example.org`,
    );
    assert.equal(check(srv, { verifyX509Name: { name: 'vpn.example.org', type: 'name' } }), undefined);
    assert.equal(
      check(srv, { verifyX509Name: { name: 'vpn.example', type: 'name' } }),
      `VERIFY X509NAME ERROR: ${subject}, must be vpn.example`,
    );
    assert.equal(check(srv, { verifyX509Name: { name: 'vpn.', type: 'name-prefix' } }), undefined);
    assert.equal(
      check(srv, { verifyX509Name: { name: 'vpn2', type: 'name-prefix' } }),
      `VERIFY X509NAME ERROR: ${subject}, must be vpn2`,
    );
  });

  it('remote-cert-tls server: key usage present and the serverAuth EKU', () => {
    assert.equal(check(srv, REMOTE_CERT_TLS_SERVER), undefined);
    const noEku = issue(dir, 'noeku', { subj: '/CN=noeku', ext: ['keyUsage=digitalSignature'] });
    assert.match(
      check(noEku, REMOTE_CERT_TLS_SERVER) ?? '',
      /^VERIFY EKU ERROR: .*does not have the extended key usage/,
    );
    const client = issue(dir, 'cli', {
      subj: '/CN=cli',
      ext: ['keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'],
    });
    assert.equal(
      check(client, REMOTE_CERT_TLS_SERVER),
      'VERIFY EKU ERROR: the certificate has extended key usage TLS Web Client Authentication, expected TLS Web Server Authentication',
    );
    const noKu = issue(dir, 'noku', { subj: '/CN=noku', ext: ['extendedKeyUsage=serverAuth'] });
    assert.match(
      check(noKu, REMOTE_CERT_TLS_SERVER) ?? '',
      /^VERIFY KU ERROR: .*does not have the key usage extension/,
    );
    // and the OID form of remote-cert-eku
    assert.equal(check(srv, { remoteCertEku: '1.3.6.1.5.5.7.3.1' }), undefined);
    assert.match(check(client, { remoteCertEku: '1.3.6.1.5.5.7.3.1' }) ?? '', /^VERIFY EKU ERROR/);
  });

  it('logs the VERIFY ... OK lines OpenVPN logs for what passed, root first, at its handshake level', () => {
    const lines: string[] = [];
    const subject = 'C=DE, ST=Berlin, O=Acme GmbH, OU=VPN, CN=vpn.example.org';
    const o = {
      ...NONE,
      ...REMOTE_CERT_TLS_SERVER,
      verifyX509Name: { name: 'vpn.example.org', type: 'name' as const },
    };
    assert.equal(
      checkServerChain([srv, ca], undefined, o, new Date(), (m) => lines.push(m)),
      undefined,
    );
    assert.deepEqual(lines, [
      'VERIFY OK: depth=1, CN=ovka-ca',
      'VERIFY KU OK',
      'VERIFY EKU OK',
      `VERIFY X509NAME OK: ${subject}`,
      `VERIFY OK: depth=0, ${subject}`,
    ]);
    assert.equal(clientMessageLevel(lines[0]), LOG_HANDSHAKE);
  });

  it('remote-cert-ku with values: one of them must be wholly present (x509_verify_cert_ku)', () => {
    // digitalSignature | keyEncipherment = 0x80 | 0x20
    assert.equal(check(srv, { remoteCertKu: [0xa0] }), undefined);
    assert.equal(check(srv, { remoteCertKu: [0x88, 0x80] }), undefined);
    assert.equal(
      check(srv, { remoteCertKu: [0x88, 0x08] }),
      'VERIFY KU ERROR: the certificate has key usage 00a0, expected one of: 0088 0008',
    );
  });

  it('ns-cert-type server: X509_check_purpose, or the Netscape type bit', () => {
    assert.equal(check(srv, { nsCertType: 'server' }), undefined);
    const client = der(dir, 'cli.crt');
    assert.equal(
      check(client, { nsCertType: 'server' }),
      'VERIFY nsCertType ERROR: CN=cli, require nsCertType=SERVER',
    );
    const ns = issue(dir, 'ns', { subj: '/CN=ns', ext: ['nsCertType=server'] });
    assert.equal(check(ns, { nsCertType: 'server' }), undefined);
    assert.match(check(ns, { nsCertType: 'client' }) ?? '', /require nsCertType=CLIENT/);
  });

  it('peer-fingerprint: the server certificate SHA-256 must be one of the list', () => {
    const fp = Buffer.from(fingerprint(dir, 'srv.crt').replace(/:/g, ''), 'hex');
    const other = Buffer.alloc(32, 7);
    assert.equal(check(srv, { peerFingerprints: [other, fp] }), undefined);
    assert.equal(
      check(srv, { peerFingerprints: [other] }),
      `TLS Error: --tls-verify/--peer-fingerprint certificate hash verification failed. (got certificate fingerprint: ${fingerprint(dir, 'srv.crt')})`,
    );
    // without a CA the chain's verdict does not count (verify_hash_no_ca), the fingerprint does
    const self = checkServerChain([srv], 'DEPTH_ZERO_SELF_SIGNED_CERT', {
      ...NONE,
      peerFingerprints: [fp],
      fingerprintOnly: true,
    });
    assert.equal(self, undefined);
    const selfBad = checkServerChain([srv], 'DEPTH_ZERO_SELF_SIGNED_CERT', {
      ...NONE,
      peerFingerprints: [other],
      fingerprintOnly: true,
    });
    assert.match(selfBad ?? '', /certificate hash verification failed/);
    // with a CA, a chain error is still an error
    assert.equal(
      check(srv, { peerFingerprints: [fp] }, undefined, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'),
      `VERIFY ERROR: error=unable to get local issuer certificate: ${parseCertificate(srv).subject}, serial=${parseCertificate(srv).serial}`,
    );
  });

  it('crl-verify: a revoked server certificate is refused; an expired or forged CRL too; no CRL for a CA is only a warning', () => {
    const ok = issue(dir, 'ok', { subj: '/CN=ok', ext: SERVER_EXT });
    const crls = parseCrlPem(makeCrl(dir, 'crl.pem', ['srv']));
    assert.equal(crls.length, 1);
    assert.equal(check(ok, { crls }), undefined);
    const revoked = check(srv, { crls });
    assert.equal(
      revoked,
      `VERIFY ERROR: depth=0, error=certificate revoked: ${parseCertificate(srv).subject}, serial=${parseCertificate(srv).serial}`,
    );
    // a day and more later the CRL (one day) has expired: OpenSSL refuses every certificate then
    const later = new Date(Date.now() + 36 * 3600_000);
    assert.match(
      check(ok, { crls }, later) ?? '',
      /^VERIFY ERROR: depth=1, error=CRL has expired: CN=ovka-ca/,
    );
    // a CRL of another CA with the same name does not verify
    const other = mkdtempSync(join(tmpdir(), 'ovka-unit2-'));
    try {
      makeCa(other, 'ca', '/CN=ovka-ca');
      const forged = parseCrlPem(makeCrl(other, 'crl.pem', []));
      assert.match(check(ok, { crls: forged }) ?? '', /error=CRL signature failure/);
      // a CRL from an unrelated CA name: nothing covers this chain, which is accepted (VERIFY WARNING)
      makeCa(other, 'ca2', '/CN=someone-else');
      assert.equal(check(srv, { crls: parseCrlPem(makeCrl(other, 'crl2.pem', [], 'ca2')) }), undefined);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    assert.equal(check(ok, { crls: [] }), 'VERIFY ERROR: CRL not loaded');
  });

  it('crl-verify DIR dir: a file named by the decimal serial revokes', () => {
    const serial = parseCertificate(srv).serial.toString(10);
    assert.match(
      check(srv, { crlDirHas: (s) => s === serial }) ?? '',
      new RegExp(`^VERIFY CRL: depth=0, .*CN=vpn.example.org, serial=${serial} is revoked$`),
    );
    assert.equal(check(srv, { crlDirHas: () => false }), undefined);
  });

  it('a server certificate without a CN, or with one longer than 64 bytes, is refused', () => {
    const noCn = issue(dir, 'nocn', { subj: '/O=NoName', ext: SERVER_EXT });
    assert.match(
      check(noCn, {}) ?? '',
      /^VERIFY ERROR: could not extract CN from X509 subject string \('O=NoName'\)/,
    );
    const long = issue(dir, 'long', { subj: `/CN=${'a'.repeat(64)}`, ext: SERVER_EXT });
    assert.equal(check(long, {}), undefined);
    const tooLong = issue(dir, 'toolong', {
      subj: `/O=x/CN=${'a'.repeat(60)}é`,
      ext: SERVER_EXT,
      reqArgs: ['-utf8'],
    });
    assert.equal(Buffer.byteLength(parseCertificate(tooLong).commonName ?? '', 'utf8'), 62);
    const tooLong2 = issue(dir, 'toolong2', {
      subj: `/CN=${'a'.repeat(63)}é`,
      ext: SERVER_EXT,
      reqArgs: ['-utf8'],
    });
    assert.match(check(tooLong2, {}) ?? '', /could not extract CN/);
  });

  it('a chain error from node:tls is refused with OpenSSL wording; a missing CRL alone is not', () => {
    assert.match(
      check(srv, {}, undefined, 'CERT_HAS_EXPIRED') ?? '',
      /^VERIFY ERROR: error=certificate has expired: /,
    );
    assert.equal(check(srv, {}, undefined, 'UNABLE_TO_GET_CRL'), undefined);
    assert.match(checkServerChain([Buffer.from('nonsense')], undefined, NONE) ?? '', /cannot parse/);
  });
});
