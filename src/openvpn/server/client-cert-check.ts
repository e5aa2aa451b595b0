/**
 * The server's checks of a client's certificate, as OpenVPN 2.6 makes them (ssl_openssl.c
 * tls_ctx_set_options for verify-client-cert, ssl_verify.c verify_cert / verify_peer_cert,
 * ssl.c tls_ctx_reload_crl, ssl_verify.c verify_check_crl_dir, verify_cert_call_command):
 *
 * - `verify-client-cert none`: no certificate is asked for; `optional`: asked for, its absence is
 *   fine but a certificate that is sent must pass; `require` (default): it must be sent and pass.
 *   node:tls is told to ask and never to reject on its own (`rejectUnauthorized: false`): its verdict
 *   (authorizationError) goes through the same checks the client makes (cert-checks.ts).
 * - `remote-cert-tls client`: key usage present and the TLS Web Client Authentication EKU.
 * - `crl-verify FILE`: the file is re-read when its size or mtime changed, checked at each new TLS
 *   session; a file that cannot be stat'ed later keeps the old CRLs (a warning), one that cannot be
 *   parsed leaves none, so every client is refused ("CRL not loaded"), as 2.6 ends up.
 *   `crl-verify DIR dir`: a certificate is revoked when DIR holds a file named after its decimal serial.
 * - `tls-verify cmd`: `cmd depth subject` for each certificate from the root down, with that
 *   certificate's (and the deeper ones') X509 variables, and common_name at depth 0; a non-zero exit
 *   refuses the client. Here it
 *   runs after the built-in checks pass (2.6 interleaves them per depth; the verdict is the same).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { FileRef } from '../../config/client-options.js';
import {
  type Crl,
  checkServerChain,
  parseCertificate,
  parseCrlPem,
  type ServerCheckOptions,
} from '../cert-checks.js';
import { commandWords, failureMessage, type ScriptRunner } from './script-runner.js';
import { type Env, linkEnv, mergeEnv, remapName, SCRIPT_TYPE, setenv, x509Env } from './server-script-env.js';

export type VerifyClientCert = 'none' | 'optional' | 'require';

/** What the node:tls server is told about client certificates (tls.createServer / TLSSocket options). */
export function clientCertTlsOptions(v: VerifyClientCert): {
  requestCert: boolean;
  rejectUnauthorized: false;
} {
  return { requestCert: v !== 'none', rejectUnauthorized: false };
}

/** The certificate options of a server config that concern the client's certificate. */
export interface ClientCertConfig {
  verifyClientCert: VerifyClientCert;
  remoteCertTls: 'client' | 'server' | undefined;
  remoteCertKu: number[] | 'required' | undefined;
  remoteCertEku: string | undefined;
  nsCertType: 'server' | 'client' | undefined;
  verifyX509Name: { name: string; type: 'subject' | 'name' | 'name-prefix' } | undefined;
}

/**
 * The options of cert-checks for a client's chain. `remote-cert-tls client` is applied here too (it
 * sets remote-cert-ku and remote-cert-eku as 2.6's option parser does) in case the config left it
 * folded in `remoteCertTls`.
 */
export function clientCheckOptions(
  c: ClientCertConfig,
  crl: { crls: Crl[] | undefined; crlDirHas: ((serial: string) => boolean) | undefined },
): ServerCheckOptions {
  let ku = c.remoteCertKu;
  let eku = c.remoteCertEku;
  if (c.remoteCertTls !== undefined) {
    ku ??= 'required';
    eku ??= c.remoteCertTls === 'client' ? 'TLS Web Client Authentication' : 'TLS Web Server Authentication';
  }
  return {
    remoteCertKu: ku,
    remoteCertEku: eku,
    nsCertType: c.nsCertType,
    verifyX509Name: c.verifyX509Name,
    peerFingerprints: [],
    fingerprintOnly: false,
    crls: crl.crls,
    crlDirHas: crl.crlDirHas,
  };
}

export type ClientCertVerdict =
  | {
      ok: true;
      /** The certificate's common name (remapped), or undefined when the client sent none. */
      commonName: string | undefined;
      /** The chain, client certificate first (empty when none was sent). */
      chain: Buffer[];
    }
  | { ok: false; reason: string };

/**
 * The verdict on a client's chain (DER, the client's certificate first) and node:tls's
 * authorizationError code. Call it when the TLS handshake completes (before reading key-method 2).
 */
export function checkClientChain(
  chain: Buffer[],
  chainError: string | undefined,
  verifyClientCert: VerifyClientCert,
  checks: ServerCheckOptions,
  now: Date,
  log: (m: string) => void,
): ClientCertVerdict {
  if (verifyClientCert === 'none') return { ok: true, commonName: undefined, chain: [] };
  if (chain.length === 0) {
    if (verifyClientCert === 'optional') return { ok: true, commonName: undefined, chain: [] };
    return { ok: false, reason: 'VERIFY ERROR: the client sent no certificate (verify-client-cert require)' };
  }
  const why = checkServerChain(chain, chainError, checks, now, log, 'client');
  if (why !== undefined) return { ok: false, reason: why };
  const cn = parseCertificate(chain[0]).commonName;
  return { ok: true, commonName: cn === undefined ? undefined : remapName(cn), chain };
}

/** The client's chain as node:tls has it (DER, client first, up to the root it verified against). */
export function peerChainDer(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (c?.raw !== undefined && chain.length <= 32) {
    chain.push(c.raw);
    if (
      c.issuerCertificate === undefined ||
      c.issuerCertificate === c ||
      c.issuerCertificate.raw?.equals(c.raw)
    )
      break;
    c = c.issuerCertificate;
  }
  return chain;
}

/** The file system calls the CRL file needs (node:fs by default; tests may count reads). */
export interface CrlFs {
  stat(path: string): { size: number; mtimeMs: number };
  read(path: string): Buffer;
}

const nodeCrlFs: CrlFs = {
  stat: (p) => statSync(p),
  read: (p) => readFileSync(p),
};

/**
 * `crl-verify FILE` (or an inline CRL): `current()` at each new TLS session returns the CRLs,
 * re-reading the file when its size or mtime changed since the last read (tls_ctx_reload_crl).
 */
export class CrlFile {
  private last: { size: number; mtimeMs: number } | undefined;
  private crls: Crl[] = [];

  /** `source` is a path, or `{ inline }` for a `<crl-verify>` block (read once). */
  constructor(
    private readonly source: string | { inline: string },
    private readonly log: (m: string) => void = () => {},
    private readonly fs: CrlFs = nodeCrlFs,
  ) {
    if (typeof source !== 'string') this.crls = this.parse(source.inline);
  }

  /** Throws when the file cannot be stat'ed the first time (2.6 exits: "Failed to stat CRL file"). */
  current(): Crl[] {
    if (typeof this.source !== 'string') return this.crls;
    let st: { size: number; mtimeMs: number };
    try {
      const s = this.fs.stat(this.source);
      st = { size: s.size, mtimeMs: s.mtimeMs };
    } catch (e) {
      if (this.last === undefined) {
        throw new Error(`crl-verify: Failed to stat CRL file ${this.source}: ${(e as Error).message}`);
      }
      this.log('WARNING: Failed to stat CRL file, not reloading CRL.');
      return this.crls;
    }
    if (this.last !== undefined && this.last.size === st.size && this.last.mtimeMs === st.mtimeMs) {
      return this.crls;
    }
    this.last = st;
    let text: string;
    try {
      text = this.fs.read(this.source).toString('latin1');
    } catch (e) {
      this.log(`CRL: cannot read: ${this.source}: ${(e as Error).message}`);
      this.crls = [];
      return this.crls;
    }
    this.crls = this.parse(text);
    return this.crls;
  }

  private parse(text: string): Crl[] {
    try {
      const crls = parseCrlPem(text);
      if (crls.length === 0) this.log('CRL: cannot read CRL from file: no CRL in it');
      return crls;
    } catch (e) {
      this.log(`CRL: cannot read CRL from file: ${(e as Error).message}`);
      return [];
    }
  }
}

/** `crl-verify DIR dir`: whether DIR holds a file named after the serial (checked at each handshake). */
export function crlDirChecker(dir: string, exists: (path: string) => boolean): (serial: string) => boolean {
  return (serial) => exists(join(dir, serial));
}

/** What the checks need of `crl-verify` at one handshake. */
export interface CrlState {
  crls: Crl[] | undefined;
  crlDirHas: ((serial: string) => boolean) | undefined;
}

/**
 * `crl-verify` of a server config as a function called at each new TLS session: the file form
 * re-read when changed (CrlFile; a relative path is taken from the config file's folder), the inline
 * form read once, the dir form looked up per certificate. Throws when the file cannot be stat'ed the
 * first time (call it once at startup, as 2.6 loads the CRL then).
 */
export function crlVerifier(
  crlVerify: { ref: FileRef; dir: boolean } | undefined,
  log: (m: string) => void = () => {},
): () => CrlState {
  if (crlVerify === undefined) return () => ({ crls: undefined, crlDirHas: undefined });
  const ref = crlVerify.ref;
  if (ref.kind === 'inline') {
    const file = new CrlFile({ inline: ref.text }, log);
    return () => ({ crls: file.current(), crlDirHas: undefined });
  }
  const path = isAbsolute(ref.path) ? ref.path : join(ref.dir, ref.path);
  if (crlVerify.dir) {
    const has = crlDirChecker(path, existsSync);
    return () => ({ crls: undefined, crlDirHas: has });
  }
  const file = new CrlFile(path, log);
  file.current();
  return () => ({ crls: file.current(), crlDirHas: undefined });
}

export interface TlsVerifyDeps {
  runner: ScriptRunner;
  log: (line: string) => void;
}

/**
 * `tls-verify cmd`: runs `cmd depth subject` for each certificate, root first, with `env` (the
 * process environment), untrusted_ip/port and the X509 variables down to that depth. True when every
 * run exits 0; stops at the first refusal.
 */
export async function runTlsVerify(
  command: string,
  chain: readonly Buffer[],
  env: Env,
  remote: { address: string; port: number },
  deps: TlsVerifyDeps,
): Promise<boolean> {
  let words: string[];
  try {
    words = commandWords(command, 'tls-verify');
  } catch (e) {
    deps.log(`VERIFY SCRIPT ERROR: ${(e as Error).message}`);
    return false;
  }
  for (let depth = chain.length - 1; depth >= 0; depth--) {
    const subject = parseCertificate(chain[depth]).subject;
    const scriptEnv = mergeEnv(env, x509Env(chain, depth), linkEnv('untrusted', remote.address, remote.port));
    // verify_cert sets the session's common name at depth 0 before running the script
    if (depth === 0) setenv(scriptEnv, 'common_name', remapName(parseCertificate(chain[0]).commonName ?? ''));
    setenv(scriptEnv, 'script_type', SCRIPT_TYPE.tlsVerify);
    const r = await deps.runner.run([...words, String(depth), subject], scriptEnv);
    if (r.exitCode !== 0) {
      deps.log(failureMessage('--tls-verify script', r));
      deps.log(`VERIFY SCRIPT ERROR: depth=${depth}, ${subject}`);
      return false;
    }
    deps.log(`VERIFY SCRIPT OK: depth=${depth}, ${subject}`);
  }
  return true;
}
