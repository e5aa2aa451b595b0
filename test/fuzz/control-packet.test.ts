/**
 * Fuzzing the control-channel codec and wrappers (src/control/packet.ts, src/control/wrap/*.ts):
 *
 * - decodeControl on random bytes and on mutated / truncated / extended valid packets: never throws;
 *   whatever decodes re-encodes to the same bytes (P_ACK_V1: to the prefix it read), so a decode never
 *   invents or loses a field;
 * - each unwrap (plain, tls-auth SHA1/SHA256, tls-crypt, tls-crypt-v2 both sides) on a stream of packets
 *   wrapped by its peer: fresh originals are accepted and give back the plain packet; replays are REPLAY;
 *   mutated, truncated, extended and random inputs are typed drops and never spoil the next original.
 *   Drops are counted per reason and reported.
 */
import { describe, it } from 'node:test';
import { type ControlPacket, decodeControl, encodeControl, PacketError } from '../../src/control/packet.js';
import { tlsCryptV2ServerKey } from '../../src/control/static-key.js';
import { PlainWrap } from '../../src/control/wrap/plain.js';
import { TlsAuthWrap } from '../../src/control/wrap/tls-auth.js';
import { TlsCryptWrap } from '../../src/control/wrap/tls-crypt.js';
import {
  TlsCryptV2ClientWrap,
  TlsCryptV2ServerWrap,
  timestampMetadata,
  wrapClientKey,
} from '../../src/control/wrap/tls-crypt-v2.js';
import { type ControlWrap, WrapError } from '../../src/control/wrap/wrap.js';
import { ensure, fuzz, iterations, type Rng, show, summary } from '../support/fuzz-rng.js';

const OPCODES = [3, 4, 5, 7, 8, 10, 11];

function randomPacket(rng: Rng, opcodes = OPCODES): ControlPacket {
  const opcode = rng.pick(opcodes);
  const isAck = opcode === 5;
  const n = isAck ? rng.range(1, 8) : rng.small(8);
  const sid = rng.bytes(8);
  sid[0] |= 1;
  const remote = rng.bytes(8);
  remote[7] |= 1;
  return {
    opcode: opcode as ControlPacket['opcode'],
    keyId: opcode === 7 || opcode === 8 || opcode === 10 ? 0 : rng.int(8),
    sessionId: sid,
    acks: Array.from({ length: n }, () => (rng.chance(0.5) ? rng.small(16) : rng.u32())),
    remoteSessionId: n > 0 ? remote : undefined,
    messageId: isAck ? undefined : rng.chance(0.5) ? rng.small(16) : rng.u32(),
    payload: isAck ? Buffer.alloc(0) : rng.bytes(rng.small(1300)),
  };
}

function mutate(rng: Rng, wire: Buffer): Buffer {
  switch (rng.int(4)) {
    case 0: {
      const m = Buffer.from(wire);
      const flips = rng.range(1, 3);
      for (let i = 0; i < flips; i++) m[rng.int(m.length)] ^= 1 << rng.int(8);
      return m;
    }
    case 1:
      return wire.subarray(0, rng.int(wire.length));
    case 2:
      return Buffer.concat([wire, rng.bytes(rng.range(1, 16))]);
    default: {
      const m = Buffer.from(wire);
      m[rng.int(m.length)] = rng.u32() & 0xff;
      return m;
    }
  }
}

/** decodeControl must not throw; a success must re-encode to the bytes it was read from. */
function checkDecode(input: Buffer, tally: Map<string, number>): void {
  let r: ControlPacket | PacketError;
  try {
    r = decodeControl(input);
  } catch (e) {
    throw new Error(`decodeControl threw ${show(e)} on ${show(input)}`);
  }
  if (r instanceof PacketError) {
    tally.set(r.reason, (tally.get(r.reason) ?? 0) + 1);
    return;
  }
  tally.set('decoded', (tally.get('decoded') ?? 0) + 1);
  const again = encodeControl(r);
  ensure(
    again.equals(input.subarray(0, again.length)),
    () => `re-encode differs: ${show(input)} vs ${show(again)}`,
  );
  ensure(r.opcode === 5 || again.length === input.length, () => `bytes lost: ${show(input)}`);
}

function tallyLine(tally: Map<string, number>): string {
  return [...tally.entries()].map(([k, v]) => `${k}=${v}`).join(' ');
}

interface Pair {
  readonly name: string;
  readonly sender: ControlWrap;
  readonly receiver: ControlWrap;
  /** Opcodes the sender may use. */
  readonly opcodes: number[];
  /** A packet the pair needs first (tls-crypt-v2: the V3 reset that carries the WKc). */
  readonly first?: number;
}

function pairs(rng: Rng): Pair[] {
  const key2 = rng.bytes(256);
  const server = tlsCryptV2ServerKey(rng.bytes(128));
  const kc = rng.bytes(256);
  const clientKey = { key2: kc, wkc: wrapClientKey(server, kc, timestampMetadata(1_700_000_000n)) };
  const v2server = new TlsCryptV2ServerWrap({ serverKey: server });
  return [
    { name: 'plain', sender: new PlainWrap(), receiver: new PlainWrap(), opcodes: OPCODES },
    {
      name: 'tls-auth-sha1',
      sender: new TlsAuthWrap({ key2, direction: 'inverse' }),
      receiver: new TlsAuthWrap({ key2, direction: 'normal' }),
      opcodes: OPCODES,
    },
    {
      name: 'tls-auth-sha256',
      sender: new TlsAuthWrap({ key2, direction: 'normal', digest: 'SHA256' }),
      receiver: new TlsAuthWrap({ key2, direction: 'inverse', digest: 'SHA256' }),
      opcodes: OPCODES,
    },
    {
      name: 'tls-crypt',
      sender: new TlsCryptWrap({ key2, role: 'client' }),
      receiver: new TlsCryptWrap({ key2, role: 'server' }),
      opcodes: OPCODES,
    },
    {
      name: 'tls-crypt-v2 client->server',
      sender: new TlsCryptV2ClientWrap({ clientKey }),
      receiver: v2server,
      opcodes: [3, 4, 5, 10, 11],
      first: 10,
    },
    {
      name: 'tls-crypt-v2 server->client',
      sender: v2server,
      receiver: new TlsCryptV2ClientWrap({ clientKey }),
      opcodes: [3, 4, 5, 8],
    },
  ];
}

describe('fuzz: control packets', () => {
  it('decodeControl on random bytes', (t) => {
    const tally = new Map<string, number>();
    const r = fuzz('control-decode-random', iterations(100_000), (rng) => {
      const b = rng.bytes(rng.small(80));
      if (b.length > 0 && rng.chance(0.7)) b[0] = (rng.pick(OPCODES) << 3) | rng.int(8);
      if (b.length > 9 && rng.chance(0.5)) b[9] = rng.small(10);
      checkDecode(b, tally);
    });
    t.diagnostic(`${summary(r)}: ${tallyLine(tally)}`);
  });

  it('decodeControl on mutated, truncated and extended valid packets', (t) => {
    const tally = new Map<string, number>();
    const r = fuzz('control-decode-mutated', iterations(50_000), (rng) => {
      const wire = encodeControl(randomPacket(rng));
      checkDecode(wire, tally);
      checkDecode(mutate(rng, wire), tally);
    });
    t.diagnostic(`${summary(r)}: ${tallyLine(tally)}`);
  });

  it('every unwrap: originals accepted once, replays and tampering are typed drops', (t) => {
    const tally = new Map<string, number>();
    let now = 1_700_000_000;
    let session: Pair[] = [];
    const r = fuzz('control-unwrap', iterations(6_000), (rng, i) => {
      if (i % 500 === 0) session = pairs(rng);
      now += rng.small(3);
      for (const pair of session) {
        const sent: Buffer[] = (pair as Pair & { sent?: Buffer[] }).sent ?? [];
        (pair as Pair & { sent?: Buffer[] }).sent = sent;
        const opcodes = sent.length === 0 && pair.first !== undefined ? [pair.first] : pair.opcodes;
        const plain = encodeControl(randomPacket(rng, opcodes));
        const wire = pair.sender.wrap(plain, now);
        const attempt = (input: Buffer, expectPlain: Buffer | undefined, what: string): void => {
          let out: Buffer | WrapError;
          try {
            out = pair.receiver.unwrap(input, now);
          } catch (e) {
            throw new Error(`${pair.name}: unwrap threw ${show(e)} on ${what} ${show(input)}`);
          }
          const key = `${pair.name}:${out instanceof WrapError ? out.reason : 'ok'}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          if (expectPlain !== undefined) {
            ensure(
              !(out instanceof WrapError) && out.equals(expectPlain),
              () => `${pair.name}: ${what} refused: ${show(out)}`,
            );
          } else if (pair.name !== 'plain') {
            ensure(out instanceof WrapError, () => `${pair.name}: ${what} accepted: ${show(input)}`);
          }
        };
        const action = rng.int(5);
        if (action === 1 && sent.length > 0) attempt(rng.pick(sent), undefined, 'replay');
        if (action === 2) {
          const m = mutate(rng, wire);
          // the plain wrap has no protection; a v2 server ignores a WKc once it has the key
          const tailOnly =
            pair.name.endsWith('client->server') && sent.length > 0 && m.length === wire.length;
          if (!m.equals(wire) && !tailOnly) attempt(m, undefined, 'mutated');
        }
        if (action === 3) attempt(rng.bytes(rng.small(1500)), undefined, 'garbage');
        attempt(wire, plain, 'original');
        if (action === 4) attempt(wire, undefined, 'immediate replay');
        sent.push(wire);
        if (sent.length > 64) sent.shift();
      }
    });
    t.diagnostic(`${summary(r)}: ${tallyLine(tally)}`);
  });
});
