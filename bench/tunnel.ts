/**
 * ovpn-ts throughput: one P2P UDP tunnel (AES-256-GCM) between two namespaces, one iperf3 TCP stream per
 * direction — the same shape as the OpenVPN baseline in openvpn-baseline.ts. At the default tunnel MTU
 * (1416) nothing needs clamping; at OpenVPN's default of 1500 a full-size packet no longer fits the
 * 1500-byte path once encapsulated, so the peers clamp the TCP MSS as OpenVPN 2.6 does by default.
 */
import { type IperfResult, measureTcp } from '../src/lab/iperf.js';
import { Topology } from '../src/lab/topology.js';

export interface TunnelResult {
  /** client -> server */
  forward: IperfResult;
  /** server -> client */
  reverse: IperfResult;
}

export interface TunnelOptions {
  /** Tunnel MTU; default the device default (1416). */
  mtu?: number;
  /** `mss-clamp` on both peers. */
  mssClamp?: number;
}

export async function runOvpnTsTunnel(seconds: number, opts: TunnelOptions = {}): Promise<TunnelResult> {
  const t = await Topology.create({
    prefix: 'ovbench',
    serverMode: 'p2p',
    clients: [{ transport: 4 }],
    mtu: opts.mtu,
    mssClamp: opts.mssClamp,
  });
  try {
    const c = t.clients[0];
    const ping = await t.ping(c.ns, t.server.vpn4, { count: 3, intervalS: 0.1 });
    if (ping.received !== 3) throw new Error(`tunnel does not pass pings: ${ping.output}`);
    const forward = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, seconds, false);
    const reverse = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, seconds, true);
    return { forward, reverse };
  } finally {
    await t.close();
  }
}
