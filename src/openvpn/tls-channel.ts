/**
 * The TLS engine of one control session: a node:tls client socket over an in-memory Duplex whose
 * writes are TLS ciphertext for the control core and whose reads are the server's ciphertext the core
 * delivered in order (control-plane.md §6). No SNI, no ALPN; the certificate checks are OpenVPN's, made
 * here on `secureConnect` because Node's own (host name, CRL on every CA) are not OpenVPN's.
 */
import { X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import { connect, type SecureVersion, type TLSSocket } from 'node:tls';

export interface TlsChannelOptions {
  ca: Buffer;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  minVersion: SecureVersion;
  /** `remote-cert-tls server`: the server's certificate must carry the serverAuth EKU. */
  requireServerEku: boolean;
  /** Ciphertext the TLS engine wrote: goes to the control core. */
  onCiphertext: (data: Buffer) => void;
}

/** OID of the TLS Web Server Authentication extended key usage. */
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

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
  private readonly requireServerEku: boolean;

  constructor(opts: TlsChannelOptions) {
    this.requireServerEku = opts.requireServerEku;
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
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      minVersion: opts.minVersion,
      // the chain is judged in `verify` from authorizationError, the name not at all (OpenVPN checks
      // no host name; verify-x509-name is its own option)
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
  }

  /** The server's ciphertext, in order, from the control core. */
  ciphertextIn(data: Buffer): void {
    this.transport.push(data);
  }

  /** Resolves once the handshake is done and the server's certificate passed; rejects otherwise. */
  handshake(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.socket.once('error', onError);
      this.socket.once('secureConnect', () => {
        this.socket.off('error', onError);
        const why = this.verify();
        if (why === undefined) resolve();
        else reject(new Error(why));
      });
    });
  }

  /** Why the server's certificate is refused, or undefined (ssl_verify_openssl.c verify_callback). */
  private verify(): string | undefined {
    if (!this.socket.authorized) {
      const err = String(this.socket.authorizationError ?? 'unknown error');
      if (err !== 'UNABLE_TO_GET_CRL') return `VERIFY ERROR: ${err}`;
    }
    if (this.requireServerEku) {
      const raw = this.socket.getPeerX509Certificate?.();
      const eku = raw instanceof X509Certificate ? raw.keyUsage : undefined;
      if (!eku?.includes(EKU_SERVER_AUTH))
        return 'remote-cert-tls server: the certificate has no TLS Web Server Authentication EKU';
    }
    return undefined;
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
