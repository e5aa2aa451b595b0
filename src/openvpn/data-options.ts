/**
 * The per-peer data options the client puts on the data plane after the push: the compression
 * framing (`comp-framing`) and the MSS clamp (`mss-clamp`), as OpenVPN 2.6 derives them from the
 * profile and the PUSH_REPLY.
 *
 * Compression (options.c add_option for comp-lzo / compress, comp.c check_compression_settings_valid,
 * init.c do_deferred_options): a pushed `comp-lzo` / `compress` replaces the profile's, and the result
 * decides the framing. ovpn-ts never compresses nor decompresses, so only the stubs run: `comp-lzo no`
 * (a 0xFA byte before the payload), `compress` / `compress stub` (0xFB with the first byte moved to the
 * end), `compress stub-v2` (no byte for IP packets). A real algorithm (`comp-lzo [yes|adaptive]`,
 * `compress lzo|lz4|lz4-v2`) is refused unless the server pushes a stub in its place, which is what a
 * server with `compress migrate` or `push "comp-lzo no"` does for old profiles. 2.6 itself would run
 * such a profile when the server pushes nothing (it sends uncompressed packets in that algorithm's
 * framing and decompresses what comes in); ovpn-ts cannot decompress, and a server that compresses
 * would see its compressed packets dropped, so it refuses instead of losing packets quietly.
 *
 * MSS (options.c options_postprocess_mutate_ce, mss.c frame_calculate_mssfix): with no `mssfix` (or a
 * bare `mssfix`) and `tun-mtu` 1500, 2.6 uses `mssfix 1492 mtu`: the largest TCP payload whose
 * encapsulated packet, outer IP and UDP/TCP headers included, stays within 1492 bytes; with another
 * tun-mtu, `mssfix <tun-mtu> fixed`. `mssfix N` counts the OpenVPN packet without the outer IP and
 * UDP headers, `mssfix N mtu` with them, `mssfix N fixed` is the inner IP packet; `mssfix 0` is off.
 * The clamp is the IPv4 value (the data plane takes 20 off for IPv6, as mss.c does).
 */
import {
  type ClientOptions,
  type CompressionFraming,
  type ConnectionEntry,
  isRealCompression,
} from '../config/client-options.js';
import { fatalError } from './connect-retry.js';
import type { PushedConfig } from './pushed-options.js';

/** The `comp-framing` attribute values of the data plane (docs/api.md). */
export type CompFramingName = 'none' | 'comp-lzo-no' | 'compress-stub' | 'compress-stub-v2';

/** mtu.h MSSFIX_DEFAULT and TUN_MTU_DEFAULT. */
export const MSSFIX_DEFAULT = 1492;
const TUN_MTU_DEFAULT = 1500;
/** Opcode byte and 3-byte peer-id of P_DATA_V2. */
const DATA_V2_HEADER = 4;
/** AEAD: the 4-byte packet id and the 16-byte tag (AES-GCM and ChaCha20-Poly1305 alike). */
const AEAD_OVERHEAD = 4 + 16;
/** The inner IPv4 and TCP headers without options (RFC 879), as mss.c counts them. */
const INNER_HEADERS = 20 + 20;

/** One pushed `comp-lzo` / `compress` line applied to the current setting (options.c add_option). */
export function applyCompressionOption(current: CompressionFraming, line: string): CompressionFraming {
  const [name, arg, extra] = line.trim().split(/\s+/);
  if (extra !== undefined) throw new Error(`pushed '${line}': too many parameters`);
  if (name === 'comp-lzo') {
    if (arg === 'no') return 'lzo-stub';
    if (arg === undefined || arg === 'yes' || arg === 'adaptive') return 'lzo';
    throw new Error(`pushed '${line}': bad comp-lzo option, must be 'yes', 'no', or 'adaptive'`);
  }
  if (name === 'compress') {
    const alg = arg ?? 'stub';
    if (alg === 'stub' || alg === 'stub-v2' || alg === 'lzo' || alg === 'lz4' || alg === 'lz4-v2') return alg;
    throw new Error(`pushed '${line}': bad compression '${alg}'`);
  }
  return current;
}

/** The data plane's framing for a stub; real compression has none (see `resolveCompression`). */
export function compFramingOf(c: CompressionFraming): CompFramingName {
  switch (c) {
    case 'lzo-stub':
      return 'comp-lzo-no';
    case 'stub':
      return 'compress-stub';
    case 'stub-v2':
      return 'compress-stub-v2';
    case 'none':
      return 'none';
    default:
      throw new Error(`${c} compression has no framing without compression`);
  }
}

/**
 * The compression in effect after the push: the profile's, replaced by each pushed `comp-lzo` /
 * `compress` in order. Throws, naming where the real compression came from, when it compresses.
 */
export function resolveCompression(
  o: Pick<ClientOptions, 'compression' | 'compressionAt'>,
  pushed: readonly string[],
): CompressionFraming {
  let c = o.compression;
  let from: string | undefined;
  for (const line of pushed) {
    c = applyCompressionOption(c, line);
    from = line;
  }
  if (!isRealCompression(c)) return c;
  // not something a retry cures: fatal (connect-retry.ts)
  if (from !== undefined)
    throw fatalError(
      `the server pushed '${from}': ${c} compression is not supported by ovpn-ts (it only does the stubs: comp-lzo no, compress, compress stub-v2)`,
    );
  const at = o.compressionAt;
  const where = at === undefined ? '' : `${at.file}:${at.line}: ${at.directive}: `;
  throw fatalError(
    `${where}refused: ${c} compression is not supported, and the server did not push a compression stub (comp-lzo no, compress stub-v2) to replace it`,
  );
}

/** The compression byte(s) mtu.c frame_calculate_payload_overhead counts: the v1 algorithms add one. */
function compressionOverhead(c: CompressionFraming): number {
  return c === 'lzo-stub' || c === 'stub' || c === 'lzo' || c === 'lz4' ? 1 : 0;
}

export interface MssInput {
  mssfix: ConnectionEntry['mssfix'];
  /** The profile's `tun-mtu` (2.6 sets the default mssfix before the push). */
  tunMtu: number;
  proto: 'udp' | 'tcp';
  /** The family of the server's address (the outer IP header). */
  family: 4 | 6;
  /** The compression in effect after the push. */
  compression: CompressionFraming;
}

/**
 * The `mss-clamp` for the data plane (mss.c frame_calculate_mssfix for an AEAD cipher with peer-id):
 * 0 for off. Every data cipher ovpn-ts negotiates is AEAD with the same overhead, so the cipher does
 * not change it.
 */
export function mssClampFor(m: MssInput): number {
  let value = m.mssfix.value;
  let encap = m.mssfix.mode === 'mtu';
  let fixed = m.mssfix.mode === 'fixed';
  if (m.mssfix.mode === 'default') {
    // options_postprocess_mutate_ce (no --fragment: refused by ovpn-ts)
    if (m.tunMtu === TUN_MTU_DEFAULT) {
      value = MSSFIX_DEFAULT;
      encap = true;
    } else {
      value = m.tunMtu;
      fixed = true;
    }
  }
  if (value <= 0) return 0;
  let overhead = INNER_HEADERS;
  if (!fixed) {
    overhead +=
      (m.proto === 'tcp' ? 2 : 0) + DATA_V2_HEADER + AEAD_OVERHEAD + compressionOverhead(m.compression);
    // socket.h datagram_overhead: the outer IP header and UDP or TCP header
    if (encap) overhead += (m.family === 6 ? 40 : 20) + (m.proto === 'tcp' ? 20 : 8);
  }
  return Math.min(0xffff, Math.max(0, value - overhead));
}

/** What the client puts on the peer besides its address and keepalive. */
export interface PeerDataOptions {
  compression: CompressionFraming;
  compFraming: CompFramingName;
  mssClamp: number;
}

/** The compression framing and MSS clamp of the connection `ce`, after the push `pushed`. */
export function peerDataOptions(
  o: Pick<ClientOptions, 'compression' | 'compressionAt'>,
  ce: Pick<ConnectionEntry, 'mssfix' | 'tunMtu'>,
  pushed: Pick<PushedConfig, 'compression'>,
  link: { proto: 'udp' | 'tcp'; family: 4 | 6 },
): PeerDataOptions {
  const compression = resolveCompression(o, pushed.compression);
  return {
    compression,
    compFraming: compFramingOf(compression),
    mssClamp: mssClampFor({
      mssfix: ce.mssfix,
      tunMtu: ce.tunMtu,
      proto: link.proto,
      family: link.family,
      compression,
    }),
  };
}

/**
 * The OCC options string with the compression of `compression` (options.c options_string): ",comp-lzo"
 * after the proto for any compression context, stubs included, and the link-mtu one byte larger for
 * the v1 framings (mtu.c calc_options_string_link_mtu). A 2.6 server compares it with its own and, with
 * `compress migrate`, pushes a stub to the clients that announce comp-lzo.
 */
export function occWithCompression(occ: string, compression: CompressionFraming): string {
  if (compression === 'none') return occ;
  const extra = compressionOverhead(compression);
  return occ
    .replace(/,link-mtu (\d+)/, (_, n: string) => `,link-mtu ${Number(n) + extra}`)
    .replace(/(,proto [^,]+)/, '$1,comp-lzo');
}
