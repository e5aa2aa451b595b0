/**
 * From the client options to what a TLS session needs: the node:tls secure context (CA, certificate
 * and key or PKCS#12, passphrase from `askpass`, TLS versions, cipher lists, groups, the security
 * level of `tls-cert-profile`) and the server checks of cert-checks.ts (with the CRLs read).
 * OpenVPN 2.6 ssl.c init_ssl and ssl_openssl.c tls_ctx_set_tls_versions, tls_ctx_restrict_ciphers,
 * tls_ctx_restrict_ciphers_tls13, tls_ctx_set_cert_profile, tls_ctx_set_tls_groups,
 * tls_ctx_load_pkcs12.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContext, type SecureVersion } from 'node:tls';
import type { ClientOptions, FileRef } from '../config/client-options.js';
import { type ReadFileFn, readFileRef } from '../config/load.js';
import { type Crl, parseCrlPem, type ServerCheckOptions } from './cert-checks.js';
import { promptAborted } from './connect-retry.js';

/** What every TLS session of one connection shares. */
export interface TlsConfig {
  secureContext: SecureContext;
  checks: ServerCheckOptions;
  minVersion: SecureVersion;
  maxVersion: SecureVersion | undefined;
  /** The directives given that narrow what the ClientHello offers (for failure messages). */
  restrictions: string[];
}

const TLS_VERSIONS: Record<string, SecureVersion> = {
  '1.0': 'TLSv1',
  '1.1': 'TLSv1.1',
  '1.2': 'TLSv1.2',
  '1.3': 'TLSv1.3',
};

/** tls_ctx_restrict_ciphers' list when `tls-cipher` is not given. */
export const OPENVPN_DEFAULT_TLS12_CIPHERS = 'DEFAULT:!EXP:!LOW:!MEDIUM:!kDH:!kECDH:!DSS:!PSK:!SRP:!kRSA';

/** tls_ctx_set_cert_profile: OpenSSL security levels; none given is `legacy`. */
const CERT_PROFILE_LEVEL: Record<string, number> = { insecure: 0, legacy: 1, preferred: 2, suiteb: 3 };

/**
 * The IANA names OpenVPN accepts in `tls-cipher` (`TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384`), turned
 * into OpenSSL's (`ECDHE-RSA-AES256-GCM-SHA384`) as tls_get_cipher_name_pair does, for the
 * certificate-based key exchanges (ECDHE-ECDSA, ECDHE-RSA, DHE-RSA, DHE-DSS, RSA) with AES, Camellia,
 * ARIA or ChaCha20-Poly1305. Anything else (OpenSSL names, `DEFAULT`, `!aNULL`, PSK suites) passes
 * unchanged, as OpenVPN passes a name it cannot translate.
 */
export function opensslCipherName(name: string): string {
  const m =
    /^TLS[-_](ECDHE[-_]ECDSA|ECDHE[-_]RSA|DHE[-_]RSA|DHE[-_]DSS|RSA)[-_]WITH[-_](AES|CAMELLIA|ARIA)[-_](128|256)[-_](GCM|CCM|CCM[-_]8|CBC)(?:[-_](SHA\d*))?$/i.exec(
      name,
    );
  if (m !== null) {
    let kx = m[1].toUpperCase().replace('_', '-');
    const alg = m[2].toUpperCase();
    const mode = m[4].toUpperCase().replace(/[-_]/, '');
    const mac = m[5]?.toUpperCase();
    if (kx === 'RSA') kx = '';
    else if (kx === 'ECDHE-RSA' && alg === 'ARIA') kx = 'ECDHE';
    const parts = [
      kx,
      `${alg}${m[3]}`,
      mode === 'CBC' ? '' : mode,
      mode.startsWith('CCM') ? '' : (mac ?? ''),
    ];
    return parts.filter((p) => p !== '').join('-');
  }
  const c =
    /^TLS[-_](ECDHE[-_]ECDSA|ECDHE[-_]RSA|DHE[-_]RSA)[-_]WITH[-_]CHACHA20[-_]POLY1305[-_]SHA256$/i.exec(name);
  if (c !== null) return `${c[1].toUpperCase().replace('_', '-')}-CHACHA20-POLY1305`;
  return name;
}

/** The `ciphers` string for node:tls: the TLS 1.2 list, the security level, then the TLS 1.3 suites. */
export function nodeCipherString(
  o: Pick<ClientOptions, 'tlsCipher' | 'tlsCiphersuites' | 'tlsCertProfile'>,
): string {
  const tls12 =
    o.tlsCipher !== undefined
      ? o.tlsCipher
          .split(':')
          .filter((c) => c !== '')
          .map(opensslCipherName)
          .join(':')
      : OPENVPN_DEFAULT_TLS12_CIPHERS;
  // convert_tls13_list_to_openssl: `-` becomes `_`
  const tls13 =
    o.tlsCiphersuites !== undefined
      ? o.tlsCiphersuites.replace(/-/g, '_')
      : DEFAULT_CIPHERS.split(':')
          .filter((c) => c.startsWith('TLS_'))
          .join(':');
  const level = CERT_PROFILE_LEVEL[o.tlsCertProfile ?? 'legacy'] ?? 1;
  // tls_ctx_set_cert_profile runs before tls_ctx_restrict_ciphers, so a @SECLEVEL in tls-cipher wins
  // (OpenSSL only reads DEFAULT first in the string, so ours cannot go in front)
  const seclevel = /@SECLEVEL=/i.test(tls12) ? '' : `:@SECLEVEL=${level}`;
  return `${tls12}${seclevel}:${tls13}`;
}

function directiveError(directive: string, why: string): Error {
  return new Error(`${directive}: ${why}`);
}

/** The CRLs of `crl-verify FILE` (undefined without one, or with `crl-verify DIR dir`). */
export async function loadCrlFile(o: ClientOptions, rf: ReadFileFn): Promise<Crl[] | undefined> {
  if (o.crlVerify === undefined || o.crlVerify.dir) return undefined;
  const text = Buffer.from(await readFileRef(o.crlVerify.ref, rf, 'crl-verify')).toString('latin1');
  try {
    return parseCrlPem(text);
  } catch (e) {
    throw directiveError('crl-verify', `cannot parse the CRL: ${(e as Error).message}`);
  }
}

/** A copy of secret bytes read from a file; the buffer read is zeroed. */
export function ownCopy(b: Uint8Array): Buffer {
  const c = Buffer.from(b);
  b.fill(0);
  return c;
}

/** `askpass FILE` reads its first line (misc.c get_user_pass with a password only). */
function firstLine(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Asks for the private key's password on the terminal, without echo. */
async function promptPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw directiveError(
      'askpass',
      'the private key is encrypted and there is no terminal to ask for its password on: give it in a file (askpass FILE)',
    );
  }
  let muted = false;
  const out = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output: out, terminal: true });
  try {
    return await askLine(rl, prompt, () => {
      muted = true;
    });
  } finally {
    muted = false;
    process.stderr.write('\n');
    rl.close();
  }
}

/** The part of a readline interface a prompt uses. */
export interface LineAsker {
  question(prompt: string, cb: (answer: string) => void): void;
  once(event: 'close' | 'SIGINT', cb: () => void): unknown;
}

/**
 * One answer from `rl`. Ctrl-C (readline's SIGINT, or its close when nothing listens for SIGINT) or
 * Ctrl-D (close) ends the prompt without an answer: a fatal error that ends the process as SIGINT
 * does, never a connect() that waits forever.
 */
export function askLine(rl: LineAsker, prompt: string, asked: () => void = () => {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let done = false;
    const abort = () => {
      if (done) return;
      done = true;
      reject(promptAborted('askpass'));
    };
    rl.once('SIGINT', abort);
    rl.once('close', abort);
    rl.question(prompt, (a) => {
      if (done) return;
      done = true;
      resolve(a);
    });
    asked();
  });
}

/**
 * The TLS material of one set of options, loaded once: the private key's password is asked once per
 * process (2.6 keeps the loaded key in its SSL context across restarts), and loaded again only for
 * new options (a SIGHUP re-read). Only the secure context is kept, not the key or password. A failed
 * load is not kept.
 */
export class TlsConfigCache {
  private options: ClientOptions | undefined;
  private value: Promise<TlsConfig> | undefined;

  constructor(private readonly loader: typeof loadTlsConfig = loadTlsConfig) {}

  async load(o: ClientOptions, rf: ReadFileFn): Promise<TlsConfig> {
    if (this.options !== o || this.value === undefined) {
      this.options = o;
      const v = this.loader(o, rf);
      this.value = v;
      v.catch(() => {
        if (this.value === v) this.value = undefined;
      });
      return v;
    }
    const kept = await this.value;
    // the CRL file is read again at each connection, so that a new CRL takes effect without SIGHUP
    if (o.crlVerify === undefined || o.crlVerify.dir) return kept;
    return { ...kept, checks: { ...kept.checks, crls: await loadCrlFile(o, rf) } };
  }
}

/**
 * Reads the files the TLS sessions need and builds their secure context. Throws with the directive's
 * name when something cannot be read or is refused by OpenSSL.
 */
export async function loadTlsConfig(o: ClientOptions, rf: ReadFileFn): Promise<TlsConfig> {
  if (o.capath !== undefined && o.ca === undefined) {
    throw directiveError('capath', 'not supported by ovpn-ts: give the CA certificates with ca');
  }
  const fingerprintOnly = o.ca === undefined && o.capath === undefined && o.peerFingerprints.length > 0;
  const ca = o.ca === undefined ? undefined : Buffer.from(await readFileRef(o.ca, rf, 'ca'));
  const cert = o.cert === undefined ? undefined : Buffer.from(await readFileRef(o.cert, rf, 'cert'));
  const key = o.key === undefined ? undefined : ownCopy(await readFileRef(o.key, rf, 'key'));
  const extra =
    o.extraCerts === undefined ? undefined : Buffer.from(await readFileRef(o.extraCerts, rf, 'extra-certs'));
  const pfx = o.pkcs12 === undefined ? undefined : await readPkcs12(o.pkcs12, rf);
  // the private key and PKCS#12 bytes are zeroed once OpenSSL has them (or the load failed)
  const secrets = [key, pfx];
  try {
    return await buildTlsConfig(o, rf, { ca, cert, extra, key, pfx, fingerprintOnly });
  } finally {
    for (const b of secrets) b?.fill(0);
  }
}

async function buildTlsConfig(
  o: ClientOptions,
  rf: ReadFileFn,
  m: {
    ca: Buffer | undefined;
    cert: Buffer | undefined;
    extra: Buffer | undefined;
    key: Buffer | undefined;
    pfx: Buffer | undefined;
    fingerprintOnly: boolean;
  },
): Promise<TlsConfig> {
  const { fingerprintOnly } = m;
  let crls: Crl[] | undefined;
  let crlDirHas: ((serial: string) => boolean) | undefined;
  if (o.crlVerify !== undefined) {
    const ref = o.crlVerify.ref;
    if (o.crlVerify.dir) {
      const dir = ref.kind === 'path' ? (isAbsolute(ref.path) ? ref.path : join(ref.dir, ref.path)) : '';
      if (!existsSync(dir)) throw directiveError('crl-verify', `the CRL directory ${dir} does not exist`);
      crlDirHas = (serial) => existsSync(join(dir, serial));
    } else crls = await loadCrlFile(o, rf);
  }

  const { secureContext, minVersion, maxVersion } = await loadSecureContext(o, rf, m);
  const restrictions: string[] = [];
  if (o.tlsVersionMin !== '1.2') restrictions.push(`tls-version-min ${o.tlsVersionMin}`);
  if (o.tlsVersionMax !== undefined) restrictions.push(`tls-version-max ${o.tlsVersionMax}`);
  if (o.tlsCipher !== undefined) restrictions.push(`tls-cipher ${o.tlsCipher}`);
  if (o.tlsCiphersuites !== undefined) restrictions.push(`tls-ciphersuites ${o.tlsCiphersuites}`);
  if (o.tlsGroups !== undefined) restrictions.push(`tls-groups ${o.tlsGroups}`);
  if (o.tlsCertProfile !== undefined) restrictions.push(`tls-cert-profile ${o.tlsCertProfile}`);
  return {
    secureContext,
    minVersion,
    maxVersion,
    restrictions,
    checks: {
      remoteCertKu: o.remoteCertKu,
      remoteCertEku: o.remoteCertEku,
      nsCertType: o.nsCertType,
      verifyX509Name: o.verifyX509Name,
      peerFingerprints: o.peerFingerprints,
      fingerprintOnly,
      crls,
      crlDirHas,
    },
  };
}

/**
 * The bytes of `pkcs12 FILE` or an inline `<pkcs12>` block, which is base64 (2.6 tls_ctx_load_pkcs12
 * reads it through a base64 BIO); a copy of our own, for the caller to zero.
 */
export async function readPkcs12(ref: FileRef, rf: ReadFileFn): Promise<Buffer> {
  const raw = ownCopy(await readFileRef(ref, rf, 'pkcs12'));
  if (ref.kind !== 'inline') return raw;
  const der = Buffer.from(raw.toString('latin1').replace(/\s+/g, ''), 'base64');
  raw.fill(0);
  return der;
}

/** What `loadSecureContext` reads of the options (client and server alike). */
export type KeyPasswordOptions = Pick<ClientOptions, 'askpass' | 'pkcs12' | 'tlsCipher'>;
export type SecureContextOptions = KeyPasswordOptions &
  Pick<ClientOptions, 'tlsVersionMin' | 'tlsVersionMax' | 'tlsCiphersuites' | 'tlsCertProfile' | 'tlsGroups'>;

/**
 * The secure context of the PEM or PKCS#12 inputs under the TLS options (versions, cipher lists,
 * groups), the key's password found by `secureContextWithKey`. With no `ca`, an empty list: node:tls
 * would otherwise trust its public root CAs; with pkcs12 and no ca, the CA certificates in the
 * PKCS#12 file are the trusted ones.
 */
export async function loadSecureContext(
  o: SecureContextOptions,
  rf: ReadFileFn,
  m: { ca?: Buffer; cert?: Buffer; extra?: Buffer; key?: Buffer; pfx?: Buffer },
): Promise<{
  secureContext: SecureContext;
  minVersion: SecureVersion;
  maxVersion: SecureVersion | undefined;
}> {
  const minVersion = TLS_VERSIONS[o.tlsVersionMin] ?? 'TLSv1.2';
  const maxVersion = o.tlsVersionMax === undefined ? undefined : TLS_VERSIONS[o.tlsVersionMax];
  if (o.tlsVersionMax !== undefined && o.tlsVersionMax < o.tlsVersionMin) {
    throw directiveError('tls-version-min', `${o.tlsVersionMin} is above tls-version-max ${o.tlsVersionMax}`);
  }
  const { ca, cert, extra, key, pfx } = m;
  const secureContext = await secureContextWithKey(o, rf, m, (passphrase) =>
    createSecureContext({
      ca: ca ?? [],
      cert:
        cert === undefined
          ? undefined
          : extra === undefined
            ? cert
            : Buffer.concat([cert, Buffer.from('\n'), extra]),
      key,
      pfx,
      passphrase,
      minVersion,
      maxVersion,
      ciphers: nodeCipherString(o),
      ecdhCurve: o.tlsGroups,
    }),
  );
  return { secureContext, minVersion, maxVersion };
}

/**
 * `build(passphrase)` with the private key's password found as 2.6 finds it (ssl.c
 * pem_password_callback, ssl_openssl.c tls_ctx_load_pkcs12): the first line of `askpass FILE`, else
 * asked on the terminal when the key needs one (an error without a terminal). An encrypted PEM key is
 * told from its text and its password checked with createPrivateKey, not from OpenSSL's error: which
 * error a failed decode leaves on top of the thread's queue is not stable (once "DECODER
 * routines::unsupported" instead of "bad decrypt"), and neither the prompt nor the message may depend
 * on it. A PKCS#12 that does not open without a password gets one asked, whatever the error says.
 * Errors name the directive at fault.
 */
async function secureContextWithKey(
  o: KeyPasswordOptions,
  rf: ReadFileFn,
  m: { ca?: Buffer; cert?: Buffer; extra?: Buffer; key?: Buffer; pfx?: Buffer },
  build: (passphrase: string | undefined) => SecureContext,
): Promise<SecureContext> {
  const { key, pfx } = m;
  let passphrase: string | undefined;
  if (o.askpass !== undefined && o.askpass !== 'prompt') {
    const b = await readFileRef(o.askpass, rf, 'askpass');
    passphrase = firstLine(b);
    b.fill(0);
  }
  if (key !== undefined && isEncryptedPemKey(key)) {
    passphrase ??= await promptPassword('Enter Private Key Password: ');
    try {
      createPrivateKey({ key, format: 'pem', passphrase });
    } catch (e) {
      throw directiveError(
        'key',
        `cannot decrypt the private key (wrong or missing password? see askpass): ${(e as Error).message}`,
      );
    }
  }
  try {
    return build(passphrase);
  } catch (e) {
    const msg = (e as Error).message;
    const needsPass =
      (pfx !== undefined && passphrase === undefined) ||
      /bad decrypt|mac verify failure|bad password|interrupted or cancelled|read failed/i.test(msg);
    if (!needsPass || passphrase !== undefined)
      throw tlsContextError(o, msg, needsPass ? undefined : culprit(m, passphrase));
    const p = await promptPassword('Enter Private Key Password: ');
    try {
      return build(p);
    } catch (e2) {
      throw tlsContextError(o, (e2 as Error).message);
    }
  }
}

/** A PEM private key under a password: PKCS#8 `ENCRYPTED PRIVATE KEY`, or legacy `Proc-Type: 4,ENCRYPTED`. */
export function isEncryptedPemKey(b: Buffer): boolean {
  const text = b.toString('latin1');
  return (
    text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /^Proc-Type:\s*4,ENCRYPTED\s*$/m.test(text)
  );
}

/** Which of the PEM inputs OpenSSL refuses on its own (a bad PEM block): its directive. */
function culprit(
  m: { ca?: Buffer; cert?: Buffer; extra?: Buffer; key?: Buffer },
  passphrase: string | undefined,
): string | undefined {
  const parts: [string, Buffer | undefined, (b: Buffer) => unknown][] = [
    ['ca', m.ca, (b) => createSecureContext({ ca: b })],
    ['cert', m.cert, (b) => createSecureContext({ cert: b })],
    ['extra-certs', m.extra, (b) => createSecureContext({ cert: b })],
    ['key', m.key, (b) => createSecureContext({ key: b, passphrase })],
  ];
  for (const [name, b, load] of parts) {
    if (b === undefined) continue;
    try {
      load(b);
    } catch {
      return name;
    }
  }
  return undefined;
}

/** An OpenSSL error from createSecureContext, with the directive it most likely comes from. */
function tlsContextError(o: KeyPasswordOptions, msg: string, bad?: string): Error {
  if (/no cipher match/i.test(msg)) {
    return directiveError(
      o.tlsCipher !== undefined ? 'tls-cipher' : 'tls-ciphersuites',
      `no usable cipher: ${msg}`,
    );
  }
  if (/curve|group/i.test(msg)) return directiveError('tls-groups', msg);
  if (
    /mac verify failure|pkcs12|pfx/i.test(msg) ||
    (o.pkcs12 !== undefined && /decrypt|password/i.test(msg))
  ) {
    return directiveError(
      'pkcs12',
      `cannot load the PKCS#12 file (wrong or missing password? see askpass): ${msg}`,
    );
  }
  if (/bad decrypt|bad password|interrupted or cancelled/i.test(msg)) {
    return directiveError(
      'key',
      `cannot decrypt the private key (wrong or missing password? see askpass): ${msg}`,
    );
  }
  if (/key values mismatch/i.test(msg))
    return directiveError('key', 'the private key does not match the certificate');
  if (bad !== undefined) return directiveError(bad, `cannot be loaded: ${msg}`);
  return new Error(`TLS setup failed: ${msg}`);
}
