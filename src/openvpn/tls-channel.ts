/**
 * The TLS engine of one control session: a node:tls client socket over an in-memory Duplex whose
 * writes are TLS ciphertext for the control core and whose reads are the server's ciphertext the core
 * delivered in order (control-plane.md §6). No SNI, no ALPN; the certificate checks are OpenVPN's, made
 * here on `secureConnect` because Node's own (host name, CRL on every CA) are not OpenVPN's.
 */
import { Duplex } from 'node:stream';
import { connect, type DetailedPeerCertificate, type SecureVersion, type TLSSocket } from 'node:tls';
import { checkServerChain, ServerCheckError } from './cert-checks.js';
import type { TlsConfig } from './tls-config.js';

export interface TlsChannelOptions {
  /** The secure context, TLS versions and server checks (tls-config.ts loadTlsConfig). */
  tls: TlsConfig;
  /** Ciphertext the TLS engine wrote: goes to the control core. */
  onCiphertext: (data: Buffer) => void;
  /** Where the `VERIFY ... OK` lines go. */
  log?: (msg: string) => void;
}

const TLS_VERSIONS: Record<string, SecureVersion> = {
  '1.0': 'TLSv1',
  '1.1': 'TLSv1.1',
  '1.2': 'TLSv1.2',
  '1.3': 'TLSv1.3',
};

export function tlsVersion(v: string): SecureVersion {
  return TLS_VERSIONS[v] ?? 'TLSv1.2';
}

export class TlsChannel {
  readonly socket: TLSSocket;
  private readonly transport: Duplex;
  private readonly config: TlsConfig;
  private readonly log: (msg: string) => void;
  /** Bytes of server ciphertext received. */
  private received = 0;

  constructor(opts: TlsChannelOptions) {
    this.config = opts.tls;
    this.log = opts.log ?? (() => {});
    this.transport = new Duplex({
      read() {
        // pushed from `ciphertextIn`
      },
      write(chunk: Buffer, _enc, cb) {
        opts.onCiphertext(chunk);
        cb();
      },
    });
    this.socket = connect({
      socket: this.transport,
      secureContext: opts.tls.secureContext,
      minVersion: opts.tls.minVersion,
      maxVersion: opts.tls.maxVersion,
      // the chain is judged in `verify` from authorizationError, the name not at all (OpenVPN checks
      // no host name; verify-x509-name is its own option, in cert-checks.ts)
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
  }

  /** The server's ciphertext, in order, from the control core. */
  ciphertextIn(data: Buffer): void {
    this.received += data.length;
    this.transport.push(data);
  }

  /**
   * `e` (why the connection failed before the handshake ended) with a hint when no TLS came back:
   * nothing at all from the server (`serverAnswered` false: network, remote, tls-auth/tls-crypt key),
   * or its reset but no TLS: a 2.6 server drops a ClientHello it cannot serve (no common TLS version
   * or cipher) without sending its alert, so the client only sees the hand-window run out.
   */
  explainFailure(e: unknown, serverAnswered: boolean): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.received > 0 || err instanceof ServerCheckError) return err;
    const limits = this.config.restrictions;
    const hint = !serverAnswered
      ? 'no answer from the server: check the network, the remote, and the tls-auth/tls-crypt key'
      : limits.length === 0
        ? 'the server never answered our TLS ClientHello'
        : `the server never answered our TLS ClientHello: it may accept nothing that ${limits.join(', ')} allows`;
    return Object.assign(new Error(`${err.message} (${hint})`), { cause: err });
  }

  /** Resolves once the handshake is done and the server's certificate passed; rejects otherwise. */
  handshake(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(this.handshakeError(e));
      this.socket.once('error', onError);
      this.socket.once('secureConnect', () => {
        this.socket.off('error', onError);
        const why = this.verify();
        if (why === undefined) resolve();
        else reject(new ServerCheckError(why));
      });
    });
  }

  /** A TLS failure as OpenVPN reports it, with OpenSSL's reason and the TLS versions allowed. */
  private handshakeError(e: Error): Error {
    const reason = (e as { reason?: unknown }).reason;
    const why = typeof reason === 'string' && reason !== '' ? reason : e.message;
    const { minVersion, maxVersion } = this.config;
    const versions = /version|protocol/i.test(why)
      ? ` (tls-version-min ${minVersion.replace(/^TLSv1$/, 'TLSv1.0').slice(4)}${maxVersion === undefined ? '' : `, tls-version-max ${maxVersion.replace(/^TLSv1$/, 'TLSv1.0').slice(4)}`})`
      : '';
    return new Error(`TLS Error: TLS handshake failed: ${why}${versions}`);
  }

  /** Why the server's certificate is refused, or undefined (ssl_verify_openssl.c verify_callback). */
  private verify(): string | undefined {
    const chain: Buffer[] = [];
    let c: DetailedPeerCertificate | undefined = this.socket.getPeerCertificate(true);
    while (c?.raw !== undefined && chain.length <= 32) {
      chain.push(c.raw);
      // the root is its own issuer
      if (
        c.issuerCertificate === undefined ||
        c.issuerCertificate === c ||
        c.issuerCertificate.raw?.equals(c.raw)
      )
        break;
      c = c.issuerCertificate;
    }
    const err = this.socket.authorized
      ? undefined
      : String(this.socket.authorizationError ?? 'unknown error');
    return checkServerChain(chain, err, this.config.checks, new Date(), this.log);
  }

  /** Writes `data` as one TLS write and resolves once TLS has taken it (its own record). */
  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** RFC 5705 keying material of this session, with no context (use_context = 0). */
  exportKeyingMaterial(length: number, label: string): Buffer {
    // @types/node wants a context; leaving it out is what maps to use_context = 0 (spec §3.3)
    const exportNoContext = this.socket.exportKeyingMaterial as (length: number, label: string) => Buffer;
    return exportNoContext.call(this.socket, length, label);
  }

  destroy(): void {
    this.socket.destroy();
    this.transport.destroy();
  }
}
