/**
 * The server's TLS: one secure context from the server options (ca, cert, key or pkcs12, tls versions
 * and cipher lists; 2.6 ssl.c init_ssl; the key's password from askpass, found as the client finds
 * it), and per key state a node:tls server socket over an in-memory Duplex whose writes are
 * ciphertext for the control session (control-plane.md §6). The client's
 * certificate is asked for unless `verify-client-cert none`; Node's own rejection is off: the server's
 * checks (client-auth.ts: verify-client-cert, remote-cert-tls, crl-verify, tls-verify) judge it after
 * the handshake, so that the reason can be logged.
 */
import { Duplex } from 'node:stream';
import { type SecureContext, TLSSocket } from 'node:tls';
import { type ReadFileFn, readFileRef } from '../../config/load.js';
import type { ServerOptions } from '../../config/server-options.js';
import { loadSecureContext, ownCopy, readPkcs12 } from '../tls-config.js';

export interface ServerTlsConfig {
  secureContext: SecureContext;
  requestCert: boolean;
  requireCert: boolean;
}

/** Reads the certificate files and builds the secure context; errors name the directive. */
export async function loadServerTls(o: ServerOptions, rf: ReadFileFn): Promise<ServerTlsConfig> {
  const read = async (ref: ServerOptions['ca'], what: string) =>
    ref === undefined ? undefined : Buffer.from(await readFileRef(ref, rf, what));
  const ca = await read(o.ca, 'ca');
  const cert = await read(o.cert, 'cert');
  const key = o.key === undefined ? undefined : ownCopy(await readFileRef(o.key, rf, 'key'));
  const extra = await read(o.extraCerts, 'extra-certs');
  const pfx = o.pkcs12 === undefined ? undefined : await readPkcs12(o.pkcs12, rf);
  if (cert === undefined && pfx === undefined)
    throw new Error('cert: a server needs its certificate (cert or pkcs12)');
  if (ca === undefined && pfx === undefined && o.verifyClientCert !== 'none')
    throw new Error("ca: needed to verify the clients' certificates");
  try {
    const { secureContext } = await loadSecureContext(o, rf, { ca, cert, extra, key, pfx });
    return {
      secureContext,
      requestCert: o.verifyClientCert !== 'none',
      requireCert: o.verifyClientCert === 'require',
    };
  } finally {
    key?.fill(0);
    pfx?.fill(0);
  }
}

/** One key state's TLS server engine. */
export class ServerTlsChannel {
  readonly socket: TLSSocket;
  private readonly transport: Duplex;

  constructor(cfg: ServerTlsConfig, onCiphertext: (data: Buffer) => void) {
    this.transport = new Duplex({
      read() {
        // pushed from `ciphertextIn`
      },
      write(chunk: Buffer, _enc, cb) {
        onCiphertext(chunk);
        cb();
      },
    });
    this.socket = new TLSSocket(this.transport, {
      isServer: true,
      secureContext: cfg.secureContext,
      requestCert: cfg.requestCert,
      rejectUnauthorized: false,
    });
  }

  ciphertextIn(data: Buffer): void {
    this.transport.push(data);
  }

  /**
   * Resolves once the handshake is done; rejects on a TLS error. The client's certificate is judged
   * afterwards by the server's checks (client-auth.ts), from `chainError` and the chain.
   */
  handshake(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(new Error(`TLS Error: TLS handshake failed: ${e.message}`));
      this.socket.once('error', onError);
      this.socket.once('secure', () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
  }

  /**
   * OpenSSL's verification result for the client's chain (its code, e.g.
   * UNABLE_TO_GET_ISSUER_CERT_LOCALLY), or undefined when it verified or none was sent. A TLSSocket
   * made without a tls.Server never sets `authorized`, so the result is read from the handle.
   */
  chainError(): string | undefined {
    const cert = this.socket.getPeerCertificate();
    if (cert === undefined || cert === null || Object.keys(cert).length === 0) return undefined;
    const handle = (this.socket as unknown as { _handle?: { verifyError(): Error | null } })._handle;
    if (handle === undefined) return 'cannot read the verification result';
    const err = handle.verifyError();
    return err === null ? undefined : `${(err as Error & { code?: string }).code ?? err.message}`;
  }

  /** The client certificate's common name, if any. */
  commonName(): string | undefined {
    const c = this.socket.getPeerCertificate();
    const cn = c?.subject?.CN;
    return Array.isArray(cn) ? cn[0] : cn;
  }

  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  exportKeyingMaterial(length: number, label: string): Buffer {
    const exportNoContext = this.socket.exportKeyingMaterial as (length: number, label: string) => Buffer;
    return exportNoContext.call(this.socket, length, label);
  }

  destroy(): void {
    this.socket.destroy();
    this.transport.destroy();
  }
}
