/**
 * Beyond the kernel driver, on fakes: per-peer compression framing (`comp-framing`, for `comp-lzo no`
 * and `compress` profiles) and MSS clamping (`mss-clamp`, OpenVPN's mssfix) through the whole data
 * path, set with peer-set like any attribute.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DropReason } from '../../../src/datapath/drop-reason.js';
import { Stat } from '../../../src/peer/stats.js';
import { type End, FakeLab, ip4, p2pPair, peerOf, range, seqOf } from '../../support/fakes/lab.js';
import { l4ChecksumOk, pseudo, sum16 } from '../../support/inet-checksum.js';

function set(e: End, attrs: Record<string, unknown>): void {
  e.host.api.peerSet({ ifindex: e.ifindex, peer: { id: e.peerId, ...attrs } });
}

/** An IPv4 TCP SYN from `src` to `dst` with an MSS option of `mss`, checksums valid. */
function syn(src: string, dst: string, mss: number): Buffer {
  const p = ip4(src, dst, 0, 20 + 24);
  p[9] = 6;
  const t = 20;
  p.fill(0, t, p.length);
  p.writeUInt16BE(40000, t);
  p.writeUInt16BE(80, t + 2);
  p[t + 12] = 6 << 4;
  p[t + 13] = 0x02;
  p.writeUInt16BE(64240, t + 14);
  p[t + 20] = 2;
  p[t + 21] = 4;
  p.writeUInt16BE(mss, t + 22);
  p.writeUInt16BE(~sum16(p, t, p.length, pseudo(p, 6, p.length - t)) & 0xffff, t + 16);
  return p;
}

for (const proto of ['udp', 'tcp'] as const) {
  describe(`comp-framing and mss-clamp over ${proto} on fakes`, () => {
    for (const framing of ['comp-lzo-no', 'compress-stub', 'compress-stub-v2']) {
      it(`${framing}: traffic and keepalives pass both ways; peer-get shows the setting`, () => {
        const lab = new FakeLab();
        try {
          const { a, b } = p2pPair(lab, proto, { keepalive: [1, 5] });
          set(a, { 'comp-framing': framing });
          set(b, { 'comp-framing': framing });
          a.tun.inject(range(1, 40).map((i) => ip4(a.vpn, b.vpn, i, 60 + i)));
          b.tun.inject(range(1, 40).map((i) => ip4(b.vpn, a.vpn, 100 + i)));
          lab.settle();
          assert.deepEqual(b.tun.written.map(seqOf), range(1, 40));
          assert.deepEqual(b.tun.written[9], ip4(a.vpn, b.vpn, 10, 70));
          assert.deepEqual(a.tun.written.map(seqOf), range(101, 140));
          // keepalives are framed too: none is dropped, none reaches the TUN
          lab.advance(3000);
          assert.equal(a.dev.counters.keepaliveIn > 0 && b.dev.counters.keepaliveIn > 0, true);
          assert.equal(a.dev.drops.rxDropped + b.dev.drops.rxDropped, 0);
          assert.equal(b.tun.written.length, 40);
          const info = a.host.api.peerGet({ ifindex: a.ifindex, peer: { id: a.peerId } });
          assert.equal(info['comp-framing'], framing);
          // the framing byte is link traffic, never counted as VPN bytes
          const pa = peerOf(a);
          assert.equal(pa.stats.get(Stat.VPN_TX_BYTES), BigInt(range(1, 40).reduce((s, i) => s + 60 + i, 0)));
        } finally {
          lab.close();
        }
      });
    }

    it('a peer that frames while the other does not: counted rx-compressed drops, nothing delivered', () => {
      const lab = new FakeLab();
      try {
        const { a, b } = p2pPair(lab, proto);
        set(b, { 'comp-framing': 'comp-lzo-no' });
        a.tun.inject(range(1, 5).map((i) => ip4(a.vpn, b.vpn, i)));
        lab.settle();
        assert.equal(b.tun.written.length, 0);
        assert.equal(b.dev.drops.get(DropReason.RX_COMPRESSED), 5);
        // and back to none: traffic flows again
        set(b, { 'comp-framing': 'none' });
        a.tun.inject([ip4(a.vpn, b.vpn, 6)]);
        lab.settle();
        assert.deepEqual(b.tun.written.map(seqOf), [6]);
      } finally {
        lab.close();
      }
    });

    it('mss-clamp lowers the MSS of SYNs in both directions, checksums valid; 0 turns it off', () => {
      const lab = new FakeLab();
      try {
        const { a, b } = p2pPair(lab, proto);
        set(a, { 'mss-clamp': 1300 });
        // a SYN leaving through a (xmit) and a SYN arriving at a (recv)
        a.tun.inject([syn(a.vpn, b.vpn, 1460)]);
        b.tun.inject([syn(b.vpn, a.vpn, 8960)]);
        lab.settle();
        const out = b.tun.written[0];
        const back = a.tun.written[0];
        assert.equal(out.readUInt16BE(42), 1300);
        assert.equal(back.readUInt16BE(42), 1300);
        assert.ok(l4ChecksumOk(out) && l4ChecksumOk(back));
        set(a, { 'mss-clamp': 0 });
        a.tun.inject([syn(a.vpn, b.vpn, 1460)]);
        lab.settle();
        assert.equal(b.tun.written[1].readUInt16BE(42), 1460);
      } finally {
        lab.close();
      }
    });
  });
}
