/**
 * UDP data path on real TUN devices in network namespaces (issue 3): P2P and MP, IPv4 and IPv6
 * transports, routing to a LAN behind a client, fragmented inner packets, both ciphers, rekey on one
 * side, peer deletion under traffic, DATA_V2 headers on the wire and control packets both ways.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { canUseNetns } from '../../src/lab/netns.js';
import { type ClientNode, Topology } from '../../src/lab/topology.js';
import { captureOne } from '../support/capture.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';

interface DevStats {
  rxPackets: number;
  txPackets: number;
  drops: Record<string, number>;
}

async function pingAll(t: Topology, c: ClientNode, count = 5): Promise<void> {
  for (const [ns, dst] of [
    [t.server.ns, c.vpn4],
    [t.server.ns, c.vpn6],
    [c.ns, t.server.vpn4],
    [c.ns, t.server.vpn6],
  ]) {
    const r = await t.ping(ns, dst, { count, intervalS: 0.05 });
    assert.equal(r.received, count, `${ns} -> ${dst}: ${r.output}`);
  }
}

describe('UDP tunnels: P2P <-> P2P', { skip }, () => {
  for (const transport of [4, 6] as const) {
    it(`passes IPv4 and IPv6 traffic over IPv${transport} transport`, async () => {
      const t = await Topology.create({
        prefix: `ovu${transport}`,
        serverMode: 'p2p',
        clients: [{ transport }],
      });
      try {
        await pingAll(t, t.clients[0]);
        const peers = await t.server.agent.request<{ id: number; 'vpn-rx-packets': number }[]>(
          'peer-get',
          { ifindex: t.server.ifindex },
          { dump: true },
        );
        assert.equal(peers.length, 1);
        assert.ok(peers[0]['vpn-rx-packets'] >= 10);
        // P2P carrier follows the peer: it goes off when the peer is deleted
        assert.doesNotMatch(t.lab.exec(t.server.ns, 'ip', ['link', 'show', 'tun0']), /NO-CARRIER/);
        await t.server.agent.request('peer-del', { ifindex: t.server.ifindex, peer: { id: 1 } });
        assert.match(t.lab.exec(t.server.ns, 'ip', ['link', 'show', 'tun0']), /NO-CARRIER/);
      } finally {
        await t.close();
      }
    });
  }
});

describe('UDP tunnels: MP server with three clients on mixed transports', { skip }, () => {
  let t: Topology;
  before(async () => {
    t = await Topology.create({
      prefix: 'ovmp',
      clients: [{ transport: 4 }, { transport: 6 }, { transport: 4 }],
    });
  });
  after(async () => {
    await t?.close();
  });

  it('each client reaches the server and back, IPv4 and IPv6 inside', async () => {
    for (const c of t.clients) await pingAll(t, c);
  });

  it('clients reach each other through the server (MP routing by VPN address)', async () => {
    const [c1, c2, c3] = t.clients;
    for (const [from, to] of [
      [c1, c2],
      [c2, c3],
      [c3, c1],
    ]) {
      // clients are P2P: route the other clients' addresses into the tunnel
      const r = await t.ping(from.ns, to.vpn4, { count: 3, intervalS: 0.05 });
      assert.equal(r.received, 3, r.output);
    }
  });

  it('a LAN behind a client is reached through a route via its VPN address', async () => {
    const c1 = t.clients[0];
    t.lab.exec(c1.ns, 'ip', ['addr', 'add', '11.11.11.11/32', 'dev', c1.ifname]);
    t.lab.exec(t.server.ns, 'ip', ['route', 'add', '11.11.11.11', 'via', c1.vpn4, 'dev', 'tun0']);
    const r = await t.ping(t.server.ns, '11.11.11.11', { count: 5, intervalS: 0.05 });
    assert.equal(r.received, 5, r.output);
    // without the route the server has no peer for that address: a counted drop, not a crash
    t.lab.exec(t.server.ns, 'ip', ['route', 'del', '11.11.11.11']);
    t.lab.exec(t.server.ns, 'ip', ['route', 'add', '11.11.11.0/24', 'dev', 'tun0']);
    const before = await t.server.agent.request<DevStats>('dev-stats', { ifname: 'tun0' });
    const lost = await t.ping(t.server.ns, '11.11.11.11', { count: 2, intervalS: 0.05, deadlineS: 2 });
    assert.equal(lost.received, 0);
    const afterStats = await t.server.agent.request<DevStats>('dev-stats', { ifname: 'tun0' });
    assert.ok((afterStats.drops['tx-no-peer'] ?? 0) >= (before.drops['tx-no-peer'] ?? 0) + 2);
    t.lab.exec(t.server.ns, 'ip', ['route', 'del', '11.11.11.0/24']);
  });

  it('3000-byte pings (fragmented inner packets) go through in both directions', async () => {
    for (const c of t.clients) {
      const r = await t.ping(t.server.ns, c.vpn4, { count: 20, size: 3000, intervalS: 0.02 });
      assert.equal(r.received, 20, r.output);
      const r6 = await t.ping(c.ns, t.server.vpn6, { count: 10, size: 3000, intervalS: 0.02 });
      assert.equal(r6.received, 10, r6.output);
    }
  });

  it('packets on the wire are DATA_V2 with the receiver id and key-id 0 in their first four bytes', async () => {
    for (const c of t.clients) {
      // UDP payload starts 8 bytes into the UDP header; IPv6: 40-byte header + 8
      const at = c.transport === 4 ? 'udp[8:4]' : 'ip6[48:4]';
      const proto = c.transport === 4 ? 'udp' : 'ip6 and udp';
      const toClient = captureOne(
        t.lab,
        c.ns,
        `v${c.index}c`,
        `${proto} and ${at} = 0x${(0x48000000 + c.clientPeerId).toString(16)}`,
      );
      const toServer = captureOne(
        t.lab,
        c.ns,
        `v${c.index}c`,
        `${proto} and ${at} = 0x${(0x48000000 + c.serverPeerId).toString(16)}`,
      );
      await Promise.all([toClient.ready, toServer.ready]);
      await t.ping(t.server.ns, c.vpn4, { count: 3, intervalS: 0.05 });
      assert.ok(await toClient.done, `no DATA_V2 to client ${c.index} with peer-id ${c.clientPeerId}`);
      assert.ok(await toServer.done, `no DATA_V2 to the server with peer-id ${c.serverPeerId}`);
    }
  });

  it('control packets reach the control consumer with their source, and go out through the socket', async () => {
    const c1 = t.clients[0];
    const payload = `38${'ab'.repeat(40)}`; // P_CONTROL_HARD_RESET_CLIENT_V2, key-id 0
    const before = t.server.events.controls.length;
    // a client-side "control plane" on its own port sends to the server's socket, then waits for an answer
    const py = [
      'import socket,sys',
      's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
      `s.bind(('${c1.addr}',5555))`,
      's.settimeout(10)',
      `s.sendto(bytes.fromhex('${payload}'),('${c1.serverAddr}',${t.port}))`,
      'd,a=s.recvfrom(2000)',
      'print(d.hex(), a[0], a[1])',
    ].join('\n');
    const reply = t.lab.run(c1.ns, 'python3', ['-c', py], 15_000);
    await t.server.events.waitFor(() => t.server.events.controls.length > before, 10_000, 'control packet');
    const got = t.server.events.controls[before];
    assert.equal(got.packet, payload);
    assert.equal(got['remote-addr'], c1.addr);
    assert.equal(got['remote-port'], 5555);
    assert.equal(got.ifindex, t.server.ifindex);
    assert.equal(got.socket, t.server.sockFd, 'the socket as the agent handed it over');
    const answer = `40${'cd'.repeat(30)}`; // P_CONTROL_HARD_RESET_SERVER_V2
    await t.server.agent.request('control-send', {
      ifindex: t.server.ifindex,
      socket: t.server.sockFd,
      'remote-addr': c1.addr,
      'remote-port': 5555,
      packet: answer,
    });
    const r = await reply;
    assert.equal(r.stdout.trim(), `${answer} ${c1.serverAddr} ${t.port}`, r.stderr);
  });

  it('DATA_V1 and garbage are counted drops', async () => {
    const c1 = t.clients[0];
    const before = await t.server.agent.request<DevStats>('dev-stats', { ifname: 'tun0' });
    const py = [
      'import socket',
      's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
      `d=('${c1.serverAddr}',${t.port})`,
      "s.sendto(bytes.fromhex('30000000000000010203'), d)", // DATA_V1
      "s.sendto(bytes.fromhex('48'), d)", // too short
      "s.sendto(bytes.fromhex('48000099' + '00'*40), d)", // unknown peer-id
      "s.sendto(bytes.fromhex('48000001' + '00'*40), d)", // right peer, forged tag
    ].join('\n');
    t.lab.exec(c1.ns, 'python3', ['-c', py]);
    await new Promise((r) => setTimeout(r, 300));
    const s = await t.server.agent.request<DevStats>('dev-stats', { ifname: 'tun0' });
    const inc = (k: string) => (s.drops[k] ?? 0) - (before.drops[k] ?? 0);
    assert.equal(inc('rx-data-v1'), 1);
    assert.equal(inc('rx-short'), 1);
    assert.equal(inc('rx-no-peer'), 1);
    assert.equal(inc('rx-auth'), 1);
    await pingAll(t, c1, 2);
  });

  it('rekey: secondary key installed on both sides, swapped on the client only, no ping lost', async () => {
    const c2 = t.clients[1];
    const ping = t.ping(c2.ns, t.server.vpn4, { count: 60, intervalS: 0.05, deadlineS: 20 });
    await new Promise((r) => setTimeout(r, 700));
    await t.installKeys(c2, 1, 'secondary');
    await c2.agent.request('key-swap', { ifindex: c2.ifindex, keyconf: { 'peer-id': c2.clientPeerId } });
    const r = await ping;
    assert.equal(r.received, 60, r.output);
    // the client now sends with key-id 1 from its primary; the server still has key-id 0 as primary
    const k = await c2.agent.request<{ 'key-id': number }>('key-get', {
      ifindex: c2.ifindex,
      keyconf: { 'peer-id': c2.clientPeerId, slot: 'primary' },
    });
    assert.equal(k['key-id'], 1);
    const ks = await t.server.agent.request<{ 'key-id': number }>('key-get', {
      ifindex: t.server.ifindex,
      keyconf: { 'peer-id': c2.serverPeerId, slot: 'primary' },
    });
    assert.equal(ks['key-id'], 0);
    await pingAll(t, c2, 3);
  });

  it('a peer deleted under traffic: notified once, its traffic stops, the others carry on', async () => {
    const c3 = t.clients[2];
    const flood = t.ping(c3.ns, t.server.vpn4, { count: 100_000, flood: true, deadlineS: 4 });
    await new Promise((r) => setTimeout(r, 1500));
    await t.server.agent.request('peer-del', { ifindex: t.server.ifindex, peer: { id: c3.serverPeerId } });
    const r = await flood;
    assert.ok(r.received > 0 && r.received < r.sent, r.output);
    await t.server.events.waitFor(
      () => t.server.events.notifications.some((n) => n?.name === 'peer-del-ntf'),
      5000,
      'peer-del-ntf',
    );
    const dels = t.server.events.notifications.filter((n) => n?.name === 'peer-del-ntf');
    assert.deepEqual(dels, [
      {
        name: 'peer-del-ntf',
        msg: { ifindex: t.server.ifindex, peer: { 'del-reason': 'userspace', id: c3.serverPeerId } },
      },
    ]);
    const gone = await t.ping(c3.ns, t.server.vpn4, { count: 2, intervalS: 0.1, deadlineS: 2 });
    assert.equal(gone.received, 0);
    for (const c of t.clients.slice(0, 2)) await pingAll(t, c, 2);
  });
});

describe('UDP tunnels with ChaCha20-Poly1305 and AES-128-GCM', { skip }, () => {
  for (const [cipher, keyLen] of [
    ['chacha20-poly1305', 32],
    ['aes-gcm', 16],
  ] as const) {
    it(`${cipher} (${keyLen * 8}-bit key) carries pings both ways, large and small`, async () => {
      const t = await Topology.create({
        prefix: cipher === 'aes-gcm' ? 'ovag' : 'ovcc',
        cipher,
        keyLen,
        clients: [{ transport: 4 }, { transport: 6 }],
      });
      try {
        for (const c of t.clients) {
          await pingAll(t, c, 3);
          const r = await t.ping(t.server.ns, c.vpn6, { count: 5, size: 3000, intervalS: 0.02 });
          assert.equal(r.received, 5, r.output);
        }
        const k = await t.server.agent.request<{ 'cipher-alg': string }>('key-get', {
          ifindex: t.server.ifindex,
          keyconf: { 'peer-id': 1, slot: 'primary' },
        });
        assert.equal(k['cipher-alg'], cipher);
      } finally {
        await t.close();
      }
    });
  }
});

describe('UDP tunnels: socket mark and unknown peer-id', { skip }, () => {
  it("the server socket's SO_MARK applies to tunnel traffic (policy routing by mark)", async () => {
    const t = await Topology.create({ prefix: 'ovmk', serverMark: 1056, clients: [{ transport: 4 }] });
    try {
      const c = t.clients[0];
      await pingAll(t, c, 3);
      // packets carrying mark 1056 are routed by table 100, which blackholes the client's network
      t.lab.exec(t.server.ns, 'ip', ['route', 'add', 'blackhole', '10.10.1.0/24', 'table', '100']);
      t.lab.exec(t.server.ns, 'ip', ['rule', 'add', 'fwmark', '1056', 'table', '100']);
      const blocked = await t.ping(t.server.ns, c.vpn4, { count: 3, intervalS: 0.1, deadlineS: 2 });
      assert.equal(blocked.received, 0, blocked.output);
      const s = await t.server.agent.request<DevStats & { txPackets: number }>('dev-stats', {
        ifname: 'tun0',
      });
      assert.ok((s.drops['tx-transport'] ?? 0) >= 3, JSON.stringify(s));
      t.lab.exec(t.server.ns, 'ip', ['rule', 'del', 'fwmark', '1056', 'table', '100']);
      await pingAll(t, c, 3);
    } finally {
      await t.close();
    }
  });

  it('a client sending peer-id 0xFFFFFF is found by its source address', async () => {
    const t = await Topology.create({ prefix: 'ovun', clients: [{ transport: 4 }, { transport: 6 }] });
    try {
      for (const c of t.clients) {
        await c.agent.request('peer-set', {
          ifindex: c.ifindex,
          peer: { id: c.clientPeerId, 'tx-id': 0xffffff },
        });
        const at = c.transport === 4 ? 'udp[8:4]' : 'ip6[48:4]';
        const proto = c.transport === 4 ? 'udp' : 'ip6 and udp';
        const cap = captureOne(t.lab, c.ns, `v${c.index}c`, `${proto} and ${at} = 0x48ffffff`);
        await cap.ready;
        await pingAll(t, c, 3);
        assert.ok(await cap.done, 'the client did not send peer-id 0xFFFFFF');
      }
    } finally {
      await t.close();
    }
  });
});
