/**
 * The accounting invariant on fakes: after mixed traffic with drops of many kinds (bad packets,
 * unknown peers, wrong keys, forged tags, replays, non-IP plaintext, refused TUN writes, refused
 * transport sends, a missing key, keepalives), each drop reason has exactly the expected count and
 * the per-peer and per-device counters add up. The equations follow the code (recv.ts, xmit.ts):
 *
 * RX (device b, one peer pb; every packet matched to pb goes through openPacket, which counts it in
 * link RX first, and then ends in exactly one of: TUN took it, keepalive, or one drop):
 *   LINK_RX(pb) = VPN_RX(pb) + keepaliveIn + RX_SHORT(after the peer was found) + RX_NO_KEY + RX_AUTH
 *                 + RX_REPLAY + RX_NOT_IP + RX_RPF + RX_DEVICE
 *   rxPackets = VPN_RX(pb) = packets the TUN took;  rxBytes = VPN_RX_BYTES(pb)
 *   rxDropped = all of the above drops + those before a peer was found (RX_SHORT < 4 bytes, DATA_V1,
 *               RX_NO_PEER) + RX_CONTROL_UNCLAIMED
 * TX (device a, one peer pa; VPN TX is counted once the peer is known, before sealing; each such
 * packet then either goes out — link TX — or is one drop of the sealing/sending steps):
 *   VPN_TX(pa) = LINK_TX_DATA(pa) + TX_NO_KEY + TX_PKTID_EXHAUSTED + TX_CRYPTO + TX_TRANSPORT (data)
 *   LINK_TX(pa) = LINK_TX_DATA(pa) + keepaliveOut          (keepalives: link TX, never VPN TX)
 *   txPackets = LINK_TX(pa);  txBytes = LINK_TX_BYTES(pa)
 *   txDropped = TX_NOT_IP (before a peer) + the sealing/sending drops above
 * End to end: every data packet a put on the wire is, at b, taken by the TUN or refused by it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DropReason } from '../../../src/datapath/drop-reason.js';
import { sealPacket } from '../../../src/datapath/xmit.js';
import { Endpoint } from '../../../src/net/endpoint.js';
import { Stat } from '../../../src/peer/stats.js';
import { allocPinned } from '../../../src/sys/address.js';
import {
  controlPacket,
  type End,
  FakeLab,
  framed,
  installKeys,
  ip4,
  p2pPair,
  peerOf,
  range,
  seqOf,
} from '../../support/fakes/lab.js';

const n = (v: bigint) => Number(v);

for (const proto of ['udp', 'tcp'] as const) {
  describe(`accounting over ${proto}`, () => {
    it('per-peer and per-device counters and drops add up after mixed traffic', () => {
      const lab = new FakeLab();
      try {
        const { a, b } = p2pPair(lab, proto, { batchSize: 8, keepalive: [5, 10_000] });
        const pa = peerOf(a);
        const pb = peerOf(b);
        const fromA = Endpoint.parse('192.0.2.1', a.udp?.localPort ?? 1);
        /** A raw packet reaches b as if a sent it. */
        const raw = (pkts: Buffer[]) => {
          if (proto === 'udp') b.udp!.inject(pkts, fromA);
          else for (const p of pkts) b.tcp!.receiveBytes(framed(p));
          lab.settle();
        };
        /** Captures what a sends for `pkts` instead of delivering it. */
        const capture = (e: End, pkts: Buffer[]): Buffer[] => {
          lab.net.lose = () => true;
          const before = proto === 'udp' ? e.udp!.sent.length : e.tcp!.sentFrames.length;
          e.tun.inject(pkts);
          lab.net.lose = undefined;
          if (proto === 'udp') return e.udp!.sent.slice(before).map((d) => d.data);
          // on TCP the frames are in the stream already: take them back out of the stream's record
          return e.tcp!.sentFrames.slice(before).map((f) => f.frame.subarray(2));
        };
        let seq = 0;
        const data = (k: number) => range(1, k).map(() => ip4(a.vpn, b.vpn, ++seq, 60 + (seq % 50)));

        // 1. plain traffic, several batches
        a.tun.inject(data(20));
        lab.settle();
        // 2. refused TUN writes at b
        b.tun.refuseWrites = (p) => seqOf(p) % 7 === 0;
        a.tun.inject(data(20));
        lab.settle();
        b.tun.refuseWrites = false;
        // 3. refused sends at a (after sealing: VPN TX counted, link TX not)
        let refusedSends = 0;
        if (proto === 'udp') {
          a.udp!.refuseSends = (d) => {
            const refuse = d.readUInt32BE(4) % 5 === 0;
            if (refuse) refusedSends++;
            return refuse;
          };
          a.tun.inject(data(20));
          a.udp!.refuseSends = false;
        } else {
          a.tcp!.refuseSends = true;
          a.tun.inject(data(5));
          refusedSends = 5;
          a.tcp!.refuseSends = false;
        }
        lab.settle();
        // 4. not IP at a's TUN (before a peer is chosen)
        a.tun.inject([Buffer.alloc(30), Buffer.alloc(10, 0x45)]);
        // 5. no key at a: primary deleted, then a fresh key pair
        a.host.api.keyDel({ ifindex: a.ifindex, keyconf: { 'peer-id': a.peerId, slot: 'primary' } });
        a.tun.inject(data(3));
        installKeys(a, b, { keyId: 1 });
        a.tun.inject(data(4));
        lab.settle();
        // 6. replays: packets that already arrived once (UDP: the datagrams; TCP: the frames)
        const replayed = capture(a, data(3));
        if (proto === 'tcp')
          lab.settle(); // the stream delivers them once
        else raw(replayed);
        raw(replayed);
        raw([replayed[0]]);
        // 7. forged tags, a wrong key-id, a DATA_V2 too short for its header
        const forged = replayed.map((p) => {
          const f = Buffer.from(p);
          f[10] ^= 0xff;
          return f;
        });
        raw(forged);
        const wrongKey = Buffer.from(replayed[0]);
        wrongKey[0] = (9 << 3) | 5;
        raw([wrongKey]);
        raw([Buffer.from(replayed[0].subarray(0, 12))]);
        // 8. non-IP plaintext, authenticated (sealed with a's key)
        const m = allocPinned(4096);
        const notIp: Buffer[] = [];
        for (let i = 0; i < 2; i++) {
          m.buf.fill(0x11, 24, 24 + 40);
          assert.equal(sealPacket(pa, m.buf, m.addr, 0, 40, { keySwapNeeded: () => {} }), DropReason.NONE);
          notIp.push(Buffer.from(m.buf.subarray(0, 64)));
        }
        raw(notIp);
        // 9. UDP only: datagrams refused before a peer is found
        if (proto === 'udp') {
          raw([Buffer.from([9 << 3, 0, 0])]); // shorter than the op word
          const v1 = Buffer.from(replayed[0]);
          v1[0] = 6 << 3;
          raw([v1]); // DATA_V1
          const stranger = Buffer.from(replayed[0]);
          stranger.writeUIntBE(77, 1, 3);
          raw([stranger, stranger]); // no peer 77
        }
        // 10. control packets are not data: counted nowhere in link/VPN stats
        raw([controlPacket(1)]);
        // 11. keepalives both ways while idle, then a last batch
        lab.advance(5000);
        a.tun.inject(data(10));
        b.tun.inject([ip4(b.vpn, a.vpn, 9999)]);
        lab.settle();

        // --- exact drops -------------------------------------------------------------------------
        const refusedWrites = range(1, 40).filter((s) => s > 20 && s % 7 === 0).length;
        assert.deepEqual(b.dev.drops.toJSON(), {
          ...(proto === 'udp' ? { 'rx-short': 2, 'rx-data-v1': 1, 'rx-no-peer': 2 } : { 'rx-short': 1 }),
          'rx-replay': 4,
          'rx-auth': 3,
          'rx-no-key': 1,
          'rx-not-ip': 2,
          'rx-device': refusedWrites,
        });
        assert.deepEqual(a.dev.drops.toJSON(), {
          'tx-not-ip': 2,
          'tx-no-key': 3,
          'tx-transport': refusedSends,
        });
        assert.ok(refusedSends > 0);
        assert.equal(b.host.controls.length, 1);
        assert.equal(b.dev.counters.controlIn, 1);
        assert.equal(a.dev.counters.keepaliveOut, 1);
        assert.equal(b.dev.counters.keepaliveIn, 1);

        // --- RX equations at b ---------------------------------------------------------------------
        const d = b.dev.drops;
        const shortBeforePeer = proto === 'udp' ? 1 : 0;
        const afterPeer =
          d.get(DropReason.RX_SHORT) -
          shortBeforePeer +
          d.get(DropReason.RX_NO_KEY) +
          d.get(DropReason.RX_AUTH) +
          d.get(DropReason.RX_REPLAY) +
          d.get(DropReason.RX_NOT_IP) +
          d.get(DropReason.RX_RPF) +
          d.get(DropReason.RX_DEVICE);
        assert.equal(
          n(pb.stats.get(Stat.LINK_RX_PACKETS)),
          n(pb.stats.get(Stat.VPN_RX_PACKETS)) + b.dev.counters.keepaliveIn + afterPeer,
        );
        assert.equal(b.dev.counters.rxPackets, n(pb.stats.get(Stat.VPN_RX_PACKETS)));
        assert.equal(b.dev.counters.rxPackets, b.tun.written.length);
        assert.equal(b.dev.counters.rxBytes, n(pb.stats.get(Stat.VPN_RX_BYTES)));
        assert.equal(
          b.dev.counters.rxBytes,
          b.tun.written.reduce((s, p) => s + p.length, 0),
        );
        assert.equal(
          d.rxDropped,
          afterPeer +
            shortBeforePeer +
            d.get(DropReason.RX_DATA_V1) +
            d.get(DropReason.RX_NO_PEER) +
            d.get(DropReason.RX_CONTROL_UNCLAIMED),
        );

        // --- TX equations at a ---------------------------------------------------------------------
        const t = a.dev.drops;
        const afterSeal =
          t.get(DropReason.TX_NO_KEY) +
          t.get(DropReason.TX_PKTID_EXHAUSTED) +
          t.get(DropReason.TX_CRYPTO) +
          t.get(DropReason.TX_TRANSPORT);
        const linkTxData = n(pa.stats.get(Stat.LINK_TX_PACKETS)) - a.dev.counters.keepaliveOut;
        assert.equal(n(pa.stats.get(Stat.VPN_TX_PACKETS)), linkTxData + afterSeal);
        assert.equal(n(pa.stats.get(Stat.VPN_TX_PACKETS)), seq, 'every packet a routed counted once');
        assert.equal(a.dev.counters.txPackets, n(pa.stats.get(Stat.LINK_TX_PACKETS)));
        assert.equal(a.dev.counters.txBytes, n(pa.stats.get(Stat.LINK_TX_BYTES)));
        assert.equal(t.txDropped, t.get(DropReason.TX_NOT_IP) + afterSeal);

        // --- end to end ------------------------------------------------------------------------------
        // data a put on the wire (replayed/forged copies are extra, and were all dropped) = taken or
        // refused by b's TUN
        assert.equal(linkTxData, b.tun.written.length + b.tun.refused.length);
        assert.equal(b.tun.refused.length, d.get(DropReason.RX_DEVICE));
        // b's side too: one data packet and one keepalive out, in
        assert.equal(a.dev.counters.rxPackets, 1);
        assert.equal(n(pb.stats.get(Stat.LINK_TX_PACKETS)), 2);
        assert.equal(n(pa.stats.get(Stat.LINK_RX_PACKETS)), 2);
      } finally {
        lab.close();
      }
    });
  });
}
