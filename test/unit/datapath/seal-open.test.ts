import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CipherAlg } from '../../../src/crypto/cipher-alg.js';
import { DropReason } from '../../../src/datapath/drop-reason.js';
import { openPacket } from '../../../src/datapath/recv.js';
import type { KeyEvents } from '../../../src/datapath/upcalls.js';
import { sealPacket } from '../../../src/datapath/xmit.js';
import { KeySlot } from '../../../src/keys/key-slot.js';
import { KeySlotName } from '../../../src/keys/key-state.js';
import { Peer } from '../../../src/peer/peer.js';
import { Stat } from '../../../src/peer/stats.js';
import { PKTID_MAX } from '../../../src/pktid/xmit.js';
import { allocPinned } from '../../../src/sys/address.js';
import { ipv4Packet } from '../../support/packets.js';

/** Two peers that talk to each other: a sends with tx-id 7 to b (whose id is 7), b to a (id 3). */
function pair(alg: number = CipherAlg.AES_GCM, keyId = 0) {
  const kA = randomBytes(32);
  const kB = randomBytes(32);
  const tA = randomBytes(8);
  const tB = randomBytes(8);
  const a = new Peer(3, 7);
  const b = new Peer(7, 3);
  a.keys.install(
    KeySlotName.PRIMARY,
    new KeySlot({
      keyId,
      cipherAlg: alg,
      encrypt: { cipherKey: kA, nonceTail: tA },
      decrypt: { cipherKey: kB, nonceTail: tB },
    }),
  );
  b.keys.install(
    KeySlotName.PRIMARY,
    new KeySlot({
      keyId,
      cipherAlg: alg,
      encrypt: { cipherKey: kB, nonceTail: tB },
      decrypt: { cipherKey: kA, nonceTail: tA },
    }),
  );
  return { a, b };
}

function recorder() {
  const swaps: [number, number][] = [];
  const events: KeyEvents = {
    keySwapNeeded: (peer, keyId) => swaps.push([peer.id, keyId]),
  };
  return { swaps, events };
}

describe('seal and open through peers', () => {
  it('a packet sealed by one peer opens at the other, with header, ids and stats right', () => {
    const { a, b } = pair(CipherAlg.CHACHA20_POLY1305, 5);
    const { events } = recorder();
    const m = allocPinned(4096);
    const ip = ipv4Packet(1000);
    for (let n = 1; n <= 3; n++) {
      ip.copy(m.buf, 24);
      assert.equal(sealPacket(a, m.buf, m.addr, 0, ip.length, events), DropReason.NONE);
      assert.equal(m.buf.readUInt32BE(0), 0x4d000007, 'DATA_V2, key-id 5, peer-id = tx-id 7');
      assert.equal(m.buf.readUInt32BE(4), n, 'packet ids 1, 2, 3');
      assert.equal(openPacket(b, m.buf, m.addr, 0, ip.length + 24, 1000 * n), DropReason.NONE);
      assert.ok(m.buf.subarray(24, 24 + ip.length).equals(ip));
      assert.equal(b.lastRecvMs, 1000 * n);
    }
    assert.equal(b.stats.get(Stat.LINK_RX_PACKETS), 3n);
    assert.equal(b.stats.get(Stat.LINK_RX_BYTES), 3n * 1024n);
  });

  it('drops by cause: short, unknown key-id, forged, replayed', () => {
    const { a, b } = pair();
    const { events } = recorder();
    const m = allocPinned(4096);
    ipv4Packet(100).copy(m.buf, 24);
    sealPacket(a, m.buf, m.addr, 0, 100, events);
    const wire = Buffer.from(m.buf.subarray(0, 124));
    const reopen = (mutate?: (w: Buffer) => void, len = 124) => {
      wire.copy(m.buf);
      mutate?.(m.buf);
      return openPacket(b, m.buf, m.addr, 0, len, 0);
    };
    assert.equal(reopen(undefined, 23), DropReason.RX_SHORT);
    assert.equal(
      reopen((w) => {
        w[0] = 0x49;
      }),
      DropReason.RX_NO_KEY,
    );
    assert.equal(
      reopen((w) => {
        w[100] ^= 1;
      }),
      DropReason.RX_AUTH,
    );
    assert.equal(reopen(), DropReason.NONE);
    assert.equal(reopen(), DropReason.RX_REPLAY);
    const lastRecv = b.lastRecvMs;
    assert.equal(
      reopen((w) => {
        w[12] ^= 1;
      }),
      DropReason.RX_AUTH,
    );
    assert.equal(b.lastRecvMs, lastRecv, 'a forged packet does not refresh the peer');
  });

  it('without a primary key TX drops', () => {
    const a = new Peer(1);
    const m = allocPinned(4096);
    assert.equal(sealPacket(a, m.buf, m.addr, 0, 20, recorder().events), DropReason.TX_NO_KEY);
  });
});

describe('packet-id exhaustion', () => {
  it('the last id is 0xFFFFFFFF; the next packet kills the key and notifies exactly once', () => {
    const { a, b } = pair(CipherAlg.AES_GCM, 2);
    const { swaps, events } = recorder();
    const ks = a.keys.primary()!;
    ks.txPktId.setForTest(PKTID_MAX - 2);
    const m = allocPinned(4096);
    for (let i = 0; i < 3; i++) {
      ipv4Packet(60).copy(m.buf, 24);
      assert.equal(sealPacket(a, m.buf, m.addr, 0, 60, events), DropReason.NONE);
      assert.equal(m.buf.readUInt32BE(4), PKTID_MAX - 2 + i);
      assert.equal(openPacket(b, m.buf, m.addr, 0, 84, 0), DropReason.NONE);
    }
    assert.deepEqual(swaps, []);
    // Several packets hit the limit: the first kills the key, the rest find no key.
    const results = [0, 1, 2, 3].map(() => sealPacket(a, m.buf, m.addr, 0, 60, events));
    assert.deepEqual(results, [
      DropReason.TX_PKTID_EXHAUSTED,
      DropReason.TX_NO_KEY,
      DropReason.TX_NO_KEY,
      DropReason.TX_NO_KEY,
    ]);
    assert.deepEqual(swaps, [[3, 2]], 'one key-swap notification for peer 3, key-id 2');
    assert.ok(ks.encrypt.closed && ks.decrypt.closed, 'the killed key is freed');
  });

  it('exhaustion of a key that was swapped out meanwhile still notifies once', () => {
    const { a } = pair(CipherAlg.AES_GCM, 0);
    const { swaps, events } = recorder();
    const old = a.keys.primary()!;
    old.txPktId.setForTest(0);
    const m = allocPinned(4096);
    assert.equal(sealPacket(a, m.buf, m.addr, 0, 60, events), DropReason.TX_PKTID_EXHAUSTED);
    assert.equal(sealPacket(a, m.buf, m.addr, 0, 60, events), DropReason.TX_NO_KEY);
    assert.equal(swaps.length, 1);
  });
});
