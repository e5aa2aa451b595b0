/**
 * The listener with tls-crypt-v2: the stateless reply to a client's V3 reset goes under the client's
 * own key (from the reset's WKc), so the client can read it; the session the cookie echo creates
 * continues after the reply's replay id, and its wrap holds the client key's metadata.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ServerListener } from '../../../src/control/listener.js';
import { decodeControl, PacketError } from '../../../src/control/packet.js';
import { ClientSession } from '../../../src/control/session.js';
import { SessionCookie } from '../../../src/control/session-id.js';
import { tlsCryptV2ServerKey } from '../../../src/control/static-key.js';
import {
  METADATA_TYPE_USER,
  TlsCryptV2ClientWrap,
  TlsCryptV2ServerWrap,
  wrapClientKey,
} from '../../../src/control/wrap/tls-crypt-v2.js';
import { WrapError } from '../../../src/control/wrap/wrap.js';
import { OP_CONTROL_HARD_RESET_SERVER_V2 } from '../../../src/wire/opcode.js';

const T0 = 1_700_000_000_000;
const FROM = '10.0.0.2:40000';

describe('listener with tls-crypt-v2', () => {
  it('replies under the client key, then creates the session from the WKc-carrying cookie echo', () => {
    const serverKey = tlsCryptV2ServerKey(randomBytes(128));
    const kc = randomBytes(256);
    const metadata = Buffer.concat([Buffer.from([METADATA_TYPE_USER]), Buffer.from('team-a')]);
    const wkc = wrapClientKey(serverKey, kc, metadata);
    const clientWrap = new TlsCryptV2ClientWrap({ clientKey: { key2: kc, wkc } });
    const client = new ClientSession({ wrap: clientWrap, maxPayload: 1000 });
    client.start(T0);
    const listener = new ServerListener({
      cookie: SessionCookie.create(60),
      newWrap: (first) => new TlsCryptV2ServerWrap({ serverKey, firstPacketId: first }),
      connectFreqInitial: { n: 100, seconds: 10 },
    });
    const v = listener.receive(FROM, client.poll(T0)[0], T0);
    assert.equal(v.kind, 'reply', JSON.stringify([...listener.drops]));
    if (v.kind !== 'reply') return;
    // a second wrap of the same client key reads it (the session's own must not see it twice)
    const reader = new TlsCryptV2ClientWrap({ clientKey: { key2: kc, wkc } });
    const plain = reader.unwrap(v.packet, T0 / 1000);
    assert.ok(!(plain instanceof WrapError), 'the client reads the reply with its own key');
    const d = decodeControl(plain);
    assert.ok(!(d instanceof PacketError));
    assert.equal(d.opcode, OP_CONTROL_HARD_RESET_SERVER_V2);

    assert.ok(client.receive(v.packet, T0 + 10).accepted);
    client.sendTls(Buffer.from('client hello'));
    const echo = client.poll(T0 + 20);
    assert.ok(echo.length > 0);
    const created = listener.receive(FROM, echo[0], T0 + 20);
    assert.equal(created.kind, 'create', JSON.stringify([...listener.drops]));
    if (created.kind !== 'create') return;
    assert.ok(created.wrap instanceof TlsCryptV2ServerWrap);
    assert.deepEqual(created.wrap.metadata, metadata);
    // the session's first packet goes out after the reply's replay id 1: the client takes it
    const next = created.wrap.wrap(Buffer.from([0x28, ...randomBytes(8), 0]), T0 / 1000);
    assert.ok(!(reader.unwrap(next, T0 / 1000) instanceof WrapError), 'not a replay of id 1');
  });
});
