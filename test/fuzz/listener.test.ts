/**
 * Fuzzing the server's UDP listener (src/control/listener.ts) and its sessions (server-session.ts), with
 * every wrapping (none, tls-auth, tls-crypt, tls-crypt-v2 with and without force-cookie), against
 * genuine clients (ClientSession) and an attacker:
 *
 * - garbage from anywhere (random bytes, opcode-shaped headers, genuine packets with random tails, bad
 *   source addresses): never throws, never creates a session; with authentication, only drops;
 * - truncated, extended and bit-flipped resets and cookie echoes: with authentication, each is a drop
 *   and the genuine packet after it still works;
 * - a valid cookie echo replayed from other addresses (dropped: cookie), from its own address at any
 *   time (a session exactly while the cookie's slot is one of the last three), and once its address is
 *   attached (to the session);
 * - floods of hard resets from thousands of addresses mixed with garbage and genuine clients: stateless
 *   replies exactly as connect-freq-initial allows, creations exactly as connect-freq allows;
 * - a server session fed garbage, mutations and replays between genuine packets: every refused packet
 *   is one counted drop, and with authentication the TLS bytes still arrive whole both ways.
 *
 * Every datagram goes through ListenerProbe (listener-harness.ts), which checks on each one: no throw,
 * every drop counted once under its reason, replies and creations as 2.6's limiters allow, and a
 * listener state of its construction plus drop counters and attached addresses: nothing kept for an
 * address that did not prove itself.
 */
import { describe, it } from 'node:test';
import { ServerSession } from '../../src/control/server-session.js';
import { ClientSession } from '../../src/control/session.js';
import { ensure, FUZZ_SEED, fuzz, iterations, mix32, Rng, show, summary } from '../support/fuzz-rng.js';
import {
  ListenerProbe,
  MODES,
  type Mode,
  mutate,
  randomAddress,
  type Verdict,
  type WrapKeys,
  wrapKeys,
} from './listener-harness.js';

const T0 = 1_700_000_000_000;
const MAX_PAYLOAD = 1000;

interface Client {
  session: ClientSession;
  reset: Buffer;
}

function newClient(keys: WrapKeys, rng: Rng, nowMs: number, earlyNegotiation = true): Client {
  const sid = rng.bytes(8);
  sid[0] |= 1;
  const session = new ClientSession({
    wrap: keys.client(earlyNegotiation),
    sessionId: sid,
    maxPayload: MAX_PAYLOAD,
  });
  session.start(nowMs);
  const out = session.poll(nowMs);
  ensure(out.length === 1, () => `a new client sends one reset, not ${out.length}`);
  return { session, reset: out[0] };
}

interface Handshake {
  reply: Buffer;
  /** The TLS bytes the client sent with its cookie echo. */
  tls: Buffer;
  /** The client packet that created the session, and the verdict. */
  created: Buffer;
  create: Extract<Verdict, { kind: 'create' }>;
  /** The client's packets after that one (not sent yet). */
  rest: Buffer[];
}

/**
 * Reset → stateless reply → the client's first TLS bytes: the session the cookie echo creates, or
 * undefined when a limiter said no (the probe checked that it was right to).
 */
function handshake(
  probe: ListenerProbe,
  c: Client,
  from: string,
  nowMs: number,
  rng: Rng,
): Handshake | undefined {
  const v = probe.send(from, c.reset, nowMs, 'genuine reset');
  if (v.kind === 'create') {
    // tls-crypt-v2 without force-cookie, a client without early negotiation: in at once (the probe
    // checked that this listener may do that)
    return { reply: Buffer.alloc(0), tls: Buffer.alloc(0), created: c.reset, create: v, rest: [] };
  }
  if (v.kind !== 'reply') {
    ensure(
      v.kind === 'drop' &&
        (v.reason === 'connect-freq-initial' || v.reason === 'force-cookie' || v.reason === 'connect-freq'),
      () => `genuine reset refused: ${show(v)}`,
    );
    return undefined;
  }
  const r = c.session.receive(v.packet, nowMs);
  ensure(
    r.accepted,
    () => `client refused the stateless reply: ${show([...c.session.drops])} ${show(v.packet)}`,
  );
  const tls = rng.bytes(rng.range(1, 2 * MAX_PAYLOAD));
  ensure(c.session.sendTls(tls), () => 'client refused TLS bytes');
  const pkts = c.session.poll(nowMs);
  for (let i = 0; i < pkts.length; i++) {
    const w = probe.send(from, pkts[i], nowMs, 'genuine cookie echo');
    if (w.kind === 'create')
      return { reply: v.packet, tls, created: pkts[i], create: w, rest: pkts.slice(i + 1) };
    if (w.kind === 'drop' && w.reason === 'connect-freq') return undefined;
    // a tls-crypt-v2 client's bare ack carries no WKc: the listener cannot read it
    ensure(
      w.kind === 'drop' && w.reason === 'wrap-no_client_key',
      () => `genuine cookie echo refused: ${show(w)}`,
    );
  }
  throw new Error(`no packet of the client created a session: ${show(pkts)}`);
}

/**
 * The tls-crypt part of a tls-crypt-v2 packet that carries a WKc, as a server that already holds the
 * client key reads it: everything before the WKc whose length the last 2 bytes give.
 */
function tlsCryptPart(b: Buffer): Buffer | undefined {
  const op = b.length > 0 ? b[0] >>> 3 : -1;
  if ((op !== 10 && op !== 11) || b.length < 4) return undefined;
  const wkcLen = b.readUInt16BE(b.length - 2);
  return wkcLen < 2 || wkcLen > b.length - 1 ? undefined : b.subarray(0, b.length - wkcLen);
}

/** True if `changed` reads, to a server holding the client key, as `orig` does: only its WKc differs. */
function sameTlsCryptPart(orig: Buffer, changed: Buffer): boolean {
  const a = tlsCryptPart(orig);
  const b = tlsCryptPart(changed);
  return a !== undefined && b !== undefined && a.equals(b);
}

/** Something no genuine peer sends. */
function garbage(rng: Rng, genuine: readonly Buffer[]): Buffer {
  switch (rng.int(5)) {
    case 0:
      return rng.bytes(rng.small(1600));
    case 1: {
      // opcode-shaped: any opcode and key-id, then random bytes
      const b = rng.bytes(rng.range(1, 120));
      b[0] = (rng.int(32) << 3) | rng.int(8);
      return b;
    }
    case 2: {
      // a genuine prefix and a random tail, never the genuine packet itself
      const g = rng.pick(genuine);
      for (;;) {
        const b = Buffer.concat([g.subarray(0, rng.int(g.length)), rng.bytes(rng.small(200))]);
        if (!b.equals(g)) return b;
      }
    }
    case 3:
      return mutate(rng, rng.pick(genuine));
    default:
      return Buffer.alloc(rng.small(64));
  }
}

function keysFor(mode: Mode, name: string): { keys: WrapKeys; cookieKey: Buffer; rng: Rng } {
  const rng = new Rng(mix32(FUZZ_SEED, name.length * 7919 + MODES.indexOf(mode)));
  return { keys: wrapKeys(mode, rng), cookieKey: rng.bytes(32), rng };
}

for (const mode of MODES) {
  describe(`listener fuzz, ${mode}`, () => {
    it('garbage from anywhere: never throws, never creates, every drop counted', (t) => {
      const { keys, cookieKey, rng: setup } = keysFor(mode, 'garbage');
      const probe = new ListenerProbe({ keys, cookieKey, connectFreqInitial: { n: 10, seconds: 1 } });
      const genuine: Buffer[] = [];
      for (let i = 0; i < 8; i++) {
        const c = newClient(keys, setup, T0);
        genuine.push(c.reset);
        const hs = handshake(probe, c, `10.9.0.${i}:1194`, T0, setup);
        if (hs !== undefined) genuine.push(hs.created, ...hs.rest);
      }
      probe.kinds.clear(); // the tally is the garbage's
      let now = T0;
      const r = fuzz(`listener ${mode}: garbage`, iterations(4000), (rng) => {
        now += rng.small(2000);
        const v = probe.send(randomAddress(rng), garbage(rng, genuine), now, 'garbage');
        ensure(v.kind !== 'create', () => `garbage created a session: ${show(v)}`);
        if (keys.authenticated) ensure(v.kind === 'drop', () => `garbage passed the wrap: ${show(v)}`);
      });
      t.diagnostic(`${summary(r)}; ${probe.tally()}`);
    });

    it('mutated resets and cookie echoes: dropped under authentication, the genuine ones still work', (t) => {
      const { keys, cookieKey } = keysFor(mode, 'mutations');
      const probe = new ListenerProbe({ keys, cookieKey, connectFreqInitial: { n: 1e9, seconds: 1 } });
      let now = T0;
      const r = fuzz(`listener ${mode}: mutations`, iterations(400), (rng) => {
        now += rng.small(5000);
        const from = rng.chance(0.3)
          ? `[fd00::${rng.int(0x10000).toString(16)}]:${rng.range(1, 65535)}`
          : `10.1.${rng.int(256)}.${rng.int(256)}:${rng.range(1, 65535)}`;
        const c = newClient(keys, rng, now);
        const bad = probe.send(from, mutate(rng, c.reset), now, 'mutated reset');
        if (keys.authenticated) ensure(bad.kind === 'drop', () => `mutated reset passed: ${show(bad)}`);
        const hs = handshake(probe, c, from, now, rng);
        ensure(hs !== undefined, () => 'genuine handshake failed without a limit');
        for (let k = 0; k < 4; k++) {
          const v = probe.send(from, mutate(rng, hs.created), now, 'mutated cookie echo');
          ensure(v.kind !== 'reply', () => `a mutated cookie echo got a stateless reply: ${show(v)}`);
          if (keys.authenticated) ensure(v.kind === 'drop', () => `mutated cookie echo passed: ${show(v)}`);
        }
        const again = probe.send(from, hs.created, now, 'genuine cookie echo after mutations');
        ensure(again.kind === 'create', () => `genuine cookie echo refused after mutations: ${show(again)}`);
      });
      t.diagnostic(`${summary(r)}; ${probe.tally()}`);
    });

    it('replayed cookie echoes: other addresses dropped, own address within three slots, then its session', (t) => {
      const { keys, cookieKey } = keysFor(mode, 'replays');
      const r = fuzz(`listener ${mode}: replays`, iterations(300), (rng) => {
        const handWindowSec = rng.pick([1, 2, 5, 60, 61, 120]);
        const probe = new ListenerProbe({
          keys,
          cookieKey,
          handWindowSec,
          connectFreqInitial: { n: 1e9, seconds: 1 },
        });
        const slotSec = Math.floor((handWindowSec + 1) / 2);
        const t0 = T0 + rng.int(1e6) * 1000 + rng.int(1000);
        const v6 = rng.chance(0.3);
        const host = v6 ? `fd00::${rng.int(0x10000).toString(16)}` : `10.2.${rng.int(256)}.${rng.int(256)}`;
        const port = rng.range(1, 65534);
        const addr = (h: string, p: number) => (v6 ? `[${h}]:${p}` : `${h}:${p}`);
        const from = addr(host, port);
        const hs = handshake(probe, newClient(keys, rng, t0), from, t0, rng);
        ensure(hs !== undefined, () => 'genuine handshake failed without a limit');
        const within = (ms: number) => ms + rng.int(slotSec * 1000);
        for (const other of [
          addr(host, port + 1),
          addr(v6 ? `fd01::${rng.int(0x10000).toString(16)}` : `10.3.${rng.int(256)}.${rng.int(256)}`, port),
          v6 ? `10.2.0.1:${port}` : `[fd00::1]:${port}`,
        ]) {
          const v = probe.send(other, hs.created, within(t0), 'cookie echo from another address');
          ensure(
            v.kind === 'drop' && v.reason === 'cookie-cookie',
            () => `cookie echo replayed from ${other} not dropped as a bad cookie: ${show(v)}`,
          );
        }
        for (let k = 0; k < 3; k++) {
          const at = t0 + rng.range(-3 * slotSec * 1000, 6 * slotSec * 1000);
          const slots =
            Math.floor(Math.floor(at / 1000) / slotSec) - Math.floor(Math.floor(t0 / 1000) / slotSec);
          const v = probe.send(from, hs.created, at, `cookie echo replayed ${slots} slots later`);
          if (slots >= 0 && slots <= 2) {
            // strangers get a fresh wrap without replay state (2.6's tls_wrap_tmp): the shell's attach is
            // what stops a second session
            ensure(v.kind === 'create', () => `cookie echo ${slots} slots old refused: ${show(v)}`);
          } else {
            ensure(
              v.kind === 'drop' && v.reason === 'cookie-cookie',
              () => `cookie echo ${slots} slots old (slot ${slotSec} s) not dropped: ${show(v)}`,
            );
          }
        }
        probe.attach(from);
        const s = probe.send(from, hs.created, within(t0), 'cookie echo replayed to an attached address');
        ensure(s.kind === 'session', () => `attached address: ${show(s)}`);
        probe.detach(from);
      });
      t.diagnostic(summary(r));
    });

    const cookieModes: (boolean | undefined)[] = mode === 'tls-crypt-v2' ? [true, false] : [undefined];
    for (const forceCookie of cookieModes) {
      const label = forceCookie === false ? ' without force-cookie' : '';
      it(`a flood of hard resets from thousands of addresses${label}: replies and sessions as the limits allow`, (t) => {
        const { keys, cookieKey, rng: setup } = keysFor(mode, `flood${label}`);
        const initial = { n: setup.range(20, 60), seconds: setup.range(1, 3) };
        const freq = { n: setup.range(1, 3), seconds: setup.range(1, 5) };
        const probe = new ListenerProbe({
          keys,
          cookieKey,
          connectFreqInitial: initial,
          connectFreq: freq,
          forceCookie,
        });
        const resets: Buffer[] = [];
        for (let i = 0; i < 32; i++) resets.push(newClient(keys, setup, T0).reset);
        if (mode === 'tls-crypt-v2')
          for (let i = 0; i < 8; i++) resets.push(newClient(keys, setup, T0, false).reset);
        const genuine = [...resets];
        let now = T0;
        let created = 0;
        const live: string[] = [];
        const r = fuzz(`listener ${mode}: flood${label}`, iterations(10_000), (rng, i) => {
          now += rng.small(40);
          const from = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}:${rng.range(1024, 65535)}`;
          const roll = rng.int(100);
          if (roll < 85) {
            const v = probe.send(from, rng.pick(resets), now, 'flooded reset');
            if (v.kind === 'create') created++;
          } else if (roll < 92) {
            probe.send(randomAddress(rng), garbage(rng, genuine), now, 'garbage in the flood');
          } else {
            const early = mode !== 'tls-crypt-v2' || rng.chance(0.8);
            const c = newClient(keys, rng, now, early);
            const hs = handshake(probe, c, from, now, rng);
            if (hs !== undefined) {
              created++;
              genuine.push(hs.created);
              if (rng.chance(0.5)) {
                probe.attach(from);
                live.push(from);
              }
            }
            if (live.length > 0 && rng.chance(0.3)) probe.detach(live.splice(rng.int(live.length), 1)[0]);
          }
        });
        for (const a of live) probe.detach(a);
        t.diagnostic(
          `${summary(r)}; connect-freq-initial ${initial.n}/${initial.seconds}s, connect-freq ${freq.n}/${freq.seconds}s; created ${created}; ${probe.tally()}`,
        );
        // the flood must have met both limits, or this case tested nothing
        ensure(probe.replies > 0 && created > 0, () => `no replies or sessions: ${probe.tally()}`);
        ensure(
          (probe.drops.get('connect-freq-initial') ?? 0) > 0,
          () => `connect-freq-initial never bit: ${probe.tally()}`,
        );
        ensure((probe.drops.get('connect-freq') ?? 0) > 0, () => `connect-freq never bit: ${probe.tally()}`);
        ensure(probe.listener.drops.size === probe.drops.size, () => 'drop reasons differ');
      });
    }

    it('a server session fed garbage, mutations and replays: counted drops, TLS bytes intact', (t) => {
      const { keys, cookieKey } = keysFor(mode, 'session');
      const cookieProbe = new ListenerProbe({ keys, cookieKey, connectFreqInitial: { n: 1e9, seconds: 1 } });
      // tls-crypt-v2 allow-noncookie: a client without early negotiation gets its session from its reset
      const resetProbe =
        mode === 'tls-crypt-v2'
          ? new ListenerProbe({
              keys,
              cookieKey,
              connectFreqInitial: { n: 1e9, seconds: 1 },
              forceCookie: false,
            })
          : undefined;
      const tally = new Map<string, number>();
      const r = fuzz(`listener ${mode}: session`, iterations(150), (rng, i) => {
        let now = T0 + i * 120_000;
        const from = `10.4.${i >>> 8}.${i & 255}:${rng.range(1, 65535)}`;
        const noCookie = resetProbe !== undefined && rng.chance(0.3);
        const probe = noCookie ? resetProbe : cookieProbe;
        const c = newClient(keys, rng, now, !noCookie);
        const hs = handshake(probe, c, from, now, rng);
        ensure(hs !== undefined, () => 'genuine handshake failed without a limit');
        ensure(hs.create.from === (noCookie ? 'reset' : 'cookie'), () => `session from ${hs.create.from}`);
        probe.attach(from);
        const server = new ServerSession({
          wrap: hs.create.wrap,
          sessionId: hs.create.sessionId ?? Buffer.from([1, ...rng.bytes(7)]),
          clientSessionId: hs.create.clientSessionId,
          from: hs.create.from,
          maxPayload: MAX_PAYLOAD,
          nowMs: now,
        });
        const first = server.receivePacket(hs.create.packet, now);
        ensure(first.accepted, () => 'created packet refused');
        const history: Buffer[] = [c.reset, hs.created];
        // what the session's own wrap has seen: the reset went through the listener's throwaway wrap, so a
        // copy of it is new to the session (as in 2.6), not a replay
        const seen: Buffer[] = [hs.created];
        const atServer: Buffer[] = first.tls === undefined ? [] : [first.tls];
        const atClient: Buffer[] = [];
        const clientSent: Buffer[] = [hs.tls];
        const serverSent: Buffer[] = [];
        const serverDrops = () => {
          let n = 0;
          for (const v of server.drops.values()) n += v;
          return n;
        };
        const deliverToServer = (w: Buffer, what: string, mustFail: boolean) => {
          const v = probe.send(from, w, now, what);
          ensure(v.kind === 'session', () => `attached address not routed: ${show(v)}`);
          const before = serverDrops();
          let res: ReturnType<ServerSession['receive']>;
          try {
            res = server.receive(w, now);
          } catch (e) {
            throw new Error(`ServerSession.receive threw ${show(e)} on ${what} ${show(w)}`);
          }
          ensure(
            serverDrops() === before + (res.accepted ? 0 : 1),
            () => `${what}: accepted=${res.accepted} but drops went ${before} → ${serverDrops()}`,
          );
          if (mustFail) ensure(!res.accepted, () => `${what} accepted: ${show(w)}`);
          if (res.tls !== undefined) atServer.push(res.tls);
        };
        const pump = () => {
          let moved = 0;
          for (const w of [...hs.rest.splice(0), ...c.session.poll(now)]) {
            history.push(w);
            seen.push(w);
            deliverToServer(w, 'genuine client packet', false);
            moved++;
          }
          for (const w of server.poll(now)) {
            const res = c.session.receive(w, now);
            if (res.tls !== undefined) atClient.push(res.tls);
            moved++;
          }
          return moved;
        };
        for (let step = 0; step < 24; step++) {
          now += rng.small(400);
          switch (rng.int(5)) {
            case 0: {
              const b = rng.bytes(rng.range(1, 3 * MAX_PAYLOAD));
              if (c.session.sendTls(b)) clientSent.push(b);
              break;
            }
            case 1: {
              const b = rng.bytes(rng.range(1, 3 * MAX_PAYLOAD));
              if (server.sendTls(b)) serverSent.push(b);
              break;
            }
            case 2:
              pump();
              break;
            default: {
              const kind = rng.int(3);
              const source = rng.pick(kind === 2 ? seen : history);
              const w =
                kind === 0 ? garbage(rng, history) : kind === 1 ? mutate(rng, source) : Buffer.from(source);
              const what = ['garbage', 'mutated client packet', 'replayed client packet'][kind];
              tally.set(what, (tally.get(what) ?? 0) + 1);
              // once a session holds the client key, 2.6 cuts a WKc off unread by its length field
              // (tls_crypt.c tls_crypt_v2_extract_client_key): a change that leaves the tls-crypt part
              // as it was changes nothing
              const wkcOnly = mode === 'tls-crypt-v2' && history.some((h) => sameTlsCryptPart(h, w));
              deliverToServer(w, what, keys.authenticated && !wkcOnly);
            }
          }
        }
        for (let round = 0; round < 400; round++) {
          if (pump() > 0) continue;
          if (c.session.sendIdle && server.sendIdle) break;
          now = Math.max(now + 1, Math.min(c.session.nextWakeMs(), server.nextWakeMs()));
        }
        ensure(server.failure === undefined, () => `server session failed: ${show(server.failure)}`);
        // nobody attacked the client: with authentication it must take every packet of the server
        if (keys.authenticated)
          ensure(
            c.session.drops.size === 0,
            () => `client dropped server packets: ${show([...c.session.drops])}`,
          );
        if (keys.authenticated) {
          ensure(
            Buffer.concat(atServer).equals(Buffer.concat(clientSent)),
            () => `client → server TLS bytes differ after the attack`,
          );
          ensure(
            Buffer.concat(atClient).equals(Buffer.concat(serverSent)),
            () => `server → client TLS bytes differ after the attack`,
          );
        }
        probe.detach(from);
      });
      t.diagnostic(`${summary(r)}; ${[...tally].map(([k, v]) => `${k}=${v}`).join(' ')}`);
    });
  });
}
