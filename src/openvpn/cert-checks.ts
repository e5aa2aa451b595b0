/**
 * The checks an OpenVPN 2.6 client makes on the server's certificate chain, as pure functions over
 * DER (ssl_verify_openssl.c verify_callback; ssl_verify.c verify_cert and verify_peer_cert;
 * ssl_verify_openssl.c x509_get_subject, x509_verify_ns_cert_type, x509_verify_cert_ku,
 * x509_verify_cert_eku). The chain itself (signatures, validity, trust) is node:tls's verdict; the
 * CRL (`crl-verify`) is checked here, because node:tls reports only its last verification error and
 * OpenVPN ignores "unable to get certificate CRL", which could then hide an earlier one.
 *
 * Order, as OpenVPN's verify callback meets them: a chain error; then for each certificate from the
 * root down to the server's: the CRL, a common name at depth 0, `peer-fingerprint` at depth 0,
 * `ns-cert-type`, `remote-cert-ku`, `remote-cert-eku`, `verify-x509-name` at depth 0; then
 * `crl-verify dir`. The first failure is the answer, worded as OpenVPN logs it.
 */
import { createHash, verify as cryptoVerify, timingSafeEqual, X509Certificate } from 'node:crypto';
import {
  bitStringBytes,
  children,
  content,
  DerError,
  encoding,
  expect,
  integer,
  oidString,
  readTlv,
  TAG,
  type Tlv,
  time,
} from './der.js';

/** A certificate check failed: the message says which and why. */
export class ServerCheckError extends Error {
  override name = 'ServerCheckError';
}

/** ssl_verify.h TLS_USERNAME_LEN: the longest common name OpenVPN accepts. */
const CN_MAX_BYTES = 64;
/** ssl_verify.h MAX_CERT_DEPTH. */
const MAX_CERT_DEPTH = 16;

const OID = {
  CN: '2.5.4.3',
  KEY_USAGE: '2.5.29.15',
  EXT_KEY_USAGE: '2.5.29.37',
  NS_CERT_TYPE: '2.16.840.1.113730.1.1',
  SERVER_AUTH: '1.3.6.1.5.5.7.3.1',
  CLIENT_AUTH: '1.3.6.1.5.5.7.3.2',
  NS_SGC: '2.16.840.1.113730.4.1',
  MS_SGC: '1.3.6.1.4.1.311.10.3.3',
  CRL_ISSUING_DP: '2.5.29.28',
  CRL_DELTA: '2.5.29.27',
  AUTHORITY_KEY_ID: '2.5.29.35',
  CRL_NUMBER: '2.5.29.20',
  CRL_REASON: '2.5.29.21',
  CERTIFICATE_ISSUER: '2.5.29.29',
  INVALIDITY_DATE: '2.5.29.24',
} as const;

/** OpenSSL's short names of name attributes (XN_FLAG_FN_SN); others print as dotted OIDs. */
const ATTR_SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

/** OpenSSL's long names of extended key usages: `remote-cert-eku` may name them so. */
const EKU_LONG_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'TLS Web Server Authentication',
  '1.3.6.1.5.5.7.3.2': 'TLS Web Client Authentication',
  '1.3.6.1.5.5.7.3.3': 'Code Signing',
  '1.3.6.1.5.5.7.3.4': 'E-mail Protection',
  '1.3.6.1.5.5.7.3.5': 'IPSec End System',
  '1.3.6.1.5.5.7.3.6': 'IPSec Tunnel',
  '1.3.6.1.5.5.7.3.7': 'IPSec User',
  '1.3.6.1.5.5.7.3.8': 'Time Stamping',
  '1.3.6.1.5.5.7.3.9': 'OCSP Signing',
  '1.3.6.1.5.5.7.3.17': 'ipsec Internet Key Exchange',
  '2.5.29.37.0': 'Any Extended Key Usage',
  '1.3.6.1.4.1.311.20.2.2': 'Microsoft Smartcard Login',
  '1.3.6.1.4.1.311.10.3.3': 'Microsoft Server Gated Crypto',
  '2.16.840.1.113730.4.1': 'Netscape Server Gated Crypto',
};

/** What the checks need of one certificate. */
export interface CertInfo {
  der: Uint8Array;
  serial: bigint;
  /** DER of the issuer and subject Names. */
  issuer: Uint8Array;
  subjectName: Uint8Array;
  /** The subject as OpenVPN prints and compares it (x509_get_subject, then its character remap). */
  subject: string;
  /** The last CN of the subject, UTF-8, as extract_x509_field_ssl reads it; undefined when absent. */
  commonName: string | undefined;
  /** Key usage bits 0-7 as x509_verify_cert_ku builds them (digitalSignature = 0x80); undefined without the extension. */
  keyUsage: number | undefined;
  /** Extended key usage OIDs; undefined without the extension. */
  extKeyUsage: string[] | undefined;
  /** First octet of the Netscape certificate type bits; undefined without the extension. */
  nsCertType: number | undefined;
}

/** A string attribute value as UTF-8 text (ASN1_STRFLGS_UTF8_CONVERT). */
function stringValue(buf: Uint8Array, t: Tlv): string {
  const b = Buffer.from(content(buf, t));
  switch (t.tag) {
    case TAG.UTF8_STRING:
      return b.toString('utf8');
    case TAG.BMP_STRING: {
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i));
      return s;
    }
    case TAG.UNIVERSAL_STRING: {
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) {
        const cp = b.readUInt32BE(i);
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      }
      return s;
    }
    default:
      // PrintableString, IA5String, T61String (read as Latin-1 by OpenSSL), and the rest
      return b.toString('latin1');
  }
}

/** ASN1_STRFLGS_ESC_CTRL: control characters (below 32, and DEL) as `\XX`. */
function escapeControls(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c === 0x7f ? `\\${c.toString(16).toUpperCase().padStart(2, '0')}` : ch;
  }
  return out;
}

/** ssl_verify.c string_mod_remap_name: what is not printable (below 32, and DEL) becomes `_`. */
function remapName(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c === 0x7f ? '_' : ch;
  }
  return out;
}

/**
 * The subject as X509_NAME_print_ex prints it with OpenVPN's flags (XN_FLAG_SEP_CPLUS_SPC,
 * XN_FLAG_FN_SN, UTF-8 conversion, control escapes): `C=DE, O=Acme, CN=vpn` in certificate order,
 * ` + ` inside a multi-valued RDN; then verify_cert's remap and leading `-` to `_`.
 */
function subjectString(buf: Uint8Array, name: Tlv): string {
  const rdns: string[] = [];
  for (const rdn of children(buf, name)) {
    expect(rdn, TAG.SET, 'RDN');
    const parts: string[] = [];
    for (const atv of children(buf, rdn)) {
      const [type, value] = children(buf, expect(atv, TAG.SEQUENCE, 'attribute'));
      const oid = oidString(content(buf, expect(type, TAG.OID, 'attribute type')));
      if (value === undefined) throw new DerError('attribute without a value');
      parts.push(`${ATTR_SHORT_NAMES[oid] ?? oid}=${escapeControls(stringValue(buf, value))}`);
    }
    rdns.push(parts.join(' + '));
  }
  return remapName(rdns.join(', ')).replace(/^-+/, (m) => '_'.repeat(m.length));
}

/** extract_x509_field_ssl for CN: the last one; C string semantics end it at a NUL. */
function lastCommonName(buf: Uint8Array, name: Tlv): string | undefined {
  let cn: string | undefined;
  for (const rdn of children(buf, name)) {
    for (const atv of children(buf, rdn)) {
      const [type, value] = children(buf, atv);
      if (type !== undefined && value !== undefined && oidString(content(buf, type)) === OID.CN) {
        cn = stringValue(buf, value);
      }
    }
  }
  if (cn === undefined) return undefined;
  const nul = cn.indexOf('\0');
  return nul < 0 ? cn : cn.slice(0, nul);
}

/** One attribute of a subject name, in certificate order. */
export interface NameAttribute {
  /** Dotted OID. */
  oid: string;
  /** OpenSSL's short name (`CN`, `O`, `emailAddress`...); undefined for an OID OpenSSL has no name for here. */
  shortName: string | undefined;
  /** The value as UTF-8 text (ASN1_STRING_to_UTF8), unescaped. */
  value: string;
}

/** Every attribute of a DER certificate's subject, in order (what x509_setenv walks). Throws DerError. */
export function subjectAttributes(der: Uint8Array): NameAttribute[] {
  const cert = readTlv(der, 0);
  if (cert.tag !== TAG.SEQUENCE || cert.end !== der.length) throw new DerError('not a DER certificate');
  const [tbs] = children(der, cert);
  const f = children(der, expect(tbs, TAG.SEQUENCE, 'tbsCertificate'));
  const i = f[0]?.tag === 0xa0 ? 1 : 0;
  const subject = expect(f[i + 4], TAG.SEQUENCE, 'subject');
  const out: NameAttribute[] = [];
  for (const rdn of children(der, subject)) {
    for (const atv of children(der, expect(rdn, TAG.SET, 'RDN'))) {
      const [type, value] = children(der, expect(atv, TAG.SEQUENCE, 'attribute'));
      const oid = oidString(content(der, expect(type, TAG.OID, 'attribute type')));
      if (value === undefined) throw new DerError('attribute without a value');
      out.push({ oid, shortName: ATTR_SHORT_NAMES[oid], value: stringValue(der, value) });
    }
  }
  return out;
}

/** Parses what the checks need from a DER certificate. Throws DerError on malformed input. */
export function parseCertificate(der: Uint8Array): CertInfo {
  const cert = readTlv(der, 0);
  if (cert.tag !== TAG.SEQUENCE || cert.end !== der.length) throw new DerError('not a DER certificate');
  const [tbs] = children(der, cert);
  const f = children(der, expect(tbs, TAG.SEQUENCE, 'tbsCertificate'));
  let i = 0;
  if (f[0]?.tag === 0xa0) i++; // [0] version
  const serial = integer(content(der, expect(f[i], TAG.INTEGER, 'serialNumber')));
  const issuer = expect(f[i + 2], TAG.SEQUENCE, 'issuer');
  const subject = expect(f[i + 4], TAG.SEQUENCE, 'subject');
  let keyUsage: number | undefined;
  let extKeyUsage: string[] | undefined;
  let nsCertType: number | undefined;
  for (const t of f.slice(i + 6)) {
    if (t.tag !== 0xa3) continue; // [3] extensions
    const [exts] = children(der, t);
    for (const ext of children(der, expect(exts, TAG.SEQUENCE, 'extensions'))) {
      const parts = children(der, expect(ext, TAG.SEQUENCE, 'extension'));
      const oid = oidString(content(der, expect(parts[0], TAG.OID, 'extnID')));
      const value = expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue');
      const inner = readTlv(der, value.start, value.end);
      if (oid === OID.KEY_USAGE) {
        const bits = bitStringBytes(content(der, expect(inner, TAG.BIT_STRING, 'keyUsage')));
        keyUsage = bits.length > 0 ? bits[0] : 0;
      } else if (oid === OID.EXT_KEY_USAGE) {
        extKeyUsage = children(der, expect(inner, TAG.SEQUENCE, 'extKeyUsage')).map((o) =>
          oidString(content(der, expect(o, TAG.OID, 'KeyPurposeId'))),
        );
      } else if (oid === OID.NS_CERT_TYPE) {
        const bits = bitStringBytes(content(der, expect(inner, TAG.BIT_STRING, 'nsCertType')));
        nsCertType = bits.length > 0 ? bits[0] : 0;
      }
    }
  }
  return {
    der,
    serial,
    issuer: encoding(der, issuer),
    subjectName: encoding(der, subject),
    subject: subjectString(der, subject),
    commonName: lastCommonName(der, subject),
    keyUsage,
    extKeyUsage,
    nsCertType,
  };
}

/** `AB:CD:...` as OpenVPN prints hashes (format_hex_ex with `:`). */
export function colonHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase().match(/../g)?.join(':') ?? '';
}

/** The serial number as backend_x509_get_serial prints it (decimal). */
export function serialDecimal(serial: bigint): string {
  return serial.toString(10);
}

// ---------------------------------------------------------------------------------------------
// CRLs (crl-verify FILE)

/** One parsed CRL. */
export interface Crl {
  issuer: Uint8Array;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Serial numbers of revoked certificates. */
  revoked: Set<bigint>;
  /** A delta CRL: OpenSSL does not use those unless asked (X509_V_FLAG_USE_DELTAS). */
  delta: boolean;
  /** A critical extension OpenSSL does not handle (in the CRL or one of its entries). */
  unhandledCritical: boolean;
}

function parseExtensions(buf: Uint8Array, seq: Tlv): { oid: string; critical: boolean }[] {
  return children(buf, expect(seq, TAG.SEQUENCE, 'extensions')).map((ext) => {
    const parts = children(buf, expect(ext, TAG.SEQUENCE, 'extension'));
    const oid = oidString(content(buf, expect(parts[0], TAG.OID, 'extnID')));
    const critical = parts.length === 3 && parts[1].tag === TAG.BOOLEAN && buf[parts[1].start] !== 0;
    return { oid, critical };
  });
}

/** Parses one DER CRL (RFC 5280 §5.1). */
export function parseCrl(der: Uint8Array): Crl {
  const top = readTlv(der, 0);
  if (top.tag !== TAG.SEQUENCE || top.end !== der.length) throw new DerError('not a DER CRL');
  const [tbs, alg, sig] = children(der, top);
  const f = children(der, expect(tbs, TAG.SEQUENCE, 'tbsCertList'));
  let i = 0;
  if (f[0]?.tag === TAG.INTEGER) i++; // version
  const issuer = expect(f[i + 1], TAG.SEQUENCE, 'CRL issuer');
  const thisUpdate = time(der, f[i + 2]);
  let j = i + 3;
  let nextUpdate: Date | undefined;
  if (f[j] !== undefined && (f[j].tag === TAG.UTC_TIME || f[j].tag === TAG.GENERALIZED_TIME)) {
    nextUpdate = time(der, f[j]);
    j++;
  }
  const revoked = new Set<bigint>();
  let unhandledCritical = false;
  let delta = false;
  if (f[j] !== undefined && f[j].tag === TAG.SEQUENCE) {
    for (const entry of children(der, f[j])) {
      const e = children(der, expect(entry, TAG.SEQUENCE, 'revoked certificate'));
      revoked.add(integer(content(der, expect(e[0], TAG.INTEGER, 'userCertificate'))));
      if (e[2] !== undefined) {
        for (const x of parseExtensions(der, e[2])) {
          if (x.critical && x.oid !== OID.CERTIFICATE_ISSUER) unhandledCritical = true;
        }
      }
    }
    j++;
  }
  if (f[j] !== undefined && f[j].tag === 0xa0) {
    const [exts] = children(der, f[j]);
    for (const x of parseExtensions(der, exts)) {
      if (x.oid === OID.CRL_DELTA) delta = true;
      if (
        x.critical &&
        x.oid !== OID.CRL_ISSUING_DP &&
        x.oid !== OID.CRL_DELTA &&
        x.oid !== OID.AUTHORITY_KEY_ID
      )
        unhandledCritical = true;
    }
  }
  const [algOid] = children(der, expect(alg, TAG.SEQUENCE, 'signatureAlgorithm'));
  return {
    issuer: encoding(der, issuer),
    tbs: encoding(der, tbs),
    signatureAlgorithm: oidString(content(der, expect(algOid, TAG.OID, 'algorithm'))),
    signature: bitStringBytes(content(der, expect(sig, TAG.BIT_STRING, 'signature'))),
    thisUpdate,
    nextUpdate,
    revoked,
    delta,
    unhandledCritical,
  };
}

/** Every CRL in a PEM text (`-----BEGIN X509 CRL-----`), as backend_tls_ctx_reload_crl reads them. */
export function parseCrlPem(text: string): Crl[] {
  const out: Crl[] = [];
  const re = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(parseCrl(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')));
  }
  return out;
}

/** Digest of a signature algorithm OID for crypto.verify; null for EdDSA; undefined if unknown. */
const SIG_DIGESTS: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

function crlSignatureOk(crl: Crl, issuerDer: Uint8Array): boolean {
  const digest = SIG_DIGESTS[crl.signatureAlgorithm];
  if (digest === undefined) return false;
  try {
    const key = new X509Certificate(issuerDer).publicKey;
    return cryptoVerify(digest, crl.tbs, key, crl.signature);
  } catch {
    return false;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * OpenSSL's CRL check of one certificate (X509_V_FLAG_CRL_CHECK with CRL_CHECK_ALL, as OpenVPN sets):
 * the error string, `unable to get certificate CRL` when no CRL covers it (OpenVPN only warns
 * then), or undefined when it is not revoked.
 */
function crlVerdict(
  cert: CertInfo,
  issuerDer: Uint8Array | undefined,
  crls: Crl[],
  now: Date,
): string | undefined {
  const mine = crls.filter((c) => !c.delta && sameBytes(c.issuer, cert.issuer));
  if (mine.length === 0 || issuerDer === undefined) return 'unable to get certificate CRL';
  const current = mine.filter(
    (c) => c.thisUpdate <= now && (c.nextUpdate === undefined || now <= c.nextUpdate),
  );
  if (current.length === 0) {
    return mine.some((c) => c.thisUpdate > now) &&
      !mine.some((c) => c.nextUpdate !== undefined && c.nextUpdate < now)
      ? 'CRL is not yet valid'
      : 'CRL has expired';
  }
  for (const c of current) {
    if (!crlSignatureOk(c, issuerDer)) return 'CRL signature failure';
    if (c.unhandledCritical) return 'unhandled critical CRL extension';
    if (c.revoked.has(cert.serial)) return 'certificate revoked';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The checks

export interface ServerCheckOptions {
  /** `remote-cert-ku` (`remote-cert-tls` sets `required`: the extension must be present). */
  remoteCertKu: number[] | 'required' | undefined;
  /** `remote-cert-eku`: an OID or OpenSSL's long name. */
  remoteCertEku: string | undefined;
  nsCertType: 'server' | 'client' | undefined;
  verifyX509Name: { name: string; type: 'subject' | 'name' | 'name-prefix' } | undefined;
  /** `peer-fingerprint`: SHA-256 digests of acceptable server certificates. */
  peerFingerprints: Buffer[];
  /** `peer-fingerprint` without `ca`/`capath`: the chain is not judged (verify_hash_no_ca). */
  fingerprintOnly: boolean;
  /** `crl-verify FILE`: its CRLs. */
  crls: Crl[] | undefined;
  /** `crl-verify DIR dir`: whether a file named by the decimal serial exists in DIR. */
  crlDirHas: ((serial: string) => boolean) | undefined;
}

/** X509_verify_cert_error_string for the codes node:tls reports in authorizationError. */
const CHAIN_ERRORS: Record<string, string> = {
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_CRL: 'unable to get certificate CRL',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: "unable to decrypt certificate's signature",
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'unable to decode issuer public key',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_HAS_EXPIRED: 'certificate has expired',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: "format error in certificate's notBefore field",
  ERROR_IN_CERT_NOT_AFTER_FIELD: "format error in certificate's notAfter field",
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  CERT_CHAIN_TOO_LONG: 'certificate chain too long',
  CERT_REVOKED: 'certificate revoked',
  INVALID_CA: 'invalid CA certificate',
  PATH_LENGTH_EXCEEDED: 'path length constraint exceeded',
  INVALID_PURPOSE: 'unsupported certificate purpose',
  CERT_UNTRUSTED: 'certificate not trusted',
  CERT_REJECTED: 'certificate rejected',
  EE_KEY_TOO_SMALL: 'EE certificate key too weak',
  CA_KEY_TOO_SMALL: 'CA certificate key too weak',
  CA_MD_TOO_WEAK: 'CA signature digest algorithm too weak',
};

/** X509_check_purpose for SSL server/client on a leaf, from the extensions it carries. */
function purposeOk(c: CertInfo, want: 'server' | 'client'): boolean {
  const xku = want === 'server' ? [OID.SERVER_AUTH, OID.NS_SGC, OID.MS_SGC] : [OID.CLIENT_AUTH];
  if (c.extKeyUsage !== undefined && !c.extKeyUsage.some((o) => xku.includes(o as never))) return false;
  const ns = want === 'server' ? 0x40 : 0x80;
  if (c.nsCertType !== undefined && (c.nsCertType & ns) === 0) return false;
  // digitalSignature | keyEncipherment | keyAgreement for a server; digitalSignature | keyAgreement for a client
  const ku = want === 'server' ? 0x80 | 0x20 | 0x08 : 0x80 | 0x08;
  if (c.keyUsage !== undefined && (c.keyUsage & ku) === 0) return false;
  return true;
}

/** verify_peer_cert: the leaf's ns-cert-type, key usage, extended key usage and name. */
function checkLeaf(c: CertInfo, o: ServerCheckOptions, log: (m: string) => void): string | undefined {
  if (o.nsCertType !== undefined) {
    const ok =
      purposeOk(c, o.nsCertType) ||
      (c.nsCertType !== undefined && (c.nsCertType & (o.nsCertType === 'server' ? 0x40 : 0x80)) !== 0);
    if (!ok) return `VERIFY nsCertType ERROR: ${c.subject}, require nsCertType=${o.nsCertType.toUpperCase()}`;
    log(`VERIFY OK: nsCertType=${o.nsCertType.toUpperCase()}`);
  }
  if (o.remoteCertKu !== undefined) {
    if (c.keyUsage === undefined)
      return 'VERIFY KU ERROR: the certificate does not have the key usage extension';
    if (o.remoteCertKu !== 'required') {
      const have = c.keyUsage;
      if (!o.remoteCertKu.some((e) => e !== 0 && (have & e) === e)) {
        const hex = (n: number) => n.toString(16).padStart(4, '0');
        return `VERIFY KU ERROR: the certificate has key usage ${hex(have)}, expected one of: ${o.remoteCertKu.map(hex).join(' ')}`;
      }
    }
    log('VERIFY KU OK');
  }
  if (o.remoteCertEku !== undefined) {
    const want = o.remoteCertEku;
    if (c.extKeyUsage === undefined) {
      return `VERIFY EKU ERROR: the certificate does not have the extended key usage extension (expected ${want})`;
    }
    if (!c.extKeyUsage.some((oid) => oid === want || EKU_LONG_NAMES[oid] === want)) {
      const have = c.extKeyUsage.map((oid) => EKU_LONG_NAMES[oid] ?? oid).join(', ');
      return `VERIFY EKU ERROR: the certificate has extended key usage ${have || '(none)'}, expected ${want}`;
    }
    log('VERIFY EKU OK');
  }
  const x = o.verifyX509Name;
  if (x !== undefined) {
    const cn = c.commonName === undefined ? '' : remapName(c.commonName);
    const ok =
      x.type === 'subject' ? c.subject === x.name : x.type === 'name' ? cn === x.name : cn.startsWith(x.name);
    if (!ok) return `VERIFY X509NAME ERROR: ${c.subject}, must be ${x.name}`;
    log(`VERIFY X509NAME OK: ${c.subject}`);
  }
  return undefined;
}

/**
 * Why the server's chain is refused, or undefined. `chain` is DER, the server's certificate first
 * and then each issuer up to the root, as node:tls verified it; `chainError` is node:tls's
 * authorizationError code (undefined when the chain verified). `log` gets the `VERIFY ... OK` lines
 * OpenVPN logs for what passed. A server checks its clients' chains with the same code (`peer`
 * 'client' only changes the wording; the options say what is required of the certificate).
 */
export function checkServerChain(
  chain: readonly Uint8Array[],
  chainError: string | undefined,
  o: ServerCheckOptions,
  now: Date = new Date(),
  log: (m: string) => void = () => {},
  peer: 'server' | 'client' = 'server',
): string | undefined {
  if (chain.length === 0) return `VERIFY ERROR: the ${peer} sent no certificate`;
  let certs: CertInfo[];
  try {
    certs = chain.map((d) => parseCertificate(d));
  } catch (e) {
    return `VERIFY ERROR: cannot parse the ${peer}'s certificate chain: ${(e as Error).message}`;
  }
  const leaf = certs[0];
  if (chainError !== undefined && !o.fingerprintOnly) {
    // verify_callback ignores a missing CRL; with crl-verify the CRLs are ours (node:tls has none)
    if (chainError !== 'UNABLE_TO_GET_CRL') {
      const why = CHAIN_ERRORS[chainError] ?? chainError;
      return `VERIFY ERROR: error=${why}: ${leaf.subject}, serial=${serialDecimal(leaf.serial)}`;
    }
  }
  if (certs.length > MAX_CERT_DEPTH) {
    return `TLS Error: Convoluted certificate chain detected with depth [${certs.length - 1}] greater than ${MAX_CERT_DEPTH}`;
  }
  for (let depth = certs.length - 1; depth >= 0; depth--) {
    const c = certs[depth];
    if (o.crls !== undefined && !o.fingerprintOnly) {
      const why = crlVerdict(
        c,
        chain[depth + 1] ?? (sameBytes(c.issuer, c.subjectName) ? c.der : undefined),
        o.crls,
        now,
      );
      if (why !== undefined && why !== 'unable to get certificate CRL') {
        return `VERIFY ERROR: depth=${depth}, error=${why}: ${c.subject}, serial=${serialDecimal(c.serial)}`;
      }
    }
    if (depth === 0) {
      const cn = c.commonName;
      if (cn === undefined || Buffer.byteLength(cn, 'utf8') > CN_MAX_BYTES) {
        return `VERIFY ERROR: could not extract CN from X509 subject string ('${c.subject}') -- note that the field length is limited to ${CN_MAX_BYTES} characters`;
      }
      if (o.peerFingerprints.length > 0) {
        const fp = createHash('sha256').update(c.der).digest();
        if (!o.peerFingerprints.some((h) => h.length === fp.length && timingSafeEqual(h, fp))) {
          return `TLS Error: --tls-verify/--peer-fingerprint certificate hash verification failed. (got certificate fingerprint: ${colonHex(fp)})`;
        }
      }
      const why = checkLeaf(c, o, log);
      if (why !== undefined) return why;
    }
    if (o.crls !== undefined && o.crls.length === 0) return 'VERIFY ERROR: CRL not loaded';
    if (o.crlDirHas?.(serialDecimal(c.serial))) {
      return `VERIFY CRL: depth=${depth}, ${c.subject}, serial=${serialDecimal(c.serial)} is revoked`;
    }
    log(`VERIFY OK: depth=${depth}, ${c.subject}`);
  }
  return undefined;
}
