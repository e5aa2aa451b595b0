/**
 * The control packet codec (src/control/packet.ts) against the plain packets of a live 2.6.14 run
 * (spec openvpn-protocol §4.1), round trips, and every malformed input as a typed error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ACK_MAX,
  buildEarlyNegotiation,
  type ControlPacket,
  decodeControl,
  EARLY_NEG_FLAG_RESEND_WKC,
  EARLY_NEG_START,
  encodeControl,
  isEarlyNegPacketId,
  PacketError,
  parseEarlyNegotiation,
  resetDirectionOk,
} from '../../../src/control/packet.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import {
  OP_ACK_V1,
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_V1,
} from '../../../src/wire/opcode.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const CLIENT_SID = hex('d79737a77a5c589e');
const SERVER_SID = hex('4511534316d86a51');

function decoded(buf: Buffer): ControlPacket {
  const p = decodeControl(buf);
  if (p instanceof PacketError) assert.fail(`decode failed: ${p.reason}`);
  return p;
}

describe('control packet: spec §4.1 LAB packets', () => {
  it('client hard reset: 14 bytes, no acks, message id 0', () => {
    const wire = hex('38 d79737a77a5c589e 00 00000000');
    const p = decoded(wire);
    assert.equal(p.opcode, OP_CONTROL_HARD_RESET_CLIENT_V2);
    assert.equal(p.keyId, 0);
    assert.deepEqual(p.sessionId, CLIENT_SID);
    assert.deepEqual(p.acks, []);
    assert.equal(p.remoteSessionId, undefined);
    assert.equal(p.messageId, 0);
    assert.equal(p.payload.length, 0);
    assert.deepEqual(encodeControl(p), wire);
  });

  it('server hard reset: acks [0] with the client sid', () => {
    const wire = hex('40 4511534316d86a51 01 00000000 d79737a77a5c589e 00000000');
    const p = decoded(wire);
    assert.equal(p.opcode, OP_CONTROL_HARD_RESET_SERVER_V2);
    assert.deepEqual(p.acks, [0]);
    assert.deepEqual(p.remoteSessionId, CLIENT_SID);
    assert.equal(p.messageId, 0);
    assert.deepEqual(encodeControl(p), wire);
  });

  it('client P_CONTROL_V1 with the first TLS bytes as payload', () => {
    const wire = hex('20 d79737a77a5c589e 01 00000000 4511534316d86a51 00000001 160301');
    const p = decoded(wire);
    assert.equal(p.opcode, OP_CONTROL_V1);
    assert.equal(p.messageId, 1);
    assert.deepEqual(p.payload, hex('160301'));
    assert.deepEqual(encodeControl(p), wire);
  });

  it('P_ACK_V1 with 2 acks is 26 bytes (4-byte ack ids, not 8)', () => {
    const wire = hex('28 d79737a77a5c589e 02 00000001 00000000 4511534316d86a51');
    assert.equal(wire.length, 26);
    const p = decoded(wire);
    assert.equal(p.opcode, OP_ACK_V1);
    assert.deepEqual(p.acks, [1, 0]);
    assert.equal(p.messageId, undefined);
    assert.deepEqual(p.remoteSessionId, SERVER_SID);
    assert.deepEqual(encodeControl(p), wire);
  });

  it('bytes after a P_ACK_V1 ack block are ignored, as 2.6 does', () => {
    const p = decoded(hex('28 d79737a77a5c589e 01 00000007 4511534316d86a51 deadbeef'));
    assert.deepEqual(p.acks, [7]);
    assert.equal(p.payload.length, 0);
  });
});

describe('control packet: round trips', () => {
  it('every opcode, key-id, ack count and payload size', () => {
    const ops = [3, 4, 5, 7, 8, 10, 11];
    for (const opcode of ops) {
      for (const n of [0, 1, 4, ACK_MAX]) {
        const hard = opcode === 7 || opcode === 8 || opcode === 10;
        const p = {
          opcode,
          keyId: hard ? 0 : 5,
          sessionId: CLIENT_SID,
          acks: Array.from({ length: n }, (_, i) => (i * 0x01020304) >>> 0),
          remoteSessionId: n > 0 ? SERVER_SID : undefined,
          messageId: opcode === OP_ACK_V1 ? undefined : 0xfffffffe,
          payload: opcode === OP_ACK_V1 ? Buffer.alloc(0) : Buffer.alloc(n * 7, 0xab),
        } as ControlPacket;
        const wire = encodeControl(p);
        const back = decoded(wire);
        assert.deepEqual({ ...back }, { ...p, payload: back.payload, sessionId: back.sessionId });
        assert.deepEqual(back.payload, p.payload);
      }
    }
  });
});

describe('control packet: malformed input is a typed error', () => {
  const cases: [string, string, PacketError][] = [
    ['empty', '', PacketError.SHORT],
    ['opcode only', '38', PacketError.SHORT],
    ['truncated own session id', '38 d79737a77a5c', PacketError.SHORT],
    ['no ack count', '38 d79737a77a5c589e', PacketError.SHORT],
    ['no message id', '38 d79737a77a5c589e 00', PacketError.SHORT],
    ['truncated message id', '38 d79737a77a5c589e 00 000000', PacketError.SHORT],
    ['truncated ack ids', '40 4511534316d86a51 02 00000000 0000', PacketError.SHORT],
    ['truncated remote session id', '40 4511534316d86a51 01 00000000 d79737a77a', PacketError.SHORT],
    ['ack without message id', '20 d79737a77a5c589e 01 00000000 4511534316d86a51', PacketError.SHORT],
    ['P_ACK_V1 without remote sid', '28 d79737a77a5c589e 01 00000001', PacketError.SHORT],
    [
      'ack count 9 > 8',
      `28 d79737a77a5c589e 09 ${'00000000'.repeat(9)} 4511534316d86a51`,
      PacketError.ACK_COUNT,
    ],
    ['ack count 255', `28 d79737a77a5c589e ff ${'00'.repeat(40)}`, PacketError.ACK_COUNT],
    ['key-method 1 client reset', '08 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['key-method 1 server reset', '10 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['DATA_V1', '30 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['DATA_V2', '48 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['opcode 0', '00 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['opcode 12', '60 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['opcode 31', 'f8 d79737a77a5c589e 00 00000000', PacketError.OPCODE],
    ['hard reset on key-id 1', '39 d79737a77a5c589e 00 00000000', PacketError.KEY_ID],
    ['server reset on key-id 7', '47 d79737a77a5c589e 00 00000000', PacketError.KEY_ID],
    ['zero own session id', '38 0000000000000000 00 00000000', PacketError.SESSION_ID],
    [
      'zero remote session id',
      '40 4511534316d86a51 01 00000000 0000000000000000 00000000',
      PacketError.SESSION_ID,
    ],
  ];
  for (const [name, h, err] of cases) {
    it(name, () => {
      const r = decodeControl(hex(h));
      assert.ok(r instanceof PacketError, `${name}: decoded`);
      assert.equal(r.reason, err.reason);
    });
  }

  it('a soft reset and P_CONTROL_V1 on key-id 3 are fine (the session checks key-ids)', () => {
    assert.equal(decoded(hex('1b d79737a77a5c589e 00 00000000')).keyId, 3);
    assert.equal(decoded(hex('23 d79737a77a5c589e 00 00000005 aa')).keyId, 3);
  });

  it('reset direction: client resets only at a server, server resets only at a client', () => {
    assert.equal(resetDirectionOk(OP_CONTROL_HARD_RESET_CLIENT_V2, 'server'), true);
    assert.equal(resetDirectionOk(OP_CONTROL_HARD_RESET_CLIENT_V2, 'client'), false);
    assert.equal(resetDirectionOk(10, 'client'), false);
    assert.equal(resetDirectionOk(OP_CONTROL_HARD_RESET_SERVER_V2, 'server'), false);
    assert.equal(resetDirectionOk(OP_CONTROL_V1, 'client'), true);
  });
});

describe('control packet: encode refuses what a 2.6 peer would drop', () => {
  const base: ControlPacket = {
    opcode: OP_CONTROL_V1,
    keyId: 0,
    sessionId: CLIENT_SID,
    acks: [],
    remoteSessionId: undefined,
    messageId: 1,
    payload: Buffer.alloc(0),
  };
  const bad: [string, Record<string, unknown>][] = [
    ['opcode 9', { opcode: 9 }],
    ['key-id 8', { keyId: 8 }],
    ['hard reset on key-id 2', { opcode: OP_CONTROL_HARD_RESET_CLIENT_V2, keyId: 2 }],
    ['7-byte session id', { sessionId: Buffer.alloc(7, 1) }],
    ['zero session id', { sessionId: Buffer.alloc(8) }],
    ['9 acks', { acks: Array(9).fill(0), remoteSessionId: SERVER_SID }],
    ['acks without remote sid', { acks: [0] }],
    ['ack not u32', { acks: [-1], remoteSessionId: SERVER_SID }],
    ['no message id', { messageId: undefined }],
    ['message id 2^32', { messageId: 2 ** 32 }],
    ['P_ACK_V1 with message id', { opcode: OP_ACK_V1, acks: [0], remoteSessionId: SERVER_SID }],
    [
      'P_ACK_V1 with payload',
      {
        opcode: OP_ACK_V1,
        acks: [0],
        remoteSessionId: SERVER_SID,
        messageId: undefined,
        payload: Buffer.from('x'),
      },
    ],
  ];
  for (const [name, patch] of bad) {
    it(name, () => {
      assert.throws(
        () => encodeControl({ ...base, ...patch } as unknown as ControlPacket),
        (e: unknown) => e instanceof OvpnError && e.code === 'EINVAL',
      );
    });
  }
});

describe('early-negotiation TLVs (spec §4.10)', () => {
  it('RESEND_WKC round trip and the bytes a 2.6 server sends', () => {
    const tlv = buildEarlyNegotiation(EARLY_NEG_FLAG_RESEND_WKC);
    assert.deepEqual(tlv, hex('0001 0002 0001'));
    assert.deepEqual(parseEarlyNegotiation(tlv), { flags: 1, resendWkc: true });
  });

  it('empty payload, unknown types skipped', () => {
    assert.deepEqual(parseEarlyNegotiation(Buffer.alloc(0)), { flags: 0, resendWkc: false });
    assert.deepEqual(parseEarlyNegotiation(hex('1234 0003 aabbcc 0001 0002 0000')), {
      flags: 0,
      resendWkc: false,
    });
  });

  it('malformed TLVs are refused', () => {
    for (const h of ['00', '000100', '0001 0002 00', '0001 0003 000100', '0005 0004 aabb']) {
      assert.equal(parseEarlyNegotiation(hex(h)), PacketError.SHORT, h);
    }
  });

  it('the early-negotiation marker in a replay packet-id', () => {
    assert.equal(isEarlyNegPacketId(EARLY_NEG_START + 1), true);
    assert.equal(isEarlyNegPacketId(0xff000001), true);
    assert.equal(isEarlyNegPacketId(1), false);
    assert.equal(isEarlyNegPacketId(0x0e000001), false);
  });
});
