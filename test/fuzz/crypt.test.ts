/**
 * Fuzzing `openPacket` (src/datapath/recv.ts) with a peer holding real keys: valid DATA_V2 packets
 * sealed by `sealPacket`, opened in random order, replayed, mutated (header, tag, ciphertext, length),
 * truncated, and random bytes of 0..2000 bytes, while keys are installed, swapped and deleted.
 *
 * Oracle for every call: len < 24 -> RX_SHORT; no slot for the key-id -> RX_NO_KEY; bytes that are not
 * exactly a packet sealed for the slot that key-id selects -> RX_AUTH; otherwise the replay model of
 * spec ovpn-kernel §3.8 decides between NONE and RX_REPLAY. So a packet is accepted only if it equals a
 * not-yet-accepted original (authenticity), and an original is accepted whenever the window allows it.
 * `openPacket` must never throw; a drop must leave `lastRecvMs` alone; link RX counts every call.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CipherAlg } from '../../src/crypto/cipher-alg.js';
import { DROP_REASON_NAMES, DropReason } from '../../src/datapath/drop-reason.js';
import { openPacket } from '../../src/datapath/recv.js';
import { sealPacket } from '../../src/datapath/xmit.js';
import { KeySlot } from '../../src/keys/key-slot.js';
import { KeySlotName } from '../../src/keys/key-state.js';
import { Peer } from '../../src/peer/peer.js';
import { Stat } from '../../src/peer/stats.js';
import { PKTID_RECV_EXPIRE_MS } from '../../src/pktid/replay.js';
import { allocPinned } from '../../src/sys/address.js';
import { DATA_V2_OVERHEAD } from '../../src/wire/data-v2.js';
import { ensure, fuzz, iterations, type Rng, show, summary } from '../support/fuzz-rng.js';
import { ReplayModel } from '../support/replay-model.js';

const BUF_SIZE = 4096;
const MAX_LEN = 2000;
const MAX_OFF = 48;
const POOL_MAX = 2048;

interface Original {
  /** The sealed packet as sent. */
  readonly wire: Buffer;
  readonly plaintext: Buffer;
  /** The receiver's slot that can open it. */
  readonly rxSlot: KeySlot;
  accepted: boolean;
  /** Index in the pool. */
  idx: number;
}

/** Key material for one direction, from the Rng so that runs are reproducible. */
function keyDir(rng: Rng, alg: number) {
  const keyLen = alg === CipherAlg.AES_GCM ? rng.pick([16, 24, 32]) : 32;
  return { cipherKey: rng.bytes(keyLen), nonceTail: rng.bytes(8) };
}

/** The receiver under test, a sender per logical slot, the originals, and the replay models. */
class Session {
  readonly rx = new Peer(7, 3);
  private readonly senderSlot = new Map<KeySlot, Peer>();
  readonly pool: Original[] = [];
  readonly byHead = new Map<string, Original>();
  readonly models = new Map<KeySlot, ReplayModel>();
  readonly events = { keySwapNeeded: () => {} };
  now = 0;
  calls = 0;

  install(rng: Rng, slot: KeySlotName): void {
    const keyId = rng.int(8);
    const alg = rng.chance(0.5) ? CipherAlg.AES_GCM : CipherAlg.CHACHA20_POLY1305;
    const a = keyDir(rng, alg);
    const b = keyDir(rng, alg);
    const rxKey = new KeySlot({ keyId, cipherAlg: alg, encrypt: a, decrypt: b });
    const sender = new Peer(3, 7);
    const txKey = new KeySlot({ keyId, cipherAlg: alg, encrypt: b, decrypt: a });
    sender.keys.install(KeySlotName.PRIMARY, txKey);
    // Now and then start near the end of the packet-id space (sticky exhaustion, window jumps).
    const start = rng.int(10);
    if (start === 0) txKey.txPktId.setForTest(0xffffffff - rng.int(40));
    else if (start === 1) txKey.txPktId.setForTest(rng.u32() || 1);
    const old = this.rx.keys.get(slot);
    if (old !== undefined) this.forget(old);
    this.rx.keys.install(slot, rxKey);
    this.senderSlot.set(rxKey, sender);
    this.models.set(rxKey, new ReplayModel());
  }

  /**
   * Drops what belonged to a receiver slot that is going away. A few of its packets stay in the pool
   * (packets under an old key keep arriving after a rekey); the rest make room for new ones.
   */
  forget(rxKey: KeySlot): void {
    this.senderSlot.get(rxKey)?.keys.close();
    this.senderSlot.delete(rxKey);
    this.models.delete(rxKey);
    let kept = 0;
    for (let i = this.pool.length - 1; i >= 0; i--) {
      const o = this.pool[i];
      if (o.rxSlot === rxKey && ++kept > 16) this.evict(o);
    }
  }

  keyEvent(rng: Rng): void {
    const slot = rng.chance(0.5) ? KeySlotName.PRIMARY : KeySlotName.SECONDARY;
    const k = rng.int(10);
    if (k < 3) this.rx.keys.swap();
    else if (k === 3) {
      const old = this.rx.keys.get(slot);
      if (old !== undefined) this.forget(old);
      this.rx.keys.del(slot);
    } else this.install(rng, slot);
    if (
      this.rx.keys.get(KeySlotName.PRIMARY) === undefined &&
      this.rx.keys.get(KeySlotName.SECONDARY) === undefined
    ) {
      this.install(rng, KeySlotName.PRIMARY);
    }
  }

  /** Seals a fresh packet with one of the live keys; undefined if no key can seal. */
  seal(rng: Rng, m: { buf: Buffer; addr: number }): Original | undefined {
    const slots = [this.rx.keys.get(KeySlotName.PRIMARY), this.rx.keys.get(KeySlotName.SECONDARY)].filter(
      (k): k is KeySlot => k !== undefined,
    );
    if (slots.length === 0) return undefined;
    const rxSlot = rng.pick(slots);
    const sender = this.senderSlot.get(rxSlot);
    if (sender === undefined) return undefined;
    const len = rng.small(MAX_LEN - DATA_V2_OVERHEAD);
    const off = rng.int(MAX_OFF);
    const plaintext = rng.bytes(len);
    plaintext.copy(m.buf, off + DATA_V2_OVERHEAD);
    const r = sealPacket(sender, m.buf, m.addr, off, len, this.events);
    if (r !== DropReason.NONE) {
      // Only packet-id exhaustion may refuse (the sender's key is then killed): rekey that slot.
      ensure(
        r === DropReason.TX_PKTID_EXHAUSTED || r === DropReason.TX_NO_KEY,
        () => `seal: ${DROP_REASON_NAMES[r]}`,
      );
      this.install(
        rng,
        this.rx.keys.get(KeySlotName.PRIMARY) === rxSlot ? KeySlotName.PRIMARY : KeySlotName.SECONDARY,
      );
      return undefined;
    }
    const o: Original = {
      wire: Buffer.from(m.buf.subarray(off, off + DATA_V2_OVERHEAD + len)),
      plaintext,
      rxSlot,
      accepted: false,
      idx: this.pool.length,
    };
    const head = o.wire.toString('hex', 0, DATA_V2_OVERHEAD);
    if (this.byHead.has(head)) return undefined; // never, short of a tag collision
    if (this.pool.length >= POOL_MAX) this.evict(this.pool[rng.int(this.pool.length)]);
    o.idx = this.pool.length;
    this.pool.push(o);
    this.byHead.set(head, o);
    return o;
  }

  evict(o: Original): void {
    const last = this.pool.pop()!;
    if (last !== o) {
      this.pool[o.idx] = last;
      last.idx = o.idx;
    }
    this.byHead.delete(o.wire.toString('hex', 0, DATA_V2_OVERHEAD));
  }

  /** The result openPacket must give for `buf[off, off+len)`, updating the model if accepted. */
  expect(buf: Buffer, off: number, len: number): { want: DropReason; orig: Original | undefined } {
    if (len < DATA_V2_OVERHEAD) return { want: DropReason.RX_SHORT, orig: undefined };
    const slot = this.rx.keys.byKeyId(buf[off] & 7);
    if (slot === undefined) return { want: DropReason.RX_NO_KEY, orig: undefined };
    const o = this.byHead.get(buf.toString('hex', off, off + DATA_V2_OVERHEAD));
    const authentic =
      o !== undefined &&
      o.rxSlot === slot &&
      o.wire.length === len &&
      o.wire.compare(buf, off, off + len) === 0;
    if (!authentic) return { want: DropReason.RX_AUTH, orig: undefined };
    const model = this.models.get(slot)!;
    const ok = model.check(buf.readUInt32BE(off + 4), this.now);
    return { want: ok ? DropReason.NONE : DropReason.RX_REPLAY, orig: o };
  }

  close(): void {
    this.rx.keys.close();
    for (const s of this.senderSlot.values()) s.keys.close();
  }
}

function mutate(rng: Rng, w: Buffer): Buffer {
  const b = Buffer.from(w);
  switch (rng.int(7)) {
    case 0: // header byte (op/key-id, peer-id, packet-id)
      b[rng.int(8)] ^= 1 << rng.int(8);
      return b;
    case 1: // tag
      b[8 + rng.int(16)] ^= 1 << rng.int(8);
      return b;
    case 2: // ciphertext (if any)
      if (b.length > 24) b[24 + rng.int(b.length - 24)] ^= 1 << rng.int(8);
      else b[rng.int(b.length)] ^= 0x80;
      return b;
    case 3: // another key-id
      b[0] = (b[0] & 0xf8) | ((b[0] + rng.range(1, 7)) & 7);
      return b;
    case 4: // another packet-id
      b.writeUInt32BE(rng.chance(0.3) ? rng.pick([0, 1, 0xffffffff]) : rng.u32(), 4);
      return b;
    case 5: {
      // several random bytes
      const n = rng.range(1, 8);
      for (let k = 0; k < n; k++) b[rng.int(b.length)] = rng.u32();
      return b;
    }
    default: // the op byte keeps its key-id but not its opcode
      b[0] = (rng.int(32) << 3) | (b[0] & 7);
      if (b[0] === w[0]) b[0] ^= 0x08;
      return b;
  }
}

describe('fuzz: openPacket', () => {
  it('random, mutated, replayed and valid DATA_V2 packets: exact drop reasons, never an exception', (t) => {
    const count = iterations(250_000);
    const m = allocPinned(BUF_SIZE);
    const s = new Session();
    const counts = new Float64Array(DROP_REASON_NAMES.length);
    let seeded = false;
    try {
      const r = fuzz('open-packet', count, (rng) => {
        if (!seeded) {
          s.install(rng, KeySlotName.PRIMARY);
          s.install(rng, KeySlotName.SECONDARY);
          seeded = true;
        }
        if (rng.chance(1 / 3000)) s.keyEvent(rng);
        s.now += rng.chance(0.001) ? PKTID_RECV_EXPIRE_MS + rng.int(1000) : rng.int(3);

        // Choose the input: bytes, their offset and length in the pinned buffer.
        let input: Buffer;
        let len: number;
        const kind = rng.int(20);
        if (kind < 5 || s.pool.length === 0) {
          const o = s.seal(rng, m);
          input = o !== undefined ? o.wire : rng.bytes(rng.int(64));
          len = input.length;
        } else if (kind < 9) {
          input = rng.pick(s.pool).wire; // any original: pending, reordered or replayed
          len = input.length;
        } else if (kind < 15) {
          input = mutate(rng, rng.pick(s.pool).wire);
          len = input.length;
        } else if (kind < 17) {
          // an original with a wrong length: shorter (down to < 24) or longer (trailing junk)
          const w = rng.pick(s.pool).wire;
          input = rng.chance(0.5)
            ? w.subarray(0, rng.int(w.length))
            : Buffer.concat([w, rng.bytes(rng.range(1, 16))]);
          len = input.length;
        } else {
          len = rng.chance(0.3) ? rng.int(DATA_V2_OVERHEAD + 1) : rng.int(MAX_LEN + 1);
          input = rng.bytes(len);
          if (len > 0 && rng.chance(0.7)) input[0] = 0x48 | rng.int(8);
        }
        const off = rng.int(MAX_OFF);
        input.copy(m.buf, off, 0, len);
        // Bytes after the packet are junk the packet must not depend on.
        rng.fill(m.buf, off + len, Math.min(32, BUF_SIZE - off - len));

        const { want, orig } = s.expect(m.buf, off, len);
        const before = s.rx.lastRecvMs;
        let got: DropReason;
        try {
          got = openPacket(s.rx, m.buf, m.addr, off, len, s.now);
        } catch (e) {
          assert.fail(`openPacket threw ${show(e)} on ${show(input.subarray(0, len))}`);
        }
        s.calls++;
        counts[got]++;
        if (got !== want) {
          assert.fail(
            `openPacket gave ${DROP_REASON_NAMES[got]}, expected ${DROP_REASON_NAMES[want]}` +
              ` (len ${len}, off ${off}, now ${s.now}) for ${show(input.subarray(0, len))}`,
          );
        }
        if (got === DropReason.NONE) {
          assert.ok(orig !== undefined && !orig.accepted, 'accepted a packet that is not a fresh original');
          orig.accepted = true;
          assert.ok(
            m.buf.subarray(off + DATA_V2_OVERHEAD, off + len).equals(orig.plaintext),
            'decrypted payload differs from the plaintext sealed',
          );
          assert.equal(s.rx.lastRecvMs, s.now, 'lastRecvMs stamped');
        } else {
          assert.equal(s.rx.lastRecvMs, before, 'a dropped packet refreshed lastRecvMs');
        }
      });
      assert.equal(s.rx.stats.get(Stat.LINK_RX_PACKETS), BigInt(s.calls), 'link RX counts every packet');
      const by = DROP_REASON_NAMES.map((n, i) => [n, counts[i]] as const)
        .filter(([, c]) => c > 0)
        .map(([n, c]) => `${n} ${c}`)
        .join(', ');
      t.diagnostic(`${summary(r)}; ${by}`);
    } finally {
      s.close();
    }
  });
});
