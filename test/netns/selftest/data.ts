/**
 * The data of the kernel ovpn selftests, as facts (spec ovpn-kernel §7.3, §7.4): the address plan,
 * the peer-id scheme, the peers files read by `ovpn-cli new_multi_peer` / `listen`, a key file for
 * `new_key`, and the notifications each namespace must receive in the end.
 *
 * Everything here is generated: the peers files from the address plan, the key from random bytes for
 * each run (so no key material is stored in the repository).
 */
import { vethAddr as planVethAddr, vpnAddr as planVpnAddr, randomKeyFile } from '../../../src/lab/star.js';

/** Clients (P2P namespaces peer1..peer6); peer0 is the MP server. */
export const NUM_PEERS = 6;
/** Transport port on every side (UDP and TCP). */
export const PORT = 1;
/** A host behind client 1, reached by the server through a route via client 1's VPN address. */
export const LAN_IP = '11.11.11.11';
/** The mark the server's UDP socket carries in the mark scenario. */
export const MARK = 1056;
/** The peer-id distance between the two ends with asymmetric ids. */
export const ASYMM_OFFSET = 9;

export type Proto = 'udp' | 'tcp';
export type Alg = 'aes' | 'chachapoly';

/** Clients 1..3 reach the server over IPv4, clients 4..6 over IPv6. */
export function transportFamily(p: number): 4 | 6 {
  return p <= 3 ? 4 : 6;
}

/**
 * The server's (end 1) or client's (end 2; 3 after a float) transport address on veth<p>: the lab's
 * plan (src/lab/star.ts), in client p's transport family unless told.
 */
export function vethAddr(p: number, end: 1 | 2 | 3, family: 4 | 6 = transportFamily(p)): string {
  return planVethAddr(p, end, family);
}

/** Tunnel address of namespace peer<p> (the server is 5.5.5.1). */
export function vpnAddr(p: number): string {
  return planVpnAddr(p);
}

export function idOffset(symmetric: boolean): number {
  return symmetric ? 0 : ASYMM_OFFSET;
}

/** The id client p knows the server by (it is also the peer-id the server puts in its packets to p). */
export function clientPeerId(p: number, symmetric: boolean): number {
  return p + idOffset(symmetric);
}

/**
 * The UDP peers file, one line per client:
 *   <id> <tx-id> <server addr> <server port> <client addr> <client port> <client vpn addr>
 * The server reads the client columns as the peer's remote; a client reads the server columns as its
 * remote and its own port as the local port.
 */
export function udpPeersFile(): string {
  const lines: string[] = [];
  for (let p = 1; p <= NUM_PEERS; p++) {
    lines.push([p, p + ASYMM_OFFSET, vethAddr(p, 1), PORT, vethAddr(p, 2), PORT, vpnAddr(p)].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

/** The TCP peers file (peers are assigned in accept order): <id> <tx-id> <client vpn addr>. */
export function tcpPeersFile(): string {
  const lines: string[] = [];
  for (let p = 1; p <= NUM_PEERS; p++) lines.push([p, p + ASYMM_OFFSET, vpnAddr(p)].join(' '));
  return `${lines.join('\n')}\n`;
}

/**
 * A key file: one line of base64. The tool decodes at most 256 characters and needs 72 bytes (two
 * 32-byte keys and an 8-byte nonce tail); 192 random bytes encode to exactly 256 characters.
 */
export function keyFile(): string {
  return randomKeyFile();
}

/** A notification as `listen_mcast` prints it in JSON mode (YNL shape). */
export interface Ntf {
  name: string;
  msg: { ifindex?: number; peer?: Record<string, unknown>; keyconf?: Record<string, unknown> };
}

/**
 * The comparison form of spec §7.3: drop messages whose peer carries `remote-ipv6` (IPv6 floats name a
 * variable scope id), drop `ifindex`, and sort by peer id (stably: arrival order is kept for one id).
 * Messages without a peer (key-swap-ntf) are kept, sorted first, so that any of them fails the check.
 */
export function normalize(list: Ntf[]): Ntf[] {
  const kept = list
    .filter((n) => !(n.msg.peer && 'remote-ipv6' in n.msg.peer))
    .map((n) => {
      const { ifindex: _ifindex, ...msg } = n.msg;
      return { name: n.name, msg };
    });
  const key = (n: Ntf) => (typeof n.msg.peer?.id === 'number' ? n.msg.peer.id : -1);
  return kept.sort((a, b) => key(a) - key(b));
}

const del = (id: number, reason: string): Ntf => ({
  name: 'peer-del-ntf',
  msg: { peer: { 'del-reason': reason, id } },
});

/**
 * What namespace peer<p> must have received by the end of test.sh (the kernel's json/peer<p>*.json):
 * the server sees its peers 1 and 2 deleted by userspace and 3..6 expire, after (with float) the three
 * IPv4 clients floated to .3; client p sees its one peer deleted by userspace (clients 1, 2) or expire.
 */
export function expectedTestShNtfs(p: number, opts: { symmetric: boolean; float: boolean }): Ntf[] {
  const list: Ntf[] = [];
  if (p === 0) {
    if (opts.float) {
      for (let c = 1; c <= NUM_PEERS; c++) {
        if (transportFamily(c) !== 4) continue;
        list.push({
          name: 'peer-float-ntf',
          msg: { peer: { id: c, 'remote-ipv4': vethAddr(c, 3), 'remote-port': PORT } },
        });
      }
    }
    for (let c = 1; c <= NUM_PEERS; c++) list.push(del(c, c <= 2 ? 'userspace' : 'expired'));
  } else {
    list.push(del(clientPeerId(p, opts.symmetric), p <= 2 ? 'userspace' : 'expired'));
  }
  return normalize(list);
}

/** close-socket: every peer everywhere goes because its socket was closed. */
export function expectedCloseSocketNtfs(p: number): Ntf[] {
  if (p === 0) {
    const list: Ntf[] = [];
    for (let c = 1; c <= NUM_PEERS; c++) list.push(del(c, 'transport-disconnect'));
    return normalize(list);
  }
  return normalize([del(clientPeerId(p, false), 'transport-disconnect')]);
}
