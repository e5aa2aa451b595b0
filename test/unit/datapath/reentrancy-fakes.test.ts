/**
 * Re-entrancy on fakes: an MP server whose control plane answers every event at once — control
 * packets, floats, key-swap and peer-del notifications — with control-send, peer-set (a keepalive
 * change kicks the keepalive timer, which may transmit), key-swap and peer-del, while data flows in
 * batches of many packets both ways. Nothing may throw, no packet may reach the wrong peer or come
 * from a cleared scratch slot, counters must add up, and every event must arrive after its batch:
 * inside the listener every scratch of the data path is empty (a batch in flight holds peers there).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataPath } from '../../../src/datapath/datapath.js';
import { Endpoint } from '../../../src/net/endpoint.js';
import type { Peer } from '../../../src/peer/peer.js';
import { Stat } from '../../../src/peer/stats.js';
import { PKTID_MAX } from '../../../src/pktid/xmit.js';
import {
  addrsOf,
  controlPacket,
  FakeLab,
  framed,
  installKeys,
  ip4,
  mpStar,
  peerOf,
  seqOf,
} from '../../support/fakes/lab.js';
import { Rng } from '../../support/fuzz-rng.js';

/** True if no pipeline of `dp` holds a packet: every scratch entry was consumed and cleared. */
function idle(dp: DataPath): boolean {
  const empty = (a: readonly (Peer | undefined)[]) => a.every((p) => p === undefined);
  return empty(dp.rx.peers) && empty(dp.tx.peers) && empty(dp.txGroup.peers) && empty(dp.ka.peers);
}

const CLIENTS = 6;

for (const proto of ['udp', 'tcp'] as const) {
  describe(`re-entrant control plane over ${proto}`, () => {
    it('answers every event with control-send, peer-set, key-swap and peer-del while batches flow', () => {
      const lab = new FakeLab();
      try {
        const rng = new Rng(proto === 'udp' ? 1 : 2);
        const { server, sdev, stun, sIfindex, sides } = mpStar(lab, proto, CLIENTS, {
          batchSize: 16,
          keepalive: [1, 1000],
        });
        // a second key on every pair, so that the server's key-swaps keep traffic flowing
        for (const { s, c } of sides) installKeys(s, c, { keyId: 1, slot: 'secondary' });
        const speers = sides.map(({ s }) => peerOf(s));
        const cpeers = sides.map(({ c }) => peerOf(c));
        const api = server.api;
        let events = 0;
        let answered = 0;
        const stunWritesAt: number[] = [];
        const check = (what: string) => {
          events++;
          assert.ok(idle(sdev.dp), `${what} delivered while a batch was in flight`);
          stunWritesAt.push(stun.written.length);
        };
        const reactTo = (id: number, kind: string) => {
          const peer = sdev.peers.getById(id);
          if (peer === undefined) return;
          answered++;
          // peer-set: a keepalive change kicks the timer (which may send keepalives to any peer)
          api.peerSet({
            ifindex: sIfindex,
            peer: { id, 'keepalive-interval': 1 + rng.int(2), 'keepalive-timeout': 1000 },
          });
          api.keySwap({ ifindex: sIfindex, keyconf: { 'peer-id': id } });
          if (kind === 'control' && rng.int(80) === 0) api.peerDel({ ifindex: sIfindex, peer: { id } });
        };
        api.onControl((m) => {
          check('control');
          const side =
            proto === 'udp'
              ? sides.find((_, k) => m['remote-addr'] === `198.51.100.${10 + k}`)
              : sides.find(({ s }) => server.sockets.identity(s.fd) === m.socket);
          assert.ok(side !== undefined, 'a control packet from a client');
          const answer = controlPacket(0xee);
          if (side !== undefined && sdev.peers.getById(side.s.peerId) !== undefined) {
            const ok =
              proto === 'udp'
                ? api.controlSend(
                    sIfindex,
                    side.s.fd,
                    Endpoint.parse(m['remote-addr'], m['remote-port']),
                    answer,
                  )
                : api.controlSend(sIfindex, side.s.fd, undefined, framed(answer));
            assert.equal(ok, true);
            reactTo(side.s.peerId, 'control');
          }
        });
        api.subscribe((n) => {
          check(n.name);
          if (n.name === 'key-swap-ntf') reactTo(n.msg.keyconf['peer-id'], 'key-swap');
          else if (n.name === 'peer-float-ntf') reactTo(n.msg.peer.id, 'float');
          else {
            // a peer is gone: delete another one too, and change keepalive on a third
            const others = [...sdev.peers.all()];
            if (others.length > CLIENTS - 2) api.peerDel({ ifindex: sIfindex, peer: { id: others[0].id } });
            if (others.length > 1) reactTo(others[others.length - 1].id, 'del');
          }
        });

        let seq = 0;
        const sentTo = new Map<number, number>(); // seq -> client index, server -> client
        const sentFrom = new Map<number, number>(); // seq -> client index, client -> server
        for (let round = 0; round < 40; round++) {
          // server -> clients: one TUN read of many packets, for live clients
          const batch: Buffer[] = [];
          for (let j = 0; j < 40; j++) {
            const k = rng.int(CLIENTS);
            if (speers[k].dead) continue;
            sentTo.set(++seq, k);
            batch.push(ip4('10.8.0.1', sides[k].c.vpn, seq, 40 + rng.int(200)));
          }
          stun.inject(batch);
          // clients -> server, plus control packets
          for (let k = 0; k < CLIENTS; k++) {
            const { c } = sides[k];
            if (cpeers[k].dead) continue;
            const pkts: Buffer[] = [];
            for (let j = 0; j < 10; j++) {
              sentFrom.set(++seq, k);
              pkts.push(ip4(c.vpn, '10.8.0.1', seq));
            }
            c.tun.inject(pkts);
            const ctl = controlPacket(round);
            if (proto === 'udp')
              c.host.api.controlSend(c.ifindex, c.fd, Endpoint.parse('198.51.100.1', c.udp!.localPort), ctl);
            else c.host.api.controlSend(c.ifindex, c.fd, undefined, framed(ctl));
          }
          // now and then: a client floats (UDP), a server key runs out of packet-ids
          if (proto === 'udp' && rng.int(4) === 0) {
            const k = rng.int(CLIENTS);
            cpeers[k].local = undefined;
            const moved = lab.net.udp(`198.51.101.${round}`, 7000 + round);
            // re-send one of the client's sealed packets from the new address
            const last = [...sides[k].c.udp!.sent].reverse().find((d) => d.data[0] >> 3 === 9);
            if (last !== undefined) {
              lab.settle();
              const fresh = ip4(sides[k].c.vpn, '10.8.0.1', ++seq);
              sentFrom.set(seq, k);
              sides[k].c.tun.inject([fresh]);
              const d = lab.net.takeDatagrams().filter((x) => x.from.key === sides[k].c.udp!.endpoint.key);
              for (const x of d) sides[k].s.udp!.enqueue(x.data, moved.endpoint);
              sides[k].s.udp!.poll();
            }
          }
          if (rng.int(3) === 0) {
            const k = rng.int(CLIENTS);
            speers[k].keys.primary()?.txPktId.setForTest(PKTID_MAX - rng.int(3));
          }
          lab.settle();
          if (rng.int(5) === 0) lab.advance(1000);
        }
        lab.settle();

        assert.ok(events > 100, `events were exercised (${events})`);
        assert.ok(answered > 100, `events were answered (${answered})`);
        assert.ok(server.ntfsOf('key-swap-ntf').length > 0, 'key swaps happened');
        if (proto === 'udp') assert.ok(server.ntfsOf('peer-float-ntf').length > 0, 'floats happened');
        assert.ok(server.ntfsOf('peer-del-ntf').length > 0, 'peers were deleted');
        // one peer-del-ntf per removed peer, none for live ones
        for (let k = 0; k < CLIENTS; k++) {
          assert.equal(server.ntfsOf('peer-del-ntf', sides[k].s.peerId).length, speers[k].dead ? 1 : 0);
        }
        // no packet to the wrong client, none twice
        for (let k = 0; k < CLIENTS; k++) {
          const got = sides[k].c.tun.written;
          for (const p of got) {
            assert.equal(addrsOf(p).dst, sides[k].c.vpn);
            assert.equal(sentTo.get(seqOf(p)), k);
          }
          assert.equal(new Set(got.map(seqOf)).size, got.length);
          assert.ok(got.length > 0);
        }
        // no packet from the wrong client, none twice
        const fromCounts = new Array<number>(CLIENTS).fill(0);
        for (const p of stun.written) {
          const k = sentFrom.get(seqOf(p));
          assert.ok(k !== undefined);
          assert.equal(addrsOf(p).src, sides[k].c.vpn);
          fromCounts[k]++;
        }
        assert.equal(new Set(stun.written.map(seqOf)).size, stun.written.length);
        // counters: the device's RX is the sum of its peers' VPN RX, per peer what its TUN got
        let vpnRx = 0n;
        let linkTx = 0n;
        for (let k = 0; k < CLIENTS; k++) {
          assert.equal(speers[k].stats.get(Stat.VPN_RX_PACKETS), BigInt(fromCounts[k]));
          vpnRx += speers[k].stats.get(Stat.VPN_RX_PACKETS);
          linkTx += speers[k].stats.get(Stat.LINK_TX_PACKETS);
        }
        assert.equal(BigInt(sdev.counters.rxPackets), vpnRx);
        assert.equal(BigInt(sdev.counters.txPackets), linkTx);
        assert.equal(sdev.counters.rxPackets, stun.written.length);
        // events came at batch boundaries only (checked in the listener) and the scratch is clean now
        assert.ok(idle(sdev.dp));
        assert.equal(sdev.dp.upcalls.pending, 0);
        assert.equal(stunWritesAt.length, events);
      } finally {
        lab.close();
      }
    });
  });
}
