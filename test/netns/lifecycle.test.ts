/**
 * Peer lifecycle on real tunnels (issue 4, spec ovpn-kernel §3.7, §4.6, §4.7): keepalive expiry in MP
 * and P2P, peers with traffic or keepalives never expiring, float of a client to a new address, and
 * every removal path producing exactly one peer-del-ntf with the right reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canUseNetns } from '../../src/lab/netns.js';
import { Topology, type TunnelNode } from '../../src/lab/topology.js';
import { captureOne } from '../support/capture.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Ntf = { name: string; msg: { ifindex: number; peer?: Record<string, unknown> } };
const ntfs = (n: TunnelNode, name = 'peer-del-ntf') =>
  (n.events.notifications as Ntf[]).filter((x) => x.name === name);

async function setKeepalive(n: TunnelNode, id: number, interval: number, timeout: number): Promise<void> {
  await n.agent.request('peer-set', {
    ifindex: n.ifindex,
    peer: { id, 'keepalive-interval': interval, 'keepalive-timeout': timeout },
  });
}

describe('keepalive', { skip }, () => {
  it('MP: a silent peer expires (reason expired); peers with keepalives or traffic do not', async () => {
    const t = await Topology.create({
      prefix: 'ovka',
      clients: [{ transport: 4 }, { transport: 6 }, { transport: 4 }],
    });
    try {
      const [c1, c2, c3] = t.clients;
      // c1 is silent: the server expects keepalives every 1 s and gives up after 3 s
      await setKeepalive(t.server, c1.serverPeerId, 1, 3);
      // c2 answers with its own keepalives: never expires
      await setKeepalive(t.server, c2.serverPeerId, 1, 3);
      await setKeepalive(c2, c2.clientPeerId, 1, 3);
      // c3 has no keepalive of its own but keeps pinging
      await setKeepalive(t.server, c3.serverPeerId, 2, 3);
      const ping = t.ping(c3.ns, t.server.vpn4, { count: 60, intervalS: 0.1, deadlineS: 10 });
      await t.server.events.waitFor(() => ntfs(t.server).length > 0, 8000, 'expiry');
      await sleep(2500);
      assert.equal((await ping).received, 60);
      assert.deepEqual(ntfs(t.server), [
        {
          name: 'peer-del-ntf',
          msg: { ifindex: t.server.ifindex, peer: { 'del-reason': 'expired', id: c1.serverPeerId } },
        },
      ]);
      const left = await t.server.agent.request<{ id: number }[]>(
        'peer-get',
        { ifindex: t.server.ifindex },
        { dump: true },
      );
      assert.deepEqual(
        left.map((p) => p.id),
        [c2.serverPeerId, c3.serverPeerId],
      );
      // keepalives are link traffic only: c2's peer on the server received some but no VPN packets
      const p2 = await t.server.agent.request<Record<string, number>>('peer-get', {
        ifindex: t.server.ifindex,
        peer: { id: c2.serverPeerId },
      });
      assert.ok(p2['link-rx-packets'] >= 3, JSON.stringify(p2));
      assert.ok(p2['link-tx-packets'] >= 3, JSON.stringify(p2));
    } finally {
      await t.close();
    }
  });

  it('P2P: the client peer expires when the server stops sending (reason expired); 0/0 disables', async () => {
    const t = await Topology.create({ prefix: 'ovkp', clients: [{ transport: 6 }, { transport: 4 }] });
    try {
      const [c1, c2] = t.clients;
      await setKeepalive(c1, c1.clientPeerId, 1, 2);
      await setKeepalive(c2, c2.clientPeerId, 1, 2);
      await setKeepalive(c2, c2.clientPeerId, 0, 0); // disabled again
      await c1.events.waitFor(() => ntfs(c1).length > 0, 6000, 'expiry');
      await sleep(2500);
      assert.deepEqual(ntfs(c1), [
        {
          name: 'peer-del-ntf',
          msg: { ifindex: c1.ifindex, peer: { 'del-reason': 'expired', id: c1.clientPeerId } },
        },
      ]);
      assert.deepEqual(ntfs(c2), []);
      assert.match(t.lab.exec(c1.ns, 'ip', ['link', 'show', c1.ifname]), /NO-CARRIER/);
    } finally {
      await t.close();
    }
  });
});

describe('float', { skip }, () => {
  it('a client that changes its address under traffic is followed within one packet, notified once', async () => {
    const t = await Topology.create({ prefix: 'ovfl', clients: [{ transport: 4 }] });
    try {
      const c = t.clients[0];
      // the client sends (as in the kernel selftest): its packets are what reveals the new address
      const flood = t.ping(c.ns, t.server.vpn4, { count: 400, intervalS: 0.01, deadlineS: 15 });
      await sleep(500);
      // One `ip -batch` so the client is without an address only for a moment. (Delete first: deleting
      // a primary address also deletes the secondaries of its subnet.)
      t.lab.exec(c.ns, 'sh', [
        '-c',
        "printf 'addr del 10.10.1.2/24 dev v1c\naddr add 10.10.1.3/24 dev v1c\n' | ip -batch -",
      ]);
      // the client's replies now leave from 10.10.1.3; the first authenticated one moves the peer
      await t.server.events.waitFor(
        () => ntfs(t.server, 'peer-float-ntf').length > 0,
        5000,
        'peer-float-ntf',
      );
      const r = await flood;
      // only an exchange in flight at the moment of the change can be lost (a reply sent to the old
      // address); the first request from the new address moves the peer, and its reply comes back
      assert.ok(r.received >= r.sent - 2, r.output);
      assert.deepEqual(ntfs(t.server, 'peer-float-ntf'), [
        {
          name: 'peer-float-ntf',
          msg: {
            ifindex: t.server.ifindex,
            peer: { id: c.serverPeerId, 'remote-ipv4': '10.10.1.3', 'remote-port': t.port },
          },
        },
      ]);
      const p = await t.server.agent.request<Record<string, unknown>>('peer-get', {
        ifindex: t.server.ifindex,
        peer: { id: c.serverPeerId },
      });
      assert.equal(p['remote-ipv4'], '10.10.1.3');
      assert.equal(p['local-ipv4'], '10.10.1.1');
      // nothing goes to the old address any more
      const old = captureOne(t.lab, t.server.ns, 'v1s', 'udp and dst host 10.10.1.2', 3000);
      await old.ready;
      const after = await t.ping(t.server.ns, c.vpn4, { count: 10, intervalS: 0.05 });
      assert.equal(after.received, 10, after.output);
      assert.equal(await old.done, false, 'a packet went to the old address');
    } finally {
      await t.close();
    }
  });
});

describe('removal paths: exactly one peer-del-ntf each, with the right reason', { skip }, () => {
  it('UDP: closing the shared socket removes every peer using it (transport-disconnect)', async () => {
    const t = await Topology.create({ prefix: 'ovru', clients: [{ transport: 4 }, { transport: 6 }] });
    try {
      await t.server.agent.request('fd-close', { fd: t.server.sockFd });
      await t.server.events.waitFor(() => ntfs(t.server).length >= 2, 5000, 'peer-del-ntf');
      await sleep(300);
      assert.deepEqual(
        ntfs(t.server).map((n) => n.msg.peer),
        [
          { 'del-reason': 'transport-disconnect', id: 1 },
          { 'del-reason': 'transport-disconnect', id: 2 },
        ],
      );
    } finally {
      await t.close();
    }
  });

  it('TCP: owner close (transport-disconnect), stream error (transport-error), remote close (transport-disconnect)', async () => {
    const t = await Topology.create({
      prefix: 'ovrt',
      proto: 'tcp',
      clients: [{ transport: 4 }, { transport: 6 }, { transport: 4 }],
    });
    try {
      const [c1, c2, c3] = t.clients;
      for (const c of t.clients)
        assert.equal((await t.ping(c.ns, t.server.vpn4, { count: 2, intervalS: 0.05 })).received, 2);
      // 1. the server's control plane closes c1's socket
      await t.server.agent.request('fd-close', { fd: c1.serverFd });
      // 2. c2 sends a DATA_V1 frame into the stream: a stream error on the server
      await c2.agent.request('control-send', {
        ifindex: c2.ifindex,
        socket: c2.sockFd,
        packet: '000830000000010203040506'.slice(0, 4 + 16),
      });
      // 3. c3's control plane deletes its peer and closes its socket: the server sees the remote close
      await c3.agent.request('peer-del', { ifindex: c3.ifindex, peer: { id: c3.clientPeerId } });
      await c3.agent.request('fd-close', { fd: c3.sockFd });
      await t.server.events.waitFor(() => ntfs(t.server).length >= 3, 8000, 'three peer-del-ntf');
      await sleep(500);
      const byId = new Map(ntfs(t.server).map((n) => [n.msg.peer?.id, n.msg.peer?.['del-reason']]));
      assert.equal(ntfs(t.server).length, 3);
      assert.equal(byId.get(c1.serverPeerId), 'transport-disconnect');
      assert.equal(byId.get(c2.serverPeerId), 'transport-error');
      assert.equal(byId.get(c3.serverPeerId), 'transport-disconnect');
      assert.deepEqual(ntfs(c3), [
        {
          name: 'peer-del-ntf',
          msg: { ifindex: c3.ifindex, peer: { 'del-reason': 'userspace', id: c3.clientPeerId } },
        },
      ]);
    } finally {
      await t.close();
    }
  });
});
