/**
 * Session ids and the 2.6 stateless HMAC cookie (src/control/session-id.ts): time slots (current and the
 * two before), peer binding, and check_session_hmac_and_pkt_id's rules on the handshake's third packet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ControlPacket, decodeControl, PacketError } from '../../../src/control/packet.js';
import { newSessionId, SessionCookie } from '../../../src/control/session-id.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const KEY = Buffer.alloc(32, 0x5a);
const PEER = { family: 4 as const, addr: hex('7f000001'), port: 40000 };
const CLIENT_SID = hex('d79737a77a5c589e');
const T = 1_700_000_010; // slot boundaries every 30 s with hand-window 60

function packet(h: string): ControlPacket {
  const p = decodeControl(hex(h));
  if (p instanceof PacketError) assert.fail(p.reason);
  return p;
}

describe('session ids', () => {
  it('8 random bytes, never all zero', () => {
    assert.equal(newSessionId().length, 8);
    let calls = 0;
    const sid = newSessionId((n) => (++calls < 3 ? Buffer.alloc(n) : Buffer.alloc(n, 1)));
    assert.equal(calls, 3);
    assert.deepEqual(sid, Buffer.alloc(8, 1));
  });
});

describe('HMAC cookie (2.6 calculate_session_id_hmac)', () => {
  const cookie = new SessionCookie(KEY);

  it('valid in the current slot and the two before, not later or earlier', () => {
    const sid = cookie.compute(CLIENT_SID, PEER, T);
    const slot = 30;
    const base = Math.floor(T / slot) * slot;
    assert.ok(cookie.verify(sid, CLIENT_SID, PEER, base));
    assert.ok(cookie.verify(sid, CLIENT_SID, PEER, base + slot + 29));
    assert.ok(cookie.verify(sid, CLIENT_SID, PEER, base + 2 * slot + 29));
    assert.ok(!cookie.verify(sid, CLIENT_SID, PEER, base + 3 * slot));
    assert.ok(!cookie.verify(sid, CLIENT_SID, PEER, base - 1));
  });

  it('bound to the peer address, port, client session id and key', () => {
    const sid = cookie.compute(CLIENT_SID, PEER, T);
    assert.ok(!cookie.verify(sid, CLIENT_SID, { ...PEER, port: 40001 }, T));
    assert.ok(!cookie.verify(sid, CLIENT_SID, { ...PEER, addr: hex('7f000002') }, T));
    assert.ok(!cookie.verify(sid, CLIENT_SID, { family: 6, addr: Buffer.alloc(16), port: PEER.port }, T));
    assert.ok(!cookie.verify(sid, hex('d79737a77a5c589f'), PEER, T));
    assert.ok(!new SessionCookie(Buffer.alloc(32, 1)).verify(sid, CLIENT_SID, PEER, T));
    assert.ok(!cookie.verify(sid.subarray(0, 7), CLIENT_SID, PEER, T));
  });

  it('the slot length is (hand-window + 1) / 2', () => {
    const c = new SessionCookie(KEY, 9);
    const sid = c.compute(CLIENT_SID, PEER, 100);
    assert.ok(c.verify(sid, CLIENT_SID, PEER, 100 + 10));
    assert.ok(!c.verify(sid, CLIENT_SID, PEER, 100 + 15));
    assert.throws(() => new SessionCookie(Buffer.alloc(31)), OvpnError);
    assert.throws(() => new SessionCookie(KEY, 0), OvpnError);
  });

  it("verdicts on the handshake's third packet", () => {
    const s = cookie.compute(CLIENT_SID, PEER, T).toString('hex');
    const c = CLIENT_SID.toString('hex');
    const cases: [string, string][] = [
      [`28 ${c} 01 00000000 ${s}`, 'OK'],
      [`20 ${c} 01 00000000 ${s} 00000001 160301`, 'OK'],
      [`58 ${c} 02 00000000 00000001 ${s} 00000001`, 'OK'],
      [`20 ${c} 00 00000001 160301`, 'NO_ACK'],
      [`20 ${c} 01 00000002 ${s} 00000001`, 'PACKET_ID'],
      [`20 ${c} 01 00000000 ${s} 00000002`, 'PACKET_ID'],
      [`28 ${c} 02 00000000 00000005 ${s}`, 'PACKET_ID'],
      [`28 ${c} 01 00000000 ${'11'.repeat(8)}`, 'COOKIE'],
      [`21 ${c} 01 00000000 ${s} 00000001`, 'OPCODE'],
      [`38 ${c} 01 00000000 ${s} 00000000`, 'OPCODE'],
      [`18 ${c} 01 00000000 ${s} 00000000`, 'OPCODE'],
    ];
    for (const [h, verdict] of cases) assert.equal(cookie.check(packet(h), PEER, T + 40), verdict, h);
  });
});
