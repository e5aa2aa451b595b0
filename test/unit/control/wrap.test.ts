/**
 * Control-channel wrappers (src/control/wrap/*.ts): the tls-auth and tls-crypt client resets of OpenVPN's
 * unit tests (spec §4.6), packets built here step by step with node:crypto from the spec's layouts,
 * round trips client ↔ server, every malformed input as a typed drop, and 2.6's replay window rules.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { PlainWrap } from '../../../src/control/wrap/plain.js';
import { TlsAuthWrap } from '../../../src/control/wrap/tls-auth.js';
import { TlsCryptWrap } from '../../../src/control/wrap/tls-crypt.js';
import { ReplaySender, ReplayWindow, WrapError } from '../../../src/control/wrap/wrap.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import {
  TEST_PKT_STATIC_KEY_HEX,
  TLS_AUTH_CLIENT_RESET_HEX,
  TLS_CRYPT_CLIENT_RESET_HEX,
} from './wrap-vectors.js';

const KEY = Buffer.from(TEST_PKT_STATIC_KEY_HEX, 'hex');
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const NOW = 1_700_000_000;

/** tls-auth wire built independently: op|sid | HMAC(id|time|op|sid|rest) | id | time | rest. */
function authWire(key: Buffer, alg: string, plain: Buffer, id: number, time: number): Buffer {
  const idTime = Buffer.alloc(8);
  idTime.writeUInt32BE(id, 0);
  idTime.writeUInt32BE(time, 4);
  const mac = createHmac(alg, key).update(idTime).update(plain).digest();
  return Buffer.concat([plain.subarray(0, 9), mac, idTime, plain.subarray(9)]);
}

/** tls-crypt wire built independently from spec §4.4. */
function cryptWire(key2: Buffer, slot: 0 | 1, plain: Buffer, id: number, time: number): Buffer {
  const ke = key2.subarray(slot * 128, slot * 128 + 32);
  const ka = key2.subarray(slot * 128 + 64, slot * 128 + 96);
  const header = Buffer.alloc(17);
  plain.copy(header, 0, 0, 9);
  header.writeUInt32BE(id, 9);
  header.writeUInt32BE(time, 13);
  const tag = createHmac('sha256', ka).update(header).update(plain.subarray(9)).digest();
  const c = createCipheriv('aes-256-ctr', ke, tag.subarray(0, 16));
  return Buffer.concat([header, tag, c.update(plain.subarray(9)), c.final()]);
}

const RESET = (sid: string): Buffer => hex(`38 ${sid} 00 00000000`);

describe('tls-auth (spec §4.3)', () => {
  const vector = Buffer.from(TLS_AUTH_CLIENT_RESET_HEX, 'hex');
  const plain = RESET('de694c5c7bfba274');

  it("a server (key-direction 0) accepts OpenVPN's client reset", () => {
    const server = new TlsAuthWrap({ key2: KEY, direction: 'normal' });
    assert.deepEqual(server.unwrap(vector, 0x61d3bf6c + 1), plain);
  });

  it('a client (key-direction 1) wraps the same reset into the same 42 bytes', () => {
    const client = new TlsAuthWrap({ key2: KEY, direction: 'inverse' });
    assert.equal(client.overhead, 28);
    assert.deepEqual(client.wrap(plain, 0x61d3bf6c), vector);
  });

  it('the vector is HMAC-SHA1 over id|time|op|sid|rest with key bytes 192..211', () => {
    assert.deepEqual(authWire(KEY.subarray(192, 212), 'sha1', plain, 1, 0x61d3bf6c), vector);
  });

  it('the wrong direction does not authenticate', () => {
    const wrong = new TlsAuthWrap({ key2: KEY, direction: 'inverse' });
    assert.equal(wrong.unwrap(vector, NOW), WrapError.AUTH);
  });

  for (const digest of ['SHA256', 'sha512', 'SHA384', 'MD5', 'SHA224']) {
    it(`--auth ${digest}: round trip and independent HMAC`, () => {
      const client = new TlsAuthWrap({ key2: KEY, direction: 'inverse', digest });
      const server = new TlsAuthWrap({ key2: KEY, direction: 'normal', digest });
      const p = hex('20 0102030405060708 01 00000000 1112131415161718 00000001 16030100');
      const w = client.wrap(p, NOW);
      const alg = digest.toLowerCase();
      const h = createHmac(alg, Buffer.alloc(1)).digest().length;
      assert.deepEqual(w, authWire(KEY.subarray(192, 192 + h), alg, p, 1, NOW));
      assert.deepEqual(server.unwrap(w, NOW), p);
      const back = server.wrap(p, NOW + 3);
      assert.deepEqual(back, authWire(KEY.subarray(64, 64 + h), alg, p, 1, NOW + 3));
      assert.deepEqual(client.unwrap(back, NOW + 3), p);
    });
  }

  it('bidirectional: both sides use keys[0]', () => {
    const a = new TlsAuthWrap({ key2: KEY, direction: 'bidirectional' });
    const b = new TlsAuthWrap({ key2: KEY, direction: 'bidirectional' });
    const w = a.wrap(plain, NOW);
    assert.deepEqual(w, authWire(KEY.subarray(64, 84), 'sha1', plain, 1, NOW));
    assert.deepEqual(b.unwrap(w, NOW), plain);
  });

  it('ids count per wrap, retransmissions included; the time stays that of the first send', () => {
    const client = new TlsAuthWrap({ key2: KEY, direction: 'inverse' });
    const ids = [0, 1, 2].map((i) =>
      client
        .wrap(plain, NOW + i * 10)
        .subarray(29, 37)
        .toString('hex'),
    );
    assert.deepEqual(
      ids,
      ['00000001', '00000002', '00000003'].map((id) => id + NOW.toString(16)),
    );
  });

  it('malformed: short, flipped bits, unknown digest, short plain', () => {
    const server = new TlsAuthWrap({ key2: KEY, direction: 'normal' });
    assert.equal(server.unwrap(vector.subarray(0, 36), NOW), WrapError.SHORT);
    assert.equal(server.unwrap(Buffer.alloc(0), NOW), WrapError.SHORT);
    for (const at of [0, 5, 12, 30, 35, 41]) {
      const bad = Buffer.from(vector);
      bad[at] ^= 0x01;
      assert.equal(server.unwrap(bad, NOW), WrapError.AUTH, `bit flipped at ${at}`);
    }
    assert.deepEqual(server.unwrap(vector, NOW), plain);
    assert.throws(() => new TlsAuthWrap({ key2: KEY, direction: 'normal', digest: 'SHA3' }), OvpnError);
    assert.throws(() => server.wrap(Buffer.alloc(8), NOW), OvpnError);
  });

  it('a replayed packet is a REPLAY drop; a forged one does not move the window', () => {
    const server = new TlsAuthWrap({ key2: KEY, direction: 'normal' });
    const k = KEY.subarray(192, 212);
    const p = (id: number, t = NOW) => authWire(k, 'sha1', plain, id, t);
    assert.deepEqual(server.unwrap(p(10), NOW), plain);
    assert.equal(server.unwrap(p(10), NOW), WrapError.REPLAY);
    const forged = p(11);
    forged[10] ^= 1;
    assert.equal(server.unwrap(forged, NOW), WrapError.AUTH);
    assert.deepEqual(server.unwrap(p(11), NOW), plain);
    assert.equal(server.unwrap(p(0), NOW), WrapError.REPLAY);
    assert.equal(server.unwrap(p(12, NOW - 1), NOW), WrapError.REPLAY, 'older timestamp');
  });
});

describe('tls-crypt (spec §4.4)', () => {
  const vector = Buffer.from(TLS_CRYPT_CLIENT_RESET_HEX, 'hex');
  const plain = RESET('f419cb12d1f9e48f');

  it("a server decrypts OpenVPN's client reset to 00 00000000", () => {
    const server = new TlsCryptWrap({ key2: KEY, role: 'server' });
    assert.deepEqual(server.unwrap(vector, 0x61d3f8e1), plain);
  });

  it('a client wraps the same reset into the same 54 bytes; the spec layout gives it too', () => {
    const client = new TlsCryptWrap({ key2: KEY, role: 'client' });
    assert.deepEqual(client.wrap(plain, 0x61d3f8e1), vector);
    assert.deepEqual(cryptWire(KEY, 1, plain, 1, 0x61d3f8e1), vector);
  });

  it('round trip both ways with payload; server sends with keys[0]', () => {
    const client = new TlsCryptWrap({ key2: KEY, role: 'client' });
    const server = new TlsCryptWrap({ key2: KEY, role: 'server' });
    const p = hex(`20 0102030405060708 02 00000001 00000000 1112131415161718 00000002 ${'ab'.repeat(300)}`);
    const w = client.wrap(p, NOW);
    assert.equal(w.length, p.length + 40);
    assert.deepEqual(server.unwrap(w, NOW), p);
    const r = server.wrap(p, NOW);
    assert.deepEqual(r, cryptWire(KEY, 0, p, 1, NOW));
    assert.deepEqual(client.unwrap(r, NOW), p);
    assert.equal(client.unwrap(w, NOW), WrapError.AUTH, 'own direction does not decrypt');
  });

  it('malformed: short, flipped bits anywhere, replay', () => {
    const server = new TlsCryptWrap({ key2: KEY, role: 'server' });
    assert.equal(server.unwrap(vector.subarray(0, 48), NOW), WrapError.SHORT);
    for (let at = 0; at < vector.length; at += 4) {
      const bad = Buffer.from(vector);
      bad[at] ^= 0x80;
      assert.equal(server.unwrap(bad, NOW), WrapError.AUTH, `bit flipped at ${at}`);
    }
    assert.equal(server.unwrap(vector.subarray(0, 53), NOW), WrapError.AUTH, 'truncated ciphertext');
    assert.deepEqual(server.unwrap(vector, 0x61d3f8e1), plain);
    assert.equal(server.unwrap(vector, 0x61d3f8e1), WrapError.REPLAY);
  });

  it('an empty plaintext (49 bytes on the wire) authenticates', () => {
    const w = cryptWire(KEY, 1, hex('38 0102030405060708'), 3, NOW);
    assert.equal(w.length, 49);
    assert.deepEqual(
      new TlsCryptWrap({ key2: KEY, role: 'server' }).unwrap(w, NOW),
      hex('380102030405060708'),
    );
  });
});

describe('replay window (2.6 packet_id_test / packet_id_add / packet_id_reap)', () => {
  const accept = (w: ReplayWindow, id: number, time: number, now: number): boolean => {
    if (!w.check(id, time, now)) return false;
    w.add(id, time, now);
    return true;
  };

  it('reordering inside 64 ids is accepted once; beyond is refused', () => {
    const w = new ReplayWindow();
    assert.ok(accept(w, 100, 5, NOW));
    assert.ok(accept(w, 90, 5, NOW));
    assert.ok(!accept(w, 90, 5, NOW));
    assert.ok(accept(w, 37, 5, NOW), '63 back');
    assert.ok(!accept(w, 36, 5, NOW), '64 back');
    assert.ok(accept(w, 200, 5, NOW), 'a jump');
    assert.ok(!accept(w, 100, 5, NOW), 'fell out of the window');
    assert.ok(accept(w, 199, 5, NOW));
  });

  it('a new timestamp starts a new sequence; an older one is refused', () => {
    const w = new ReplayWindow();
    assert.ok(accept(w, 50, 5, NOW));
    assert.ok(accept(w, 1, 6, NOW));
    assert.ok(!accept(w, 51, 5, NOW));
    assert.ok(accept(w, 2, 6, NOW));
  });

  it('ids seen more than 15 s ago, and all older, expire (reaped every 5 s)', () => {
    const w = new ReplayWindow();
    assert.ok(accept(w, 10, 5, NOW));
    assert.ok(accept(w, 12, 5, NOW));
    assert.ok(!accept(w, 11, 5, NOW + 20), 'unseen, but behind an id seen 20 s ago');
    assert.ok(accept(w, 13, 5, NOW + 20), 'newer ids still pass');
    const v = new ReplayWindow();
    assert.ok(accept(v, 10, 5, NOW));
    assert.ok(accept(v, 12, 5, NOW + 10));
    assert.ok(accept(v, 11, 5, NOW + 10), 'still inside 15 s');
  });

  it('agrees with a Set-based model while ids stay inside one timestamp and window', () => {
    const w = new ReplayWindow();
    const seen = new Set<number>();
    let max = 0;
    let s = 12345;
    for (let i = 0; i < 5000; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const id = Math.max(1, max + 4 - (s % 70));
      const expected = !seen.has(id) && (id > max || max - id < 64);
      assert.equal(accept(w, id, 7, NOW), expected, `id ${id} max ${max}`);
      if (expected) {
        seen.add(id);
        max = Math.max(max, id);
      }
    }
  });

  it('the sender wraps to 1 with a new time only once the clock moved on', () => {
    const s = new ReplaySender(0xfffffffe);
    assert.deepEqual(s.next(NOW), { id: 0xffffffff, timeSec: NOW });
    assert.throws(() => s.next(NOW), OvpnError);
    assert.deepEqual(s.next(NOW + 1), { id: 1, timeSec: NOW + 1 });
  });
});

describe('plain', () => {
  it('passes packets through; refuses less than opcode + session id', () => {
    const w = new PlainWrap();
    const p = RESET('0102030405060708');
    assert.deepEqual(w.wrap(p), p);
    assert.equal(w.unwrap(p), p);
    assert.equal(w.unwrap(p.subarray(0, 8)), WrapError.SHORT);
    assert.throws(() => w.wrap(p.subarray(0, 8)), OvpnError);
  });
});
