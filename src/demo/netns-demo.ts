/**
 * The main job: real tunnels between network namespaces. An MP server and two P2P clients, one over
 * IPv4 and one over IPv6 transport, each in its own namespace with its own ovpn-ts data plane; keys
 * generated for the run; ping and a short iperf3 through each tunnel; then per-peer stats. Everything
 * is removed afterwards, also on failure or Ctrl-C.
 */
import type { DevStats, PeerInfo } from '../api/messages.js';
import { measureTcp } from '../lab/iperf.js';
import { Topology } from '../lab/topology.js';

const gbps = (bps: number) => `${(bps / 1e9).toFixed(2)} Gbit/s`;
const hostPort = (addr: string, port: number | undefined) =>
  addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

export async function runNetnsDemo(opts: { iperfSeconds?: number } = {}): Promise<boolean> {
  const seconds = opts.iperfSeconds ?? 3;
  console.log('ovpn-ts demo: MP server + 2 P2P clients in network namespaces (ovdemo-*)');
  const t = await Topology.create({ prefix: 'ovdemo', clients: [{ transport: 4 }, { transport: 6 }] });
  let ok = true;
  const stop = () => {
    void t.close().then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  try {
    console.log(`  server ${t.server.ns}: ${t.server.ifname} (mp) ${t.server.vpn4} ${t.server.vpn6}`);
    for (const c of t.clients) {
      console.log(
        `  client ${c.ns}: ${c.ifname} (p2p) ${c.vpn4} ${c.vpn6}, transport IPv${c.transport} ${c.addr} -> ${hostPort(c.serverAddr, t.port)}`,
      );
    }
    console.log(`  cipher ${t.cipher}, ${t.keyLen * 8}-bit keys generated for this run\n`);

    for (const c of t.clients) {
      for (const [from, to] of [
        [t.server.ns, c.vpn4],
        [t.server.ns, c.vpn6],
        [c.ns, t.server.vpn4],
      ]) {
        const r = await t.ping(from, to, { count: 5, intervalS: 0.1 });
        const good = r.received === r.sent && r.sent > 0;
        ok &&= good;
        console.log(
          `ping ${from.padEnd(10)} -> ${to.padEnd(8)} ${r.received}/${r.sent} ${good ? 'ok' : 'LOST'}`,
        );
      }
    }
    const c2c = await t.ping(t.clients[0].ns, t.clients[1].vpn4, { count: 3, intervalS: 0.1 });
    ok &&= c2c.received === 3;
    console.log(`ping client 1 -> client 2 through the server: ${c2c.received}/3\n`);

    for (const c of t.clients) {
      const up = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, seconds, false);
      const down = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, seconds, true);
      console.log(
        `iperf3 ${seconds}s client ${c.index} (IPv${c.transport} transport): up ${gbps(up.bitsPerSecond)}, down ${gbps(down.bitsPerSecond)}`,
      );
    }

    console.log('\nper-peer stats (peer-get dump):');
    for (const node of [t.server, ...t.clients]) {
      const peers: PeerInfo[] = await node.agent.peerDump({ ifindex: node.ifindex });
      for (const p of peers) {
        const remote = p['remote-ipv4'] ?? p['remote-ipv6'];
        console.log(
          `  ${node.ns} ${node.ifname} peer ${p.id} (tx-id ${p['tx-id']}) remote ${hostPort(remote ?? '?', p['remote-port'])}`,
        );
        console.log(
          `    vpn  rx ${p['vpn-rx-packets']} pkts ${p['vpn-rx-bytes']} B   tx ${p['vpn-tx-packets']} pkts ${p['vpn-tx-bytes']} B`,
        );
        console.log(
          `    link rx ${p['link-rx-packets']} pkts ${p['link-rx-bytes']} B   tx ${p['link-tx-packets']} pkts ${p['link-tx-bytes']} B`,
        );
      }
      const s = await node.agent.request<DevStats>('dev-stats', {
        ifname: node.ifname,
      });
      console.log(`    ${node.ifname} drops: ${JSON.stringify(s.drops)}`);
    }
  } finally {
    process.removeListener('SIGINT', stop);
    await t.close();
  }
  console.log(ok ? '\ndemo ok: every ping answered' : '\ndemo FAILED: pings were lost');
  return ok;
}
