import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PKTID_RECV_EXPIRE_MS, REPLAY_WINDOW_SIZE, ReplayWindow } from '../../../src/pktid/replay.js';
import { ReplayModel } from '../../support/replay-model.js';

const accept = (w: ReplayWindow, id: number, now = 0) =>
  assert.equal(w.check(id, now), true, `id ${id} refused`);
const refuse = (w: ReplayWindow, id: number, now = 0) =>
  assert.equal(w.check(id, now), false, `id ${id} accepted`);

describe('replay window (kernel ovpn_pktid_recv)', () => {
  it('accepts ids in order from 1', () => {
    const w = new ReplayWindow();
    for (let id = 1; id <= 5000; id++) accept(w, id);
    assert.equal(w.highest, 5000);
  });

  it('never accepts id 0', () => {
    const w = new ReplayWindow();
    refuse(w, 0);
    accept(w, 1);
    refuse(w, 0);
  });

  it('refuses duplicates, in order and reordered', () => {
    const w = new ReplayWindow();
    for (let id = 1; id <= 100; id++) accept(w, id);
    for (let id = 1; id <= 100; id++) refuse(w, id);
    accept(w, 150);
    accept(w, 120);
    refuse(w, 120);
    refuse(w, 150);
  });

  it('accepts packets reordered inside 2048, once each', () => {
    const w = new ReplayWindow();
    accept(w, 1);
    accept(w, 3000);
    // 3000 - 2047 is the oldest id the window still covers
    for (let id = 2999; id > 3000 - REPLAY_WINDOW_SIZE; id--) accept(w, id);
    for (let id = 2999; id > 3000 - REPLAY_WINDOW_SIZE; id--) refuse(w, id);
  });

  it('refuses ids 2048 or more behind the highest', () => {
    const w = new ReplayWindow();
    accept(w, 10_000);
    refuse(w, 10_000 - REPLAY_WINDOW_SIZE);
    refuse(w, 1);
    accept(w, 10_000 - REPLAY_WINDOW_SIZE + 1);
  });

  it('a jump of 2048 or more resets the window', () => {
    const w = new ReplayWindow();
    for (let id = 1; id <= 10; id++) accept(w, id);
    accept(w, 10 + REPLAY_WINDOW_SIZE);
    refuse(w, 10, 0); // exactly 2048 behind: outside
    accept(w, 11); // 2047 behind: inside the new window, never seen
    refuse(w, 11);
    accept(w, 10 + REPLAY_WINDOW_SIZE + 5000); // far jump
    refuse(w, 10 + REPLAY_WINDOW_SIZE);
    accept(w, 10 + REPLAY_WINDOW_SIZE + 5000 - 2047);
  });

  it('a jump below 2048 keeps history and clears the bits it skips', () => {
    const w = new ReplayWindow();
    for (let id = 1; id <= 10; id++) accept(w, id);
    accept(w, 2000);
    for (let id = 1; id <= 10; id++) refuse(w, id);
    for (let id = 11; id < 2000; id++) accept(w, id);
  });

  it('before the first packet nothing is history: the first id may be anything ≥ 1', () => {
    const w = new ReplayWindow();
    accept(w, 0xfffffff0);
    accept(w, 0xffffffff);
    refuse(w, 0xffffffff);
    accept(w, 0xfffffff1);
  });

  it('after 30 s without an accepted packet, ids at or below the highest are refused', () => {
    const w = new ReplayWindow();
    accept(w, 1, 0);
    accept(w, 10, 1000);
    accept(w, 5, 1000 + PKTID_RECV_EXPIRE_MS - 1); // reordered, still inside 30 s: fine
    // now 30 s after the last accepted packet
    const late = 1000 + PKTID_RECV_EXPIRE_MS - 1 + PKTID_RECV_EXPIRE_MS;
    refuse(w, 6, late);
    refuse(w, 9, late);
    accept(w, 11, late); // moving forward is always fine
    refuse(w, 7, late + 1); // still below the floor set at expiry (10)
    accept(w, 12, late + 2);
  });

  it('matches a Set-based reference model over random sequences', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    for (let round = 0; round < 20; round++) {
      const w = new ReplayWindow();
      const model = new ReplayModel();
      let now = 0;
      for (let i = 0; i < 20_000; i++) {
        now += rand() < 0.001 ? 31_000 : Math.floor(rand() * 10);
        const r = rand();
        const highest = model.highest;
        let id: number;
        if (r < 0.6) id = highest + 1 + Math.floor(rand() * 4);
        else if (r < 0.95) id = Math.max(0, highest - Math.floor(rand() * 2200));
        else id = highest + Math.floor(rand() * 5000);
        const ok = model.check(id, now);
        assert.equal(w.check(id, now), ok, `round ${round} step ${i}: id ${id} highest ${highest}`);
      }
    }
  });
});
