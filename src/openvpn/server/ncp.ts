/**
 * The client's peer-info as a server reads it, and the data cipher it gets (2.6 ssl_ncp.c
 * ncp_get_best_cipher, tls_peer_ncp_list; multi.c multi_client_set_protocol_options).
 */
import { IvProto, parsePeerInfo } from '../../control/key-method2.js';

export interface ClientPeerInfo {
  /** Every IV_ variable as sent. */
  vars: Map<string, string>;
  /** IV_PROTO bits (0 when absent). */
  proto: number;
  /** IV_CIPHERS, or from IV_NCP ≥ 2 the two GCM ciphers (2.4 clients). */
  ciphers: string[];
  version: string | undefined;
  platform: string | undefined;
}

export function readClientPeerInfo(text: string | undefined): ClientPeerInfo {
  const vars = parsePeerInfo(text ?? '');
  const proto = Number.parseInt(vars.get('IV_PROTO') ?? '0', 10) || 0;
  let ciphers: string[] = [];
  const list = vars.get('IV_CIPHERS');
  if (list !== undefined) ciphers = list.split(':').filter((c) => c !== '');
  else if ((Number.parseInt(vars.get('IV_NCP') ?? '0', 10) || 0) >= 2)
    ciphers = ['AES-256-GCM', 'AES-128-GCM'];
  return { vars, proto, ciphers, version: vars.get('IV_VER'), platform: vars.get('IV_PLAT') };
}

/** The OCC `cipher` of the client's options string (`...,cipher AES-256-CBC,...`), if any. */
export function occCipher(options: string): string | undefined {
  for (const part of options.split(',')) if (part.startsWith('cipher ')) return part.slice(7).trim();
  return undefined;
}

/**
 * The data cipher for a client: the first of the server's `dataCiphers` the client offers (names
 * compared case-insensitively); for a client that offers none, `fallback` (data-ciphers-fallback) or
 * else its OCC cipher when the server has it. Undefined: no common cipher (the client is refused).
 */
export function negotiateCipher(
  serverCiphers: readonly string[],
  client: ClientPeerInfo,
  clientOptions: string,
  fallback: string | undefined,
): string | undefined {
  const offered = new Set(client.ciphers.map((c) => c.toUpperCase()));
  for (const c of serverCiphers) if (offered.has(c.toUpperCase())) return c;
  if (client.ciphers.length > 0) return undefined;
  if (fallback !== undefined) return fallback;
  const occ = occCipher(clientOptions);
  if (occ === undefined) return undefined;
  return serverCiphers.find((c) => c.toUpperCase() === occ.toUpperCase());
}

/** What the server pushes for key derivation and exit notification, from the client's IV_PROTO. */
export function protocolFlags(proto: number): { tlsEkm: boolean; ccExit: boolean } {
  return { tlsEkm: (proto & IvProto.TLS_KEY_EXPORT) !== 0, ccExit: (proto & IvProto.CC_EXIT_NOTIFY) !== 0 };
}
