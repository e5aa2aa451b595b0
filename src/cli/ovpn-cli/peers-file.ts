/**
 * The peer tables of the selftests (spec ovpn-kernel §7.3), in both generations, told apart per line
 * by the number of columns:
 *
 *   UDP (new_multi_peer), 7.1:  <id> <tx_id> <laddr> <lport> <raddr> <rport> <vpnaddr>
 *                         6.16: <id> <laddr> <lport> <raddr> <rport> <vpnaddr>
 *   TCP (listen),         7.1:  <id> <tx_id> <vpnaddr>
 *                         6.16: <id> <vpnaddr>
 *
 * In the UDP table columns 3/4 are the server's own address and port as the client sees them (unused
 * by the server) and 5/6 the peer's remote. Blank lines and lines starting with '#' are skipped; any
 * other line with a different column count is an error (the C tool read whitespace-separated words
 * with fscanf and stopped silently at the first incomplete group).
 */
import { PEER_ID_UNDEF } from './args.js';
import { strtoul } from './c-numbers.js';

export interface UdpPeerEntry {
  /** 1-based line number in the file. */
  line: number;
  peerId: number;
  /** Absent in the 6.16 form. */
  txId?: number;
  raddr: string;
  rport: string;
  vpnaddr: string;
}

export interface TcpPeerEntry {
  line: number;
  peerId: number;
  txId?: number;
  vpnaddr: string;
}

export class PeersFileError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'PeersFileError';
  }
}

function lines(text: string): { line: number; cols: string[] }[] {
  const out: { line: number; cols: string[] }[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    out.push({ line: i + 1, cols: t.split(/\s+/) });
  });
  return out;
}

function id(s: string, line: number, what: 'rx' | 'tx'): number {
  const n = strtoul(s);
  if (n.erange || n.value > BigInt(PEER_ID_UNDEF))
    throw new PeersFileError(`${what} peer ID value out of range`, line);
  return Number(n.value);
}

/** Parses a UDP peer table. */
export function parseUdpPeers(text: string): UdpPeerEntry[] {
  return lines(text).map(({ line, cols }) => {
    if (cols.length === 7) {
      const [peerId, txId, , , raddr, rport, vpnaddr] = cols;
      return { line, peerId: id(peerId, line, 'rx'), txId: id(txId, line, 'tx'), raddr, rport, vpnaddr };
    }
    if (cols.length === 6) {
      const [peerId, , , raddr, rport, vpnaddr] = cols;
      return { line, peerId: id(peerId, line, 'rx'), raddr, rport, vpnaddr };
    }
    throw new PeersFileError(`expected 7 columns (6 in the 6.16 form), found ${cols.length}`, line);
  });
}

/** Parses a TCP peer table. */
export function parseTcpPeers(text: string): TcpPeerEntry[] {
  return lines(text).map(({ line, cols }) => {
    if (cols.length === 3) {
      const [peerId, txId, vpnaddr] = cols;
      return { line, peerId: id(peerId, line, 'rx'), txId: id(txId, line, 'tx'), vpnaddr };
    }
    if (cols.length === 2) {
      const [peerId, vpnaddr] = cols;
      return { line, peerId: id(peerId, line, 'rx'), vpnaddr };
    }
    throw new PeersFileError(`expected 3 columns (2 in the 6.16 form), found ${cols.length}`, line);
  });
}

/**
 * The tx-id to send for an entry: only with ASYMM, and then the file must have the column. (In SYMM
 * mode the column is ignored, as the tool does.)
 */
export function txIdFor(e: { txId?: number; line: number }, asymm: boolean): number | undefined {
  if (!asymm) return undefined;
  if (e.txId === undefined) throw new PeersFileError('ASYMM needs the tx_id column (7.1 form)', e.line);
  return e.txId;
}
