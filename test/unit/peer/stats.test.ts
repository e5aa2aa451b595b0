import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import { Peer } from '../../../src/peer/peer.js';
import { PeerStats, Stat } from '../../../src/peer/stats.js';

describe('peer stats', () => {
  it('counts packets and bytes per pair', () => {
    const s = new PeerStats();
    s.addPacket(Stat.VPN_TX_BYTES, 1400);
    s.addPacket(Stat.VPN_TX_BYTES, 100);
    assert.equal(s.get(Stat.VPN_TX_BYTES), 1500n);
    assert.equal(s.get(Stat.VPN_TX_PACKETS), 2n);
    assert.equal(s.get(Stat.VPN_RX_BYTES), 0n);
  });

  it('is exact past 2^32 and 2^53, and wraps at 2^64 like a u64', () => {
    const s = new PeerStats();
    const step = 2 ** 52;
    let want = 0n;
    for (let i = 0; i < 5000; i++) {
      s.add(Stat.LINK_RX_BYTES, step - 1);
      s.add(Stat.LINK_RX_BYTES, 1);
      s.add(Stat.LINK_RX_BYTES, 3);
      want = (want + BigInt(step) + 3n) % 2n ** 64n;
    }
    assert.equal(s.get(Stat.LINK_RX_BYTES), want);
    assert.ok(want < 2n ** 64n);
    assert.equal(s.snapshot()['link-rx-bytes'], want);
  });
});

describe('peer', () => {
  it('tx-id defaults to id; both must be 24-bit', () => {
    assert.equal(new Peer(5).txId, 5);
    assert.equal(new Peer(5, 14).txId, 14);
    for (const [id, tx] of [
      [0x1000000, 1],
      [1, 0x1000000],
      [-1, 1],
    ]) {
      assert.throws(
        () => new Peer(id, tx),
        (e: unknown) => e instanceof OvpnError && e.code === 'EINVAL',
      );
    }
  });

  it('setting keepalive resets both clocks; release happens once and frees the keys', () => {
    const p = new Peer(1);
    p.setKeepalive(10, 60, 5000);
    assert.deepEqual([p.lastSentMs, p.lastRecvMs], [5000, 5000]);
    assert.equal(p.release(2), true);
    assert.equal(p.release(1), false);
    assert.equal(p.delReason, 2);
    assert.ok(p.dead);
  });
});
