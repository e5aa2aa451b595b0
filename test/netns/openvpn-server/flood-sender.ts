/**
 * Test helper for listener-flood.test.ts, run inside a client namespace where `<base>.0.0/16` is
 * local (`ip route add local <base>.0.0/16 dev lo`), so it can send from any of 65536 addresses:
 *
 *   flood-sender.js <server ip> <port> <base, e.g. 10.77> <resets> <garbage> <replays> [tls-crypt key]
 *
 * 1. one genuine handshake (no wrapping, or tls-crypt with the key file) (ClientSession) from <base>.255.254 up to the cookie echo,
 *    which is never sent from its own address;
 * 2. then, interleaved, each from a fresh address and port: `resets` hard resets of fresh sessions,
 *    `garbage` datagrams (random bytes, truncated or bit-flipped resets, opcode-shaped junk), and
 *    `replays` copies of that cookie echo.
 * Prints one JSON line: what was sent and how long it took.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { ClientSession } from '../../../src/control/session.js';
import { parseStaticKey } from '../../../src/control/static-key.js';
import { PlainWrap } from '../../../src/control/wrap/plain.js';
import { TlsCryptWrap } from '../../../src/control/wrap/tls-crypt.js';
import type { ControlWrap } from '../../../src/control/wrap/wrap.js';
import { classify, OPCODE_WORD_SIZE, PacketClass } from '../../../src/wire/opcode.js';

export interface FloodReport {
  resets: number;
  garbage: number;
  replays: number;
  /** Sends of the genuine handshake's reset (retried each second until the reflect filter lets one by). */
  handshake: number;
  /** Datagrams the data path keeps from the control plane (under 4 bytes, or a data opcode). */
  dataPath: number;
  ms: number;
}

const [host, portText, base, resetsText, garbageText, replaysText, keyFile] = process.argv.slice(2);
const key2 = keyFile === undefined ? undefined : parseStaticKey(readFileSync(keyFile, 'utf8'), 'tls-crypt');
const newWrap = (): ControlWrap =>
  key2 === undefined ? new PlainWrap() : new TlsCryptWrap({ key2, role: 'client' });
const port = Number(portText);
const counts = { resets: Number(resetsText), garbage: Number(garbageText), replays: Number(replaysText) };

function bound(addr: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind({ address: addr, port: 0 }, () => resolve(s));
  });
}

function send(s: Socket, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.send(b, port, host, (e) => (e ? reject(e) : resolve())));
}

function freshReset(): Buffer {
  const c = new ClientSession({ wrap: newWrap(), maxPayload: 1000 });
  c.start(Date.now());
  return c.poll(Date.now())[0];
}

let handshakeSends = 0;

/** The cookie echo of a genuine handshake, never sent from its own address. */
async function cookieEcho(): Promise<Buffer> {
  const s = await bound(`${base}.255.254`);
  try {
    const c = new ClientSession({ wrap: newWrap(), maxPayload: 1000 });
    c.start(Date.now());
    const reset = c.poll(Date.now())[0];
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setInterval(() => {
        handshakeSends++;
        void send(s, reset);
      }, 1000);
      // The warm-up flood may have used up the server's connect-freq-initial period (10 s) just
      // before: waiting one whole period plus slack for a loaded machine lets the next one begin.
      const stop = setTimeout(() => {
        clearInterval(timer);
        reject(new Error('no stateless reply to the genuine reset'));
      }, 25_000);
      s.on('message', (m) => {
        clearInterval(timer);
        clearTimeout(stop);
        resolve(m);
      });
      handshakeSends++;
      void send(s, reset);
    });
    const r = c.receive(reply, Date.now());
    if (!r.accepted) throw new Error(`the server's reply was refused: ${JSON.stringify([...c.drops])}`);
    c.sendTls(randomBytes(200));
    const out = c.poll(Date.now());
    if (out.length === 0) throw new Error('no cookie echo');
    return out[0];
  } finally {
    s.close();
  }
}

function garbage(): Buffer {
  const r = freshReset();
  switch (Math.floor(Math.random() * 4)) {
    case 0:
      return randomBytes(Math.floor(Math.random() * 1400));
    case 1:
      return r.subarray(0, Math.floor(Math.random() * r.length));
    case 2: {
      const m = Buffer.from(r);
      m[Math.floor(Math.random() * m.length)] ^= 1 << Math.floor(Math.random() * 8);
      return m;
    }
    default: {
      const b = randomBytes(9 + Math.floor(Math.random() * 100));
      b[0] = Math.floor(Math.random() * 256);
      return b;
    }
  }
}

const echo = await cookieEcho();
const kinds: ('reset' | 'garbage' | 'replay')[] = [
  ...new Array<'reset'>(counts.resets).fill('reset'),
  ...new Array<'garbage'>(counts.garbage).fill('garbage'),
  ...new Array<'replay'>(counts.replays).fill('replay'),
];
for (let i = kinds.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
}
const t0 = Date.now();
let dataPath = 0;
const BATCH = 64;
for (let i = 0; i < kinds.length; i += BATCH) {
  await Promise.all(
    kinds.slice(i, i + BATCH).map(async (kind, k) => {
      const n = i + k + 1;
      const s = await bound(`${base}.${(n >>> 8) & 255}.${n & 255}`);
      try {
        const b = kind === 'reset' ? freshReset() : kind === 'garbage' ? garbage() : echo;
        if (b.length < OPCODE_WORD_SIZE || classify(b[0]) !== PacketClass.CONTROL) dataPath++;
        await send(s, b);
      } finally {
        s.close();
      }
    }),
  );
  // a steady flood, not a burst the socket buffer would have to drop
  await new Promise((r) => setTimeout(r, 5));
}
const report: FloodReport = { ...counts, handshake: handshakeSends, dataPath, ms: Date.now() - t0 };
process.stdout.write(`${JSON.stringify(report)}\n`);
