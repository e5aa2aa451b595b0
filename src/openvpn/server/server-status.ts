/**
 * The server's `--status` snapshot (status-file.ts StatusSnapshot) from what the shell knows: its
 * client records (server-client.ts ClientRecord), the data plane's per-peer counters, and the routes
 * each client brought (server-routes.ts).
 *
 * - clients: every client the shell has, as 2.6 lists every instance (one still in its handshake as
 *   UNDEF with no address), in peer-id order; `Connected Since` is when its first packet came;
 * - bytes: the peer's link RX/TX bytes (every DATA_V2 byte on the wire, keepalives included: 2.6's
 *   dco_read_bytes / dco_write_bytes); the control channel is not counted (2.6 with DCO adds its
 *   link_read_bytes for control packets; ours pass outside the peer's counters);
 * - client id: the record's (2.6's cid: counted up for every instance created);
 * - routing table: each client's IPv4 and IPv6 VPN address once it is up, then its iroutes;
 *   `Last Ref` is when the client came up (2.6 updates it per packet routed in userspace; with DCO the
 *   kernel routes and 2.6's own value stays near the learn time too).
 */
import type { PeerInfo } from '../../api/messages.js';
import type { ClientRecord } from './server-client.js';
import type { ClientRoute } from './server-routes.js';
import type { StatusClient, StatusRealAddress, StatusRoute, StatusSnapshot } from './status-file.js';
import { ovpnTsTitle } from './status-writer.js';

export interface StatusSources {
  records: () => ClientRecord[];
  counters: (peerId: number) => PeerInfo | undefined;
  routesOf: (peerId: number) => readonly ClientRoute[];
}

export class ServerStatus {
  constructor(private readonly src: StatusSources) {}

  snapshot(): StatusSnapshot {
    const clients: StatusClient[] = [];
    const routes: StatusRoute[] = [];
    const records = [...this.src.records()].sort((a, b) => a.peerId - b.peerId);
    for (const r of records) {
      const stats = this.src.counters(r.peerId);
      const c: StatusClient = {
        commonName: r.commonName,
        real: realAddress(r.realAddress),
        virtualIpv4: r.vpn?.ifconfig?.local,
        virtualIpv6: r.vpn?.ifconfigIpv6?.local,
        bytesReceived: stats?.['link-rx-bytes'] ?? 0,
        bytesSent: stats?.['link-tx-bytes'] ?? 0,
        connectedSince: Math.floor(r.createdMs / 1000),
        username: r.username,
        clientId: r.clientId,
        peerId: r.peerId,
        cipher: r.cipher ?? 'none',
      };
      clients.push(c);
      if (r.connectedSinceMs === undefined) continue;
      const lastRef = Math.floor(r.connectedSinceMs / 1000);
      for (const address of [c.virtualIpv4, c.virtualIpv6]) {
        if (address !== undefined)
          routes.push({ address, prefix: undefined, cached: false, client: c, lastRef });
      }
      for (const ir of this.src.routesOf(r.peerId)) {
        if (ir.iroute) routes.push({ address: ir.dst, prefix: ir.prefix, cached: false, client: c, lastRef });
      }
    }
    return { title: ovpnTsTitle(), clients, routes, maxBcastQueue: 0, dcoEnabled: true };
  }
}

/** `a.b.c.d:port` / `[v6]:port` (the record's text) to address and port. */
export function realAddress(text: string): StatusRealAddress {
  const m = /^\[(.*)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  if (m === null) return { address: '0.0.0.0', port: 0 };
  return { address: m[1], port: Number(m[2]) };
}
