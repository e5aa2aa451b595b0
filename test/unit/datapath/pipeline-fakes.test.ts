/**
 * The data path end to end on in-memory fakes (test/support/fakes/): xmit and recv over UDP and TCP,
 * P2P and MP, control packets both ways, peer-id 0xFFFFFF, float, and the MP reverse-path check.
 * No root, no sockets: a ManualClock, a FakeNetwork, FakeTuns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DropReason } from '../../../src/datapath/drop-reason.js';
import { Endpoint } from '../../../src/net/endpoint.js';
import { Stat } from '../../../src/peer/stats.js';
import {
  addrsOf,
  controlPacket,
  framed,
  ip4,
  mpStar,
  p2pPair,
  peerOf,
  range,
  seqOf,
  withLab,
} from '../../support/fakes/lab.js';

for (const proto of ['udp', 'tcp'] as const) {
  describe(`P2P over ${proto} on fakes`, () => {
    it(
      'carries batches both ways, in order, with VPN/link stats and device counters',
      withLab((lab) => {
        const { a, b } = p2pPair(lab, proto, { batchSize: 16 });
        const n = 100; // several batches of 16
        a.tun.inject(range(1, n).map((i) => ip4(a.vpn, b.vpn, i, 60 + i)));
        b.tun.inject(range(1, n).map((i) => ip4(b.vpn, a.vpn, 1000 + i)));
        lab.settle();
        assert.deepEqual(b.tun.written.map(seqOf), range(1, n));
        assert.deepEqual(a.tun.written.map(seqOf), range(1001, 1000 + n));
        // the plaintext arrives unchanged
        assert.deepEqual(b.tun.written[41], ip4(a.vpn, b.vpn, 42, 102));
        const pa = peerOf(a);
        const pb = peerOf(b);
        const bytes = range(1, n).reduce((s, i) => s + 60 + i, 0);
        assert.equal(pa.stats.get(Stat.VPN_TX_PACKETS), BigInt(n));
        assert.equal(pa.stats.get(Stat.VPN_TX_BYTES), BigInt(bytes));
        assert.equal(pa.stats.get(Stat.LINK_TX_PACKETS), BigInt(n));
        assert.equal(pa.stats.get(Stat.LINK_TX_BYTES), BigInt(bytes + 24 * n));
        assert.equal(pb.stats.get(Stat.LINK_RX_PACKETS), BigInt(n));
        assert.equal(pb.stats.get(Stat.LINK_RX_BYTES), BigInt(bytes + 24 * n));
        assert.equal(pb.stats.get(Stat.VPN_RX_PACKETS), BigInt(n));
        assert.equal(pb.stats.get(Stat.VPN_RX_BYTES), BigInt(bytes));
        assert.equal(b.dev.counters.rxPackets, n);
        assert.equal(b.dev.counters.rxBytes, bytes);
        assert.equal(a.dev.counters.txPackets, n);
        assert.equal(a.dev.counters.txBytes, bytes + 24 * n);
        assert.deepEqual(a.dev.drops.toJSON(), {});
        assert.deepEqual(b.dev.drops.toJSON(), {});
        // batching: 100 packets read in ceil(100/16) TUN batches, written in as many
        assert.equal(b.tun.writeCalls, Math.ceil(n / 16));
        assert.equal(a.tun.carrier, true);
      }),
    );

    it(
      'hands control packets to the control plane and control-send goes out in order with data',
      withLab((lab) => {
        const { a, b } = p2pPair(lab, proto);
        const ctl = controlPacket(7);
        if (proto === 'udp') {
          assert.equal(
            a.host.api.controlSend(a.ifindex, a.fd, Endpoint.parse('192.0.2.2', a.udp!.localPort), ctl),
            true,
          );
        } else {
          a.tun.inject([ip4(a.vpn, b.vpn, 1)]);
          assert.equal(a.host.api.controlSend(a.ifindex, a.fd, undefined, framed(ctl)), true);
          a.tun.inject([ip4(a.vpn, b.vpn, 2)]);
          // on the stream: data 1, control, data 2 — in the order they were sent
          assert.deepEqual(
            a.tcp!.sentFrames.map((f) => f.kind),
            ['data', 'control', 'data'],
          );
        }
        lab.settle();
        assert.equal(b.host.controls.length, 1);
        const m = b.host.controls[0];
        assert.equal(m.ifindex, b.ifindex);
        assert.equal(m.socket, b.host.sockets.identity(b.fd));
        assert.deepEqual(m.packet, proto === 'udp' ? ctl : framed(ctl));
        assert.equal(m['remote-addr'], '192.0.2.1');
        assert.equal(b.dev.counters.controlIn, 1);
        assert.equal(peerOf(b).stats.get(Stat.LINK_RX_PACKETS), proto === 'udp' ? 0n : 2n);
        if (proto === 'tcp') assert.deepEqual(b.tun.written.map(seqOf), [1, 2]);
        // nobody listening: counted as unclaimed, not as control
        const before = a.dev.drops.get(DropReason.RX_CONTROL_UNCLAIMED);
        const lab2Ctl = controlPacket(8);
        if (proto === 'udp')
          b.host.api.controlSend(b.ifindex, b.fd, Endpoint.parse('192.0.2.1', b.udp!.localPort), lab2Ctl);
        else b.host.api.controlSend(b.ifindex, b.fd, undefined, framed(lab2Ctl));
        lab.settle();
        assert.equal(a.host.controls.length, 1);
        assert.equal(a.dev.drops.get(DropReason.RX_CONTROL_UNCLAIMED), before);
      }),
    );
  });

  describe(`MP over ${proto} on fakes`, () => {
    it(
      'selects the peer by VPN address, and each client gets only its own packets',
      withLab((lab) => {
        const { stun, sdev, sides } = mpStar(lab, proto, 3, { batchSize: 8 });
        // one TUN read with packets for all three clients, interleaved
        const pkts = range(0, 29).map((i) => ip4('10.8.0.1', sides[i % 3].c.vpn, i));
        stun.inject(pkts);
        for (const { c, s } of sides) c.tun.inject([ip4(c.vpn, s.vpn, 500 + s.peerId)]);
        lab.settle();
        for (let k = 0; k < 3; k++) {
          const { c, s } = sides[k];
          assert.deepEqual(
            c.tun.written.map(seqOf),
            range(0, 29).filter((i) => i % 3 === k),
          );
          for (const p of c.tun.written) assert.equal(addrsOf(p).dst, c.vpn);
          assert.equal(peerOf(s).stats.get(Stat.VPN_TX_PACKETS), 10n);
          assert.equal(peerOf(s).stats.get(Stat.VPN_RX_PACKETS), 1n);
        }
        assert.deepEqual(stun.written.map(seqOf).sort(), [600, 601, 602]);
        assert.equal(sdev.counters.txPackets, 30);
        assert.deepEqual(sdev.drops.toJSON(), {});
      }),
    );

    it(
      'client-to-client: a packet for another client goes straight to it, without it up the TUN',
      withLab((lab) => {
        const { server, stun, sIfindex, sides } = mpStar(lab, proto, 3);
        const [one, two, three] = sides;
        one.c.tun.inject([ip4(one.c.vpn, two.c.vpn, 1)]);
        lab.settle();
        // off: up the server's TUN (the kernel decides), nothing to client two
        assert.deepEqual(stun.written.map(seqOf), [1]);
        assert.deepEqual(two.c.tun.written, []);
        server.api.setClientToClient(sIfindex, true);
        one.c.tun.inject([ip4(one.c.vpn, two.c.vpn, 2), ip4(one.c.vpn, '10.8.0.1', 3)]);
        three.c.tun.inject([ip4(three.c.vpn, one.c.vpn, 4)]);
        lab.settle();
        assert.deepEqual(two.c.tun.written.map(seqOf), [2]);
        assert.deepEqual(two.c.tun.written[0], ip4(one.c.vpn, two.c.vpn, 2));
        assert.deepEqual(one.c.tun.written.map(seqOf), [4]);
        // the server's own address still goes up its TUN
        assert.deepEqual(stun.written.map(seqOf), [1, 3]);
        assert.equal(peerOf(two.s).stats.get(Stat.VPN_TX_PACKETS), 1n);
        assert.throws(() => one.c.host.api.setClientToClient(one.c.ifindex, true), /MP device/);
      }),
    );

    it(
      "drops as RX_RPF an inner source that is not the peer's VPN address",
      withLab((lab) => {
        const { stun, sdev, sides } = mpStar(lab, proto, 2);
        const [one, two] = sides;
        // client one claims client two's address, and an address nobody has
        one.c.tun.inject([
          ip4(one.c.vpn, '10.8.0.1', 1),
          ip4(two.c.vpn, '10.8.0.1', 2),
          ip4('10.77.0.9', '10.8.0.1', 3),
          ip4(one.c.vpn, '10.8.0.1', 4),
        ]);
        lab.settle();
        assert.deepEqual(stun.written.map(seqOf), [1, 4]);
        assert.equal(sdev.drops.get(DropReason.RX_RPF), 2);
        // the dropped packets were authenticated: link RX counts them, VPN RX does not
        assert.equal(peerOf(one.s).stats.get(Stat.LINK_RX_PACKETS), 4n);
        assert.equal(peerOf(one.s).stats.get(Stat.VPN_RX_PACKETS), 2n);
        assert.equal(peerOf(two.s).stats.get(Stat.LINK_RX_PACKETS), 0n);
      }),
    );
  });
}

describe('UDP specifics on fakes', () => {
  it(
    'resolves peer-id 0xFFFFFF by source address (MP and P2P); an unknown source is RX_NO_PEER',
    withLab((lab) => {
      const { stun, sdev, sides } = mpStar(lab, 'udp', 2);
      const [one, two] = sides;
      lab.net.lose = () => true; // capture, do not deliver
      one.c.tun.inject([ip4(one.c.vpn, '10.8.0.1', 1)]);
      two.c.tun.inject([ip4(two.c.vpn, '10.8.0.1', 2)]);
      lab.net.lose = undefined;
      const [d1, d2] = lab.net.sent.slice(-2);
      // clients write the server's id for them into their packets
      assert.equal(d1.data.readUIntBE(1, 3), 100);
      assert.equal(d2.data.readUIntBE(1, 3), 101);
      // now they send 0xFFFFFF ("undefined"; the id is authenticated, so they seal it that way)
      peerOf(one.c).txId = 0xffffff;
      peerOf(two.c).txId = 0xffffff;
      one.c.tun.inject([ip4(one.c.vpn, '10.8.0.1', 3)]);
      two.c.tun.inject([ip4(two.c.vpn, '10.8.0.1', 4)]);
      lab.settle();
      assert.deepEqual(stun.written.map(seqOf), [3, 4]);
      assert.equal(peerOf(one.s).stats.get(Stat.VPN_RX_PACKETS), 1n);
      assert.equal(peerOf(two.s).stats.get(Stat.VPN_RX_PACKETS), 1n);
      // from a source no peer has: no peer
      const stranger = Endpoint.parse('198.51.100.99', 1);
      sides[0].s.udp!.inject([lab.net.sent[lab.net.sent.length - 1].data], stranger);
      assert.equal(sdev.drops.get(DropReason.RX_NO_PEER), 1);
      assert.equal(stun.written.length, 2);
    }),
  );

  it(
    'floats a peer to the source of an authenticated packet (one peer-float-ntf), not for a forged or replayed one',
    withLab((lab) => {
      const { a, b } = p2pPair(lab, 'udp');
      const pb = peerOf(b);
      const moved = Endpoint.parse('203.0.113.7', 4444);
      // a forged packet from the new source: no float
      const forged = Buffer.alloc(100, 1);
      forged.writeUInt32BE((9 << 27) | 20, 0);
      b.udp!.inject([forged], moved);
      assert.equal(b.dev.drops.get(DropReason.RX_AUTH), 1);
      assert.equal(pb.remote?.key, `192.0.2.1:${a.udp!.localPort}`);
      // an authenticated one from a new source: float, once, even for several packets
      lab.net.lose = () => true;
      a.tun.inject([ip4(a.vpn, b.vpn, 1), ip4(a.vpn, b.vpn, 2), ip4(a.vpn, b.vpn, 3)]);
      lab.net.lose = undefined;
      const wire = lab.net.sent.slice(-3).map((d) => d.data);
      b.udp!.inject([wire[0]], Endpoint.parse('192.0.2.1', a.udp!.localPort));
      assert.deepEqual(b.tun.written.map(seqOf), [1]);
      b.udp!.inject([wire[1], wire[2]], moved, { family: 4, addr: Buffer.from([192, 0, 2, 2]) });
      assert.deepEqual(b.tun.written.map(seqOf), [1, 2, 3]);
      assert.equal(pb.remote?.key, '203.0.113.7:4444');
      const floats = b.host.ntfsOf('peer-float-ntf');
      assert.equal(floats.length, 1);
      assert.deepEqual(floats[0].msg, {
        ifindex: b.ifindex,
        peer: { id: 20, 'remote-ipv4': '203.0.113.7', 'remote-port': 4444 },
      });
      // a replay of an old packet from yet another source: dropped, no float
      b.udp!.inject([wire[0]], Endpoint.parse('203.0.113.8', 1));
      assert.equal(b.dev.drops.get(DropReason.RX_REPLAY), 1);
      assert.equal(pb.remote?.key, '203.0.113.7:4444');
      assert.equal(b.host.ntfsOf('peer-float-ntf').length, 1);
      // replies now go to the new address
      b.tun.inject([ip4(b.vpn, a.vpn, 9)]);
      assert.equal(lab.net.sent[lab.net.sent.length - 1].to.key, '203.0.113.7:4444');
    }),
  );
});
