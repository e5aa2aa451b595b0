/**
 * TCP transport on real TUN devices in network namespaces (issue 4): P2P and MP over TCP with IPv4 and
 * IPv6 transport, pings of every size, iperf3, and control packets both ways through the stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { measureTcp } from '../../src/lab/iperf.js';
import { canUseNetns } from '../../src/lab/netns.js';
import { type ClientNode, Topology } from '../../src/lab/topology.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';

async function pingAll(t: Topology, c: ClientNode, count = 5, size?: number): Promise<void> {
  for (const [ns, dst] of [
    [t.server.ns, c.vpn4],
    [t.server.ns, c.vpn6],
    [c.ns, t.server.vpn4],
    [c.ns, t.server.vpn6],
  ]) {
    const r = await t.ping(ns, dst, { count, size, intervalS: 0.05 });
    assert.equal(r.received, count, `${ns} -> ${dst}: ${r.output}`);
  }
}

describe('TCP tunnels: P2P <-> P2P', { skip }, () => {
  for (const transport of [4, 6] as const) {
    it(`over IPv${transport}: pings small and 3000-byte, iperf3 both ways`, async () => {
      const t = await Topology.create({
        prefix: `ovp${transport}`,
        proto: 'tcp',
        serverMode: 'p2p',
        clients: [{ transport }],
      });
      try {
        const c = t.clients[0];
        await pingAll(t, c);
        await pingAll(t, c, 5, 3000);
        const up = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, 2, false);
        const down = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, 2, true);
        assert.ok(
          up.bitsPerSecond > 1e6 && down.bitsPerSecond > 1e6,
          `${up.bitsPerSecond} / ${down.bitsPerSecond}`,
        );
        const [p] = await t.server.agent.request<Record<string, unknown>[]>(
          'peer-get',
          { ifindex: t.server.ifindex },
          { dump: true },
        );
        assert.equal(p['remote-ipv4'], undefined, 'a TCP peer has no remote address attributes');
        assert.equal(p['remote-port'], undefined);
        assert.equal(p['local-port'], t.port);
      } finally {
        await t.close();
      }
    });
  }
});

describe('TCP tunnels: MP server with clients over IPv4 and IPv6', { skip }, () => {
  let t: Topology;
  before(async () => {
    t = await Topology.create({
      prefix: 'ovtm',
      proto: 'tcp',
      clients: [{ transport: 4 }, { transport: 6 }],
    });
  });
  after(async () => {
    await t?.close();
  });

  it('pings (small and 3000-byte) and iperf3 through each client', async () => {
    for (const c of t.clients) {
      await pingAll(t, c);
      await pingAll(t, c, 3, 3000);
      const r = await measureTcp(t.lab, t.server.ns, c.ns, t.server.vpn4, 2, false);
      assert.ok(r.bitsPerSecond > 1e6, String(r.bitsPerSecond));
    }
    const r = await t.ping(t.clients[0].ns, t.clients[1].vpn4, { count: 3, intervalS: 0.05 });
    assert.equal(r.received, 3, r.output);
  });

  it('control packets go both ways through the stream, whole and in order with data', async () => {
    const c = t.clients[0];
    const before = t.server.events.controls.length;
    const body = '86'.repeat(1000); // the selftest's fake control packet: 1000 bytes of 0x86 (opcode 16)
    const frame = `03e8${body}`;
    const ping = t.ping(c.ns, t.server.vpn4, { count: 20, intervalS: 0.02 });
    for (let i = 0; i < 5; i++)
      await c.agent.request('control-send', { ifindex: c.ifindex, socket: c.sockFd, packet: frame });
    await t.server.events.waitFor(
      () => t.server.events.controls.length >= before + 5,
      10_000,
      'control frames',
    );
    for (const m of t.server.events.controls.slice(before)) {
      assert.equal(m.packet, frame);
      assert.equal(m['remote-addr'], c.addr);
    }
    const answer = `0022${'40'}${'cd'.repeat(33)}`;
    const cb = c.events.controls.length;
    await t.server.agent.request('control-send', {
      ifindex: t.server.ifindex,
      socket: c.serverFd,
      packet: answer,
    });
    await c.events.waitFor(() => c.events.controls.length > cb, 10_000, 'control frame at the client');
    assert.equal(c.events.controls[cb].packet, answer);
    assert.equal((await ping).received, 20);
    // a control packet that is not one whole frame is refused
    await assert.rejects(
      t.server.agent.request('control-send', {
        ifindex: t.server.ifindex,
        socket: c.serverFd,
        packet: '0005aabb',
      }),
    );
  });
});
