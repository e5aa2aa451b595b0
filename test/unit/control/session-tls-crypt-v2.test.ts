/**
 * The client session with a tls-crypt-v2 wrap (a wrap with `wkcLength`): it resets with
 * P_CONTROL_HARD_RESET_CLIENT_V3, and when the server's reset asks for the WKc again
 * (EARLY_NEG_FLAG_RESEND_WKC), its message-id 1 goes out as P_CONTROL_WKC_V1, shorter by the WKc, or
 * empty when no TLS is queued (2.6 ssl.c control_packet_needs_wkc). Appending the WKc itself is the
 * wrap's job (wrap-tls-crypt-v2.test.ts); a plain wrap stands in for it here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildEarlyNegotiation,
  type ControlPacket,
  decodeControl,
  EARLY_NEG_FLAG_RESEND_WKC,
  encodeControl,
} from '../../../src/control/packet.js';
import { ClientSession } from '../../../src/control/session.js';
import { PlainWrap } from '../../../src/control/wrap/plain.js';
import {
  OP_CONTROL_HARD_RESET_CLIENT_V2,
  OP_CONTROL_HARD_RESET_CLIENT_V3,
  OP_CONTROL_HARD_RESET_SERVER_V2,
  OP_CONTROL_V1,
  OP_CONTROL_WKC_V1,
} from '../../../src/wire/opcode.js';

const T0 = 1_700_000_000_000;
const SERVER_SID = Buffer.from('5e5e5e5e5e5e5e5e', 'hex');

class WkcWrap extends PlainWrap {
  readonly wkcLength = 50;
}

function serverReset(client: ClientSession, flags: number | undefined): Buffer {
  return encodeControl({
    opcode: OP_CONTROL_HARD_RESET_SERVER_V2,
    keyId: 0,
    sessionId: SERVER_SID,
    acks: [0],
    remoteSessionId: client.sessionId,
    messageId: 0,
    payload: flags === undefined ? Buffer.alloc(0) : buildEarlyNegotiation(flags),
  });
}

function decoded(wire: Buffer[]): ControlPacket[] {
  return wire.map((w) => decodeControl(w) as ControlPacket);
}

describe('ClientSession with tls-crypt-v2', () => {
  it('resets with V3 (V2 without a WKc)', () => {
    const v3 = new ClientSession({ wrap: new WkcWrap(), maxPayload: 1000 });
    v3.start(T0);
    assert.equal(decoded(v3.poll(T0))[0].opcode, OP_CONTROL_HARD_RESET_CLIENT_V3);
    const v2 = new ClientSession({ wrap: new PlainWrap(), maxPayload: 1000 });
    v2.start(T0);
    assert.equal(decoded(v2.poll(T0))[0].opcode, OP_CONTROL_HARD_RESET_CLIENT_V2);
  });

  it('sends message-id 1 as P_CONTROL_WKC_V1, shorter by the WKc, when the server asks', () => {
    const client = new ClientSession({ wrap: new WkcWrap(), maxPayload: 1000 });
    client.start(T0);
    client.poll(T0);
    client.sendTls(Buffer.alloc(1200, 7)); // the ClientHello, held until the reset is acked
    client.receive(serverReset(client, EARLY_NEG_FLAG_RESEND_WKC), T0 + 10);
    assert.equal(client.earlyNegotiationFlags, EARLY_NEG_FLAG_RESEND_WKC);
    const out = decoded(client.poll(T0 + 10));
    assert.deepEqual(
      out.map((p) => [p.opcode, p.messageId, p.payload.length]),
      [
        [OP_CONTROL_WKC_V1, 1, 950],
        [OP_CONTROL_V1, 2, 250],
      ],
    );
    assert.deepEqual(out[0].acks, [0]);
    // later TLS is plain P_CONTROL_V1
    client.sendTls(Buffer.alloc(10));
    assert.equal(decoded(client.poll(T0 + 20)).at(-1)?.opcode, OP_CONTROL_V1);
  });

  it('acks the server reset on an empty P_CONTROL_WKC_V1 when no TLS is queued', () => {
    const client = new ClientSession({ wrap: new WkcWrap(), maxPayload: 1000 });
    client.start(T0);
    client.poll(T0);
    client.receive(serverReset(client, EARLY_NEG_FLAG_RESEND_WKC), T0 + 10);
    const [p, ...rest] = decoded(client.poll(T0 + 10));
    assert.deepEqual(rest, []);
    assert.equal(p.opcode, OP_CONTROL_WKC_V1);
    assert.equal(p.messageId, 1);
    assert.deepEqual(p.acks, [0]);
    assert.equal(p.payload.length, 0);
    client.sendTls(Buffer.alloc(10));
    const [hello] = decoded(client.poll(T0 + 20));
    assert.deepEqual([hello.opcode, hello.messageId], [OP_CONTROL_V1, 2]);
  });

  it('keeps P_CONTROL_V1 when the server does not ask for the WKc', () => {
    const client = new ClientSession({ wrap: new WkcWrap(), maxPayload: 1000 });
    client.start(T0);
    client.poll(T0);
    client.sendTls(Buffer.alloc(100));
    client.receive(serverReset(client, undefined), T0 + 10);
    const [hello] = decoded(client.poll(T0 + 10));
    assert.deepEqual([hello.opcode, hello.messageId, hello.payload.length], [OP_CONTROL_V1, 1, 100]);
  });
});
