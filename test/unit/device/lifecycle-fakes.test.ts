/**
 * Device lifecycle on in-memory fakes with a ManualClock: keepalive send and expiry, every peer
 * removal reason with exactly one peer-del-ntf, and key exhaustion (key-swap-ntf once, then drops,
 * then a new key resumes traffic).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerDelNtf } from '../../../src/api/messages.js';
import { DropReason } from '../../../src/datapath/drop-reason.js';
import { Stat } from '../../../src/peer/stats.js';
import { PKTID_MAX } from '../../../src/pktid/xmit.js';
import { KEEPALIVE_SIZE } from '../../../src/wire/keepalive.js';
import {
  controlPacket,
  type End,
  framed,
  installKeys,
  ip4,
  mpStar,
  p2pPair,
  peerOf,
  range,
  seqOf,
  withLab,
} from '../../support/fakes/lab.js';

function delReasons(e: End, id = e.peerId): string[] {
  return e.host.ntfsOf('peer-del-ntf', id).map((n) => (n as PeerDelNtf).msg.peer['del-reason']);
}

const KA_WIRE = KEEPALIVE_SIZE + 24;

describe('keepalive on fakes', () => {
  for (const proto of ['udp', 'tcp'] as const) {
    it(
      `${proto}: sends keepalives when idle (link TX, not VPN TX), never while data flows`,
      withLab((lab) => {
        const { a, b } = p2pPair(lab, proto, { keepalive: [2, 10] });
        const pa = peerOf(a);
        const pb = peerOf(b);
        lab.advance(1999);
        assert.equal(a.dev.counters.keepaliveOut, 0);
        lab.advance(1);
        assert.equal(a.dev.counters.keepaliveOut, 1);
        assert.equal(b.dev.counters.keepaliveOut, 1);
        assert.equal(pa.stats.get(Stat.LINK_TX_PACKETS), 1n);
        assert.equal(pa.stats.get(Stat.LINK_TX_BYTES), BigInt(KA_WIRE));
        assert.equal(pa.stats.get(Stat.VPN_TX_PACKETS), 0n);
        assert.equal(a.dev.counters.txPackets, 1);
        assert.equal(b.dev.counters.keepaliveIn, 1);
        assert.equal(pb.stats.get(Stat.LINK_RX_PACKETS), 1n);
        assert.equal(pb.stats.get(Stat.VPN_RX_PACKETS), 0n);
        assert.equal(b.tun.written.length, 0, 'a keepalive never reaches the TUN');
        assert.equal(b.dev.counters.rxPackets, 0);
        // data every second from a: a sends no keepalive, b (which sends nothing) does
        for (let t = 0; t < 6; t++) {
          a.tun.inject([ip4(a.vpn, b.vpn, t)]);
          lab.advance(1000);
        }
        assert.equal(a.dev.counters.keepaliveOut, 1);
        assert.equal(b.dev.counters.keepaliveOut, 4);
        assert.equal(a.dev.counters.keepaliveIn, 4);
        assert.equal(a.host.ntfs.length + b.host.ntfs.length, 0);
      }),
    );
  }

  it(
    'expires a peer that hears nothing for the timeout: exactly one peer-del-ntf (expired), carrier off',
    withLab((lab) => {
      const { a, b } = p2pPair(lab, 'udp', { keepalive: [1, 5] });
      // everything b sends is lost; b still hears a
      lab.net.lose = (d) => d.from.address === '192.0.2.2';
      lab.advance(4999);
      assert.deepEqual(delReasons(a), []);
      lab.advance(1);
      assert.deepEqual(delReasons(a), ['expired']);
      assert.equal(a.dev.peers.size, 0);
      assert.equal(a.tun.carrier, false);
      assert.equal(a.udp!.closed, true, 'the last peer released the socket');
      // b heard a's keepalives until then: it expires 5 s after the last one
      assert.deepEqual(delReasons(b), []);
      lab.advance(5000);
      assert.deepEqual(delReasons(b), ['expired']);
      lab.advance(60_000);
      assert.deepEqual(delReasons(a), ['expired']);
      assert.deepEqual(delReasons(b), ['expired']);
      assert.equal(lab.clock.pending, 0, 'no timer left once no peer has keepalive');
    }),
  );

  it(
    'peer-set keepalive resets both clocks and re-plans the timer',
    withLab((lab) => {
      const { a } = p2pPair(lab, 'udp', { keepalive: [1, 3] });
      lab.net.lose = () => true;
      lab.advance(2000);
      a.host.api.peerSet({
        ifindex: a.ifindex,
        peer: { id: a.peerId, 'keepalive-interval': 1, 'keepalive-timeout': 10 },
      });
      lab.advance(9999);
      assert.deepEqual(delReasons(a), []);
      lab.advance(1);
      assert.deepEqual(delReasons(a), ['expired']);
    }),
  );
});

describe('peer removal reasons on fakes: one peer-del-ntf each', () => {
  it(
    'userspace (peer-del), then teardown for the rest at dev-del',
    withLab((lab) => {
      const { server, sIfindex, stun, sides } = mpStar(lab, 'udp', 3);
      server.api.peerDel({ ifindex: sIfindex, peer: { id: sides[1].s.peerId } });
      assert.deepEqual(delReasons(sides[1].s), ['userspace']);
      assert.equal(sides[0].s.udp!.closed, false, 'the shared socket stays for the other peers');
      server.api.devDel({ ifindex: sIfindex });
      assert.deepEqual(delReasons(sides[0].s), ['teardown']);
      assert.deepEqual(delReasons(sides[1].s), ['userspace']);
      assert.deepEqual(delReasons(sides[2].s), ['teardown']);
      assert.equal(server.ntfs.length, 3);
      assert.equal(stun.closed, true);
      assert.equal(sides[0].s.udp!.closed, true);
      assert.equal(stun.carrierLog[0], true, 'MP has carrier from the start');
    }),
  );

  it(
    'P2P: a new peer-new replaces the peer (teardown), carrier stays on',
    withLab((lab) => {
      const { a } = p2pPair(lab, 'udp');
      a.host.api.peerNew({
        ifindex: a.ifindex,
        peer: { id: 11, socket: a.fd, 'remote-ipv4': '192.0.2.3', 'remote-port': 1 },
      });
      assert.deepEqual(delReasons(a, 10), ['teardown']);
      assert.equal(a.tun.carrier, true);
      assert.equal(a.dev.peers.size, 1);
    }),
  );

  it(
    'UDP socket closed by its owner: every peer on it, transport-disconnect',
    withLab((lab) => {
      const { server, sdev, sides } = mpStar(lab, 'udp', 2);
      const n = server.api.socketClosed(server.sockets.identity(sides[0].s.fd));
      assert.equal(n, 2);
      for (const { s } of sides) assert.deepEqual(delReasons(s), ['transport-disconnect']);
      assert.equal(sdev.peers.size, 0);
      assert.equal(server.api.socketClosed(server.sockets.identity(sides[0].s.fd)), 0);
      assert.equal(server.ntfs.length, 2);
    }),
  );

  const streamEnds: [string, (e: End) => void, string][] = [
    ['remote closes the stream', (e) => e.tcp!.remoteClose(), 'transport-disconnect'],
    ['the stream fails', (e) => e.tcp!.remoteError(), 'transport-error'],
    ['bad framing (length 1)', (e) => e.tcp!.receiveBytes(Buffer.from([0, 1, 0])), 'transport-error'],
    [
      'DATA_V1 on TCP',
      (e) => e.tcp!.receiveBytes(framed(Buffer.concat([Buffer.from([6 << 3, 0, 0, 0]), Buffer.alloc(40)]))),
      'transport-error',
    ],
  ];
  for (const [what, act, reason] of streamEnds) {
    it(
      `TCP: ${what} -> ${reason}, after the data that came before it`,
      withLab((lab) => {
        const { a, b } = p2pPair(lab, 'tcp');
        a.tun.inject([ip4(a.vpn, b.vpn, 1), ip4(a.vpn, b.vpn, 2)]);
        let writtenAtNtf = -1;
        b.host.api.subscribe(() => {
          writtenAtNtf = b.tun.written.length;
        });
        // the data is queued on the stream; the end comes after it in the same delivery
        act(b);
        lab.settle();
        assert.deepEqual(delReasons(b), [reason]);
        assert.equal(b.host.ntfs.length, 1);
        assert.equal(b.dev.peers.size, 0);
        assert.equal(b.tun.carrier, false);
        assert.equal(b.tcp!.closed, true, 'the stream was released');
        if (reason === 'transport-error' && what.startsWith('DATA_V1'))
          assert.equal(b.dev.drops.get(DropReason.RX_DATA_V1), 1);
        lab.settle();
        assert.equal(b.host.ntfs.length, 1);
        assert.equal(writtenAtNtf, 2, 'the data sent before the end was delivered before the notification');
        assert.deepEqual(b.tun.written.map(seqOf), [1, 2]);
      }),
    );
  }

  it(
    'TCP: frames before a DATA_V1 in the same read are delivered, nothing after it',
    withLab((lab) => {
      const { a, b } = p2pPair(lab, 'tcp');
      a.tun.inject([ip4(a.vpn, b.vpn, 1)]);
      const v1 = framed(Buffer.concat([Buffer.from([6 << 3, 0, 0, 0]), Buffer.alloc(40)]));
      b.tcp!.receiveBytes(v1);
      a.tun.inject([ip4(a.vpn, b.vpn, 2)]);
      a.host.api.controlSend(a.ifindex, a.fd, undefined, framed(controlPacket(3)));
      lab.settle();
      assert.deepEqual(b.tun.written.map(seqOf), [1]);
      assert.deepEqual(delReasons(b), ['transport-error']);
      assert.equal(b.host.controls.length, 0);
    }),
  );
});

describe('key exhaustion on fakes', () => {
  for (const proto of ['udp', 'tcp'] as const) {
    it(
      `${proto}: one key-swap-ntf, the rest dropped, and a new key resumes traffic`,
      withLab((lab) => {
        const { a, b } = p2pPair(lab, proto, { keyId: 2 });
        const pa = peerOf(a);
        pa.keys.primary()!.txPktId.setForTest(PKTID_MAX - 2);
        let sentAtNtf = -1;
        a.host.api.subscribe((n) => {
          if (n.name === 'key-swap-ntf') sentAtNtf = Number(pa.stats.get(Stat.LINK_TX_PACKETS));
        });
        a.tun.inject(range(1, 10).map((i) => ip4(a.vpn, b.vpn, i)));
        lab.settle();
        const swaps = a.host.ntfsOf('key-swap-ntf');
        assert.equal(swaps.length, 1);
        assert.deepEqual(swaps[0].msg, { ifindex: a.ifindex, keyconf: { 'peer-id': 10, 'key-id': 2 } });
        assert.equal(sentAtNtf, 3, 'notified after the batch went out');
        assert.deepEqual(b.tun.written.map(seqOf), [1, 2, 3]);
        assert.equal(a.dev.drops.get(DropReason.TX_PKTID_EXHAUSTED), 1);
        assert.equal(a.dev.drops.get(DropReason.TX_NO_KEY), 6);
        assert.equal(pa.keys.primary(), undefined);
        // VPN TX counts what was queued towards the peer; link TX what went out
        assert.equal(pa.stats.get(Stat.VPN_TX_PACKETS), 10n);
        assert.equal(pa.stats.get(Stat.LINK_TX_PACKETS), 3n);
        a.tun.inject([ip4(a.vpn, b.vpn, 11)]);
        assert.equal(a.dev.drops.get(DropReason.TX_NO_KEY), 7);
        assert.equal(a.host.ntfsOf('key-swap-ntf').length, 1);
        // a new key in the secondary slot on both sides, then key-swap: traffic resumes
        installKeys(a, b, { keyId: 3, slot: 'secondary' });
        a.host.api.keySwap({ ifindex: a.ifindex, keyconf: { 'peer-id': a.peerId } });
        b.host.api.keySwap({ ifindex: b.ifindex, keyconf: { 'peer-id': b.peerId } });
        a.tun.inject([ip4(a.vpn, b.vpn, 12)]);
        b.tun.inject([ip4(b.vpn, a.vpn, 13)]);
        lab.settle();
        assert.deepEqual(b.tun.written.map(seqOf), [1, 2, 3, 12]);
        assert.deepEqual(a.tun.written.map(seqOf), [13]);
        assert.equal(a.host.ntfsOf('key-swap-ntf').length, 1);
      }),
    );
  }

  it(
    'a keepalive that hits exhaustion notifies once too',
    withLab((lab) => {
      const { a } = p2pPair(lab, 'udp', { keepalive: [1, 100] });
      peerOf(a).keys.primary()!.txPktId.setForTest(0);
      lab.advance(1000);
      assert.equal(a.host.ntfsOf('key-swap-ntf').length, 1);
      assert.equal(a.dev.drops.get(DropReason.TX_PKTID_EXHAUSTED), 1);
      lab.advance(1000);
      assert.equal(a.host.ntfsOf('key-swap-ntf').length, 1);
      assert.equal(a.dev.drops.get(DropReason.TX_NO_KEY), 1);
    }),
  );
});
