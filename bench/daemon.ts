/**
 * ovpnd under peer churn: what a control plane does when clients come and go, 1,000 times in a row,
 * against the daemons of two network namespaces joined by veth, each with a P2P device:
 *
 *   side b (persistent)  peer 1 on a UDP socket bound to 10.77.0.2:1194, remote 10.77.0.1:1194
 *   side a (churned)     per cycle: a fresh UDP socket bound to 10.77.0.1:1194, handed over with
 *                        peer-new (SCM_RIGHTS); key-new; one datagram a->b and its echo b->a through
 *                        the tunnel; peer-get (the fresh peer's vpn-rx/tx counters must be 1+); peer-del
 *
 * Every cycle also installs the cycle's fresh keys on side b (key-new): side a's new peer starts its
 * packet ids at 1 again, which b's replay window for an unchanged key would refuse. So a cycle is five
 * management operations (a: peer-new, key-new, peer-get, peer-del; b: key-new) and one round trip of
 * real traffic. A fresh socket per cycle (rather than one shared socket) is what a control plane that
 * reconnects does, and it exercises the whole handover path per cycle: fd passing, attach under a new
 * socket identity, the daemon's per-socket records, release and close. Records kept per socket would
 * leak visibly here, where a shared socket would hide them.
 *
 * The daemons' memory (op `mem`, after a full GC: the daemons run with --expose-gc) and open fds are
 * read after a warm-up round of 1000 cycles (default) and after each round; the growth is what a
 * long-running daemon would accumulate. The warm-up is a whole round because a fresh daemon's RSS
 * rises for its first couple of thousand cycles of churn before it levels off (V8 sizing its heap,
 * the allocator keeping freed socket buffers), while heap-used, external memory and fds do not move;
 * the rounds after it measure what a long-running daemon accumulates. A cycle whose datagram does not come through (after retries: a P2P device's
 * carrier comes up asynchronously after peer-new) fails the benchmark.
 */
import { readdirSync } from 'node:fs';
import { OvpndClient } from '../src/client/ovpnd-client.js';
import { canUseNetns, NetnsLab } from '../src/lab/netns.js';
import { randomKeyDir } from '../src/lab/star.js';
import { Endpoint } from '../src/net/endpoint.js';
import { allocPinned, type PinnedBuffer } from '../src/sys/address.js';
import { close, read, sendto, setNonBlocking } from '../src/sys/libc.js';
import { inNetns } from '../src/sys/netns.js';
import { watchFd } from '../src/sys/poll.js';
import { createUdpSocket } from '../src/transport/udp-socket.js';
import { median } from './stats.js';

/** What op `mem` reports, in bytes. */
interface Mem {
  rss: number;
  'heap-total': number;
  'heap-used': number;
  external: number;
  'array-buffers': number;
}

interface Side {
  ns: string;
  client: OvpndClient;
  ifindex: number;
  pid: number;
  /** The application's UDP socket on the tunnel address (traffic source/sink), non-blocking. */
  app: number;
}

interface Round {
  cycles: number;
  seconds: number;
  /** Seconds spent waiting for management replies. */
  opSeconds: number;
  ops: number;
  /** Datagrams sent again because the first did not come through in time. */
  retries: number;
}

const PORT = 1194;
const APP_PORT = 9000;
const A_VETH = '10.77.0.1';
const B_VETH = '10.77.0.2';
const A_VPN = '5.5.7.1';
const B_VPN = '5.5.7.2';
const PEER = 1;
/** Per attempt, and attempts per datagram. */
const RECV_TIMEOUT_MS = 200;
const ATTEMPTS = 10;

const MiB = 1024 * 1024;
const fmtMiB = (b: number) => `${(b / MiB).toFixed(2)} MiB`;
const fmtDelta = (b: number) => `${b >= 0 ? '+' : '-'}${(Math.abs(b) / 1024).toFixed(0)} KiB`;
const fmtRate = (x: number) => Math.round(x).toLocaleString('en-US');

/** Reads one datagram into `buf` within `ms`; -1 if none came. */
function recvWithin(fd: number, buf: PinnedBuffer, ms: number): Promise<number> {
  const n = read(fd, buf.addr, buf.buf.length);
  if (n > 0) return Promise.resolve(n);
  return new Promise((resolve) => {
    const finish = (v: number) => {
      clearTimeout(timer);
      w.close();
      resolve(v);
    };
    const w = watchFd(fd, { readable: true, writable: false }, () => {
      const m = read(fd, buf.addr, buf.buf.length);
      if (m > 0) finish(m);
    });
    const timer = setTimeout(() => finish(-1), ms);
  });
}

/** Sends `payload` from `from.app` to `to`'s tunnel address and waits for it there; returns the retries. */
async function deliver(
  from: Side,
  to: Side,
  dst: Endpoint,
  payload: Buffer,
  buf: PinnedBuffer,
): Promise<number> {
  const out = allocPinned(payload.length);
  payload.copy(out.buf);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    sendto(from.app, out.addr, payload.length, 0, dst.sockaddr.addr, dst.sockaddrLen);
    for (;;) {
      const n = await recvWithin(to.app, buf, RECV_TIMEOUT_MS);
      if (n < 0) break;
      // a late copy of an earlier cycle's datagram is skipped
      if (n === payload.length && buf.buf.subarray(0, n).equals(payload)) return attempt;
    }
  }
  throw new Error(`the datagram ${from.ns} -> ${to.ns} did not cross the tunnel in ${ATTEMPTS} attempts`);
}

const keyDir = () => randomKeyDir(32);

class Churn {
  private readonly buf = allocPinned(2048);
  private readonly toB = Endpoint.parse(B_VPN, APP_PORT);
  private readonly toA = Endpoint.parse(A_VPN, APP_PORT);
  private n = 0;
  /** Seconds spent in management requests, and how many, since the last reset. */
  opSeconds = 0;
  ops = 0;
  retries = 0;

  constructor(
    private readonly a: Side,
    private readonly b: Side,
  ) {}

  private async op<T>(p: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    const r = await p();
    this.opSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
    this.ops++;
    return r;
  }

  async cycle(): Promise<void> {
    const { a, b } = this;
    const n = ++this.n;
    const keyId = n & 7;
    const a2b = keyDir();
    const b2a = keyDir();
    const conf = (enc: object, dec: object) => ({
      'peer-id': PEER,
      slot: 'primary',
      'key-id': keyId,
      'cipher-alg': 'aes-gcm',
      'encrypt-dir': enc,
      'decrypt-dir': dec,
    });
    const sock = inNetns(a.ns, () => createUdpSocket({ family: 4, port: PORT, address: A_VETH }));
    try {
      await this.op(() =>
        a.client.peerNew({
          ifindex: a.ifindex,
          peer: { id: PEER, socket: sock, 'remote-ipv4': B_VETH, 'remote-port': PORT },
        }),
      );
    } finally {
      close(sock); // the daemon holds its own reference now
    }
    await this.op(() => a.client.keyNew({ ifindex: a.ifindex, keyconf: conf(a2b, b2a) }));
    await this.op(() => b.client.keyNew({ ifindex: b.ifindex, keyconf: conf(b2a, a2b) }));
    const payload = Buffer.from(`ovbd cycle ${n}`);
    this.retries += await deliver(a, b, this.toB, payload, this.buf);
    this.retries += await deliver(b, a, this.toA, payload, this.buf);
    const p = await this.op(() => a.client.peerGet({ ifindex: a.ifindex, peer: { id: PEER } }));
    if (!(Number(p['vpn-rx-packets']) >= 1 && Number(p['vpn-tx-packets']) >= 1))
      throw new Error(`cycle ${n}: peer-get does not count the traffic: ${JSON.stringify(p)}`);
    await this.op(() => a.client.peerDel({ ifindex: a.ifindex, peer: { id: PEER } }));
  }

  async round(cycles: number): Promise<Round> {
    this.opSeconds = 0;
    this.ops = 0;
    this.retries = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < cycles; i++) await this.cycle();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { cycles, seconds, opSeconds: this.opSeconds, ops: this.ops, retries: this.retries };
  }
}

async function side(lab: NetnsLab, ns: string, ifname: string, vpn: string): Promise<Side> {
  const client = await OvpndClient.connect({ netns: ns, start: true });
  const { ifindex } = await client.devNew({ ifname, mode: 'p2p' });
  lab.exec(ns, 'ip', ['addr', 'add', `${vpn}/24`, 'dev', ifname]);
  lab.exec(ns, 'ip', ['link', 'set', ifname, 'up']);
  const app = inNetns(ns, () => createUdpSocket({ family: 4, port: APP_PORT, address: vpn }));
  setNonBlocking(app);
  return { ns, client, ifindex, pid: (await client.daemonInfo()).pid, app };
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/**
 * Op `mem` twice, 200 ms apart: V8 frees the backing stores of dead ArrayBuffers (the daemon's pinned
 * socket memory) on a background thread after the GC, so the first reading can still count them.
 */
async function settledMem(c: OvpndClient): Promise<Mem> {
  await c.request<Mem>('mem');
  await new Promise((r) => setTimeout(r, 200));
  return c.request<Mem>('mem');
}

/** Runs the churn benchmark and prints its report; false if traffic failed to pass (or no root). */
export async function runDaemonBench(cycles = 1000, rounds = 3, WARMUP = 1000): Promise<boolean> {
  console.log(
    `\nDaemon churn (bench/daemon.ts): ${rounds} round${rounds === 1 ? '' : 's'} of ${cycles} cycles after ${WARMUP} warm-up cycles;` +
      '\n  a cycle: a fresh UDP socket handed over with peer-new, key-new on both sides, one datagram each' +
      '\n  way through the tunnel, peer-get (counters checked), peer-del = 5 management ops',
  );
  if (!canUseNetns()) {
    console.log('  FAILED: needs root (network namespaces)');
    return false;
  }
  const lab = new NetnsLab('ovbd');
  const sides: Side[] = [];
  try {
    const nsA = lab.ns('a');
    const nsB = lab.ns('b');
    lab.veth(nsA, 'ovbd-va', [`${A_VETH}/24`], nsB, 'ovbd-vb', [`${B_VETH}/24`]);
    const a = await side(lab, nsA, 'ovbd0', A_VPN);
    sides.push(a);
    const b = await side(lab, nsB, 'ovbd0', B_VPN);
    sides.push(b);
    const bSock = inNetns(nsB, () => createUdpSocket({ family: 4, port: PORT, address: B_VETH }));
    try {
      await b.client.peerNew({
        ifindex: b.ifindex,
        peer: { id: PEER, socket: bSock, 'remote-ipv4': A_VETH, 'remote-port': PORT },
      });
    } finally {
      close(bSock);
    }

    const churn = new Churn(a, b);
    await churn.round(WARMUP);
    const mem = async () => ({
      a: await settledMem(a.client),
      b: await settledMem(b.client),
      fdsA: openFds(a.pid),
      fdsB: openFds(b.pid),
    });
    const samples = [await mem()];
    const results: Round[] = [];
    for (let r = 1; r <= rounds; r++) {
      const res = await churn.round(cycles);
      results.push(res);
      const m = await mem();
      samples.push(m);
      console.log(
        `  round ${r}  ${res.cycles} cycles in ${res.seconds.toFixed(2)} s: ${fmtRate(res.ops / res.seconds)} ops/s` +
          ` (${fmtRate(res.ops / res.opSeconds)} ops/s in requests), ${fmtRate(res.cycles / res.seconds)} cycles/s,` +
          ` ${res.retries} resends;  daemon a rss ${fmtMiB(m.a.rss)} heap ${fmtMiB(m.a['heap-used'])}`,
      );
    }
    const med = (f: (r: Round) => number) => median(results.map(f));
    console.log(
      `  median: ${fmtRate(med((r) => r.ops / r.seconds))} ops/s overall, ${fmtRate(med((r) => r.ops / r.opSeconds))}` +
        ` ops/s counting only the time in requests, ${fmtRate(med((r) => r.cycles / r.seconds))} cycles/s` +
        ` (${((1000 * med((r) => r.seconds)) / cycles).toFixed(2)} ms per cycle)`,
    );
    const first = samples[0];
    const last = samples[samples.length - 1];
    const total = cycles * rounds;
    console.log(`  daemon memory after a full GC, after warm-up -> after ${total} more cycles:`);
    for (const s of ['a', 'b'] as const) {
      for (const k of ['rss', 'heap-total', 'heap-used', 'external'] as const) {
        const d = last[s][k] - first[s][k];
        const perRound = samples.slice(1).map((m, i) => fmtDelta(m[s][k] - samples[i][s][k]));
        console.log(
          `    ${s} ${k.padEnd(9)} ${fmtMiB(first[s][k]).padStart(10)} -> ${fmtMiB(last[s][k]).padStart(10)}` +
            `  ${fmtDelta(d).padStart(9)} (${(d / total).toFixed(0)} B/cycle; per round ${perRound.join(' ')})`,
        );
      }
    }
    console.log(
      `    open fds: a ${first.fdsA} -> ${last.fdsA}, b ${first.fdsB} -> ${last.fdsB}` +
        `; traffic passed in all ${total + WARMUP} cycles`,
    );
    return true;
  } catch (e) {
    console.log(`  FAILED: ${e instanceof Error ? e.message : String(e)}`);
    return false;
  } finally {
    for (const s of sides) {
      s.client.close();
      close(s.app);
    }
    await lab.cleanup();
  }
}
