/**
 * Fuzzing the RX replay window (src/pktid/replay.ts) with random packet-id sequences and clock moves:
 * in-order runs, reordering, duplicates, 0, ids near 0xFFFFFFFF, huge jumps, clock jumps across the
 * 30 s expiry and backwards.
 *
 * Invariants, checked on every call: `check` never throws, never accepts 0, never accepts an id twice
 * (a Set of every accepted id), and answers exactly as a model written from spec ovpn-kernel §3.8:
 * accept p iff p != 0 and either p > highest, or (highest - p < 2048, p > floor, p not seen), where
 * floor := highest whenever 30 s have passed since the last accepted packet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PKTID_RECV_EXPIRE_MS, REPLAY_WINDOW_SIZE, ReplayWindow } from '../../src/pktid/replay.js';
import { ensure, eq, fuzz, hex32, iterations, type Rng } from '../support/fuzz-rng.js';
import { ReplayModel } from '../support/replay-model.js';

const U32 = 0xffffffff;

function clampU32(v: number): number {
  return v < 0 ? 0 : v > U32 ? U32 : Math.floor(v);
}

/** How a sequence picks its ids: how far it jumps, and whether it heads for the end of the id space. */
interface Profile {
  readonly jumpMax: number;
  /** Chance per id of a boundary value (0, 1, 0xFFFFFFFF...) or a uniformly random id. */
  readonly wild: number;
}

/**
 * Next packet-id: mostly in order or reordered around the highest seen, sometimes a jump, a late
 * packet from the last jump's gap (`gap`), a duplicate, or (per profile) a boundary or random id.
 */
function nextId(
  rng: Rng,
  p: Profile,
  highest: number,
  last: number,
  recent: number[],
  gap: [number, number],
): number {
  if (rng.chance(p.wild)) {
    const k = rng.int(3);
    return k === 0 ? 0 : k === 1 ? rng.pick([1, 2, U32, U32 - 1, 0x80000000, 0x7fffffff]) : rng.u32();
  }
  switch (rng.int(16)) {
    case 0: // a jump of at least a window
      return clampU32(highest + rng.range(REPLAY_WINDOW_SIZE - 2, REPLAY_WINDOW_SIZE - 2 + p.jumpMax));
    case 1: // window edges
      return clampU32(
        highest - rng.pick([REPLAY_WINDOW_SIZE, REPLAY_WINDOW_SIZE - 1, REPLAY_WINDOW_SIZE + 1, 0]),
      );
    case 2: // a duplicate of a recent id
      return recent.length > 0 ? rng.pick(recent) : 1;
    case 3:
    case 4: // reordered within the window
      return clampU32(highest - rng.int(REPLAY_WINDOW_SIZE + 64));
    case 5: // a small jump ahead
      return clampU32(highest + rng.range(2, REPLAY_WINDOW_SIZE + 8));
    case 6:
    case 7: // a late packet from the last jump's gap, or next to it
      return clampU32(rng.range(gap[0] - 1, gap[1] + 1));
    default: // in order: after the highest, or after the last id (which may have been refused)
      return clampU32((rng.chance(0.7) ? highest : last) + 1);
  }
}

/** Next clock reading: mostly small steps, rarely across the 30 s expiry, backwards or far ahead. */
function nextNow(rng: Rng, now: number, expiryRate: number): number {
  if (!rng.chance(expiryRate)) return now + rng.int(20) + rng.float();
  switch (rng.int(4)) {
    case 0: // exactly at the expiry boundary
      return now + rng.pick([PKTID_RECV_EXPIRE_MS - 1, PKTID_RECV_EXPIRE_MS, PKTID_RECV_EXPIRE_MS + 1]);
    case 1:
      return now + rng.range(PKTID_RECV_EXPIRE_MS, 10 * PKTID_RECV_EXPIRE_MS);
    case 2: // backwards (a clock that misbehaves)
      return Math.max(0, now - rng.int(2 * PKTID_RECV_EXPIRE_MS));
    default:
      return now + rng.int(2 ** 40);
  }
}

describe('fuzz: replay window', () => {
  it('random id sequences and clock jumps: never throws, never accepts 0 or twice, matches the model', (t) => {
    const total = iterations(600_000);
    let calls = 0;
    let accepted = 0;
    // One iteration is one sequence on a fresh window (1000 ids on average): the ids add up to `total`.
    const r = fuzz('replay-window', Math.ceil(total / 1000), (rng) => {
      const w = new ReplayWindow();
      const m = new ReplayModel();
      const got = new Set<number>();
      const recent: number[] = [];
      const n = rng.chance(0.2) ? rng.range(1000, 5000) : rng.range(1, 999);
      const gap: [number, number] = [1, 1];
      let now = rng.chance(0.5) ? 0 : rng.int(2 ** 40);
      // Clock jumps: none in some sequences (to exercise the window), frequent in others.
      const expiryRate = rng.pick([0, 0.0005, 0.005, 0.05]);
      const profile: Profile = {
        jumpMax: rng.pick([64, 1 << 12, 1 << 20, 1 << 30]),
        wild: rng.pick([0, 0.002, 0.05]),
      };
      let last = rng.chance(0.5) ? 0 : rng.u32();
      for (let k = 0; k < n; k++) {
        const id = nextId(rng, profile, m.highest, last, recent, gap);
        const before = m.highest;
        now = nextNow(rng, now, expiryRate);
        let ok: boolean;
        try {
          ok = w.check(id, now);
        } catch (e) {
          assert.fail(`check(${id}, ${now}) threw ${String(e)} after ${k} ids`);
        }
        calls++;
        assert.equal(typeof ok, 'boolean');
        const want = m.check(id, now);
        if (ok) {
          assert.notEqual(id, 0, 'accepted packet-id 0');
          ensure(!got.has(id), () => `accepted id ${id} twice`);
          got.add(id);
          accepted++;
        }
        eq(ok, want, () => `check(${id}, now ${now}) after ${k} ids; highest ${m.highest}, floor ${m.floor}`);
        assert.equal(w.highest, m.highest, 'highest');
        if (m.highest > before + 1) {
          gap[0] = before + 1;
          gap[1] = m.highest - 1;
        }
        last = id;
        recent.push(id);
        if (recent.length > 16) recent.shift();
      }
    });
    t.diagnostic(
      `replay-window: ${calls} ids (${r.count} sequences, ${accepted} accepted) in ${Math.round(r.ms)} ms` +
        ` (FUZZ_SEED=${hex32(r.seed)})`,
    );
  });
});
