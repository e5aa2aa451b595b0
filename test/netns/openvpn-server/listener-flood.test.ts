/**
 * The ovpn-ts UDP server under a flood, without wrapping and with tls-crypt: from 30000 source addresses (a /16 made local in one client
 * namespace) hard resets of fresh sessions, garbage (random bytes, truncated and bit-flipped resets,
 * opcode-shaped junk) and copies of a genuine cookie echo sent from the wrong addresses. Then:
 * - the server is still up, and a stock `openvpn` client from another namespace connects and pings
 *   through it (once the connect-freq-initial period the flood used up is over);
 * - its listener counted the flood: every datagram is a drop under its reason or a stateless reply
 *   (none counted twice, at most 2% lost on the way), the replayed cookie echoes are bad-cookie drops,
 *   and the stateless replies stayed within connect-freq-initial (100 per 10 s here);
 * - its heap after a full GC grew by less than MEMORY_BOUND over the flood (see there);
 * - it exits 0 on SIGTERM and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../../support/repo.js';
import { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverConfig, serverLabSkip, startServerLab, type TunnelPlan } from './fixture.js';
import type { FloodReport } from './flood-sender.js';
import type { ListenerStatsLine } from './run-flood-server.js';

const PREFIX = 'sf';
const PORT = 1194;
/** The flooder's addresses: local to client namespace 1, routed there from the server's. */
const FLOOD_BASE = '10.77';
const WARMUP = { resets: 2000, garbage: 1000, replays: 500 };
const FLOOD = { resets: 20_000, garbage: 8000, replays: 2000 };
/**
 * The listener keeps nothing for an address that did not prove itself, so the heap after the flood
 * should be where it was after the warm-up flood (which brought the code paths, JIT and buffers to
 * their steady state), give or take allocator noise (measured: under 100 kB). 30000 flooded addresses:
 * a leak of 70 bytes per address (a Map entry keyed by the address text) would be 2 MB.
 */
const MEMORY_BOUND = 2 * 1024 * 1024;

function sum(drops: Record<string, number>): number {
  return Object.values(drops).reduce((a, b) => a + b, 0);
}

function delta(a: ListenerStatsLine, b: ListenerStatsLine, reason: string): number {
  return (b.drops[reason] ?? 0) - (a.drops[reason] ?? 0);
}

describe('ovpn-ts server: a flood on the UDP listener', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  let srv: LineWatcher | undefined;
  before(async () => {
    s = await startServerLab(PREFIX, 2);
    // any address in 10.77.0.0/16 is local to the flooder's namespace, and the server routes it there
    s.lab.exec(s.clientNs[0], 'ip', ['route', 'add', 'local', `${FLOOD_BASE}.0.0/16`, 'dev', 'lo']);
    s.lab.exec(s.nsS, 'ip', ['route', 'add', `${FLOOD_BASE}.0.0/16`, 'via', '10.76.1.2']);
  });
  after(async () => {
    if (srv !== undefined && srv.child.exitCode === null && srv.child.signalCode === null) {
      srv.child.kill('SIGKILL');
      await srv.waitExit(4000);
    }
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  const stats = async (w: LineWatcher): Promise<ListenerStatsLine> => {
    const line = w.waitFor((l) => l.includes('LISTENER-STATS '), 10_000, 'listener stats');
    w.child.kill('SIGUSR2');
    return JSON.parse((await line).slice((await line).indexOf('{'))) as ListenerStatsLine;
  };

  /** Stats once the server has read what is still queued: two snapshots 500 ms apart that agree. */
  const settled = async (w: LineWatcher): Promise<ListenerStatsLine> => {
    let last = await stats(w);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const next = await stats(w);
      if (sum(next.drops) + next.replies === sum(last.drops) + last.replies) return next;
      last = next;
    }
    return last;
  };

  const flood = async (n: typeof FLOOD, key: string | undefined): Promise<FloodReport> => {
    const r = await s.lab.run(
      s.clientNs[0],
      process.execPath,
      [
        join(repoRoot(), 'dist/test/netns/openvpn-server/flood-sender.js'),
        '10.76.1.1',
        String(PORT),
        FLOOD_BASE,
        String(n.resets),
        String(n.garbage),
        String(n.replays),
        ...(key === undefined ? [] : [key]),
      ],
      180_000,
    );
    assert.equal(r.code, 0, `flood-sender failed: ${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as FloodReport;
  };

  for (const mode of ['none', 'tls-crypt'] as const) {
    it(`${mode}: drops and counts the flood, keeps no state for it, and still serves a stock client`, async (t) => {
      const key = mode === 'tls-crypt' ? join(s.dir, 'tc.key') : undefined;
      if (key !== undefined) execFileSync('openvpn', ['--genkey', 'secret', key]);
      const plan: TunnelPlan = {
        net: 75,
        topology: 'subnet',
        proto: 'udp',
        port: PORT,
        dev: 'sftun0',
        extra: ['connect-freq-initial 100 10', ...(key === undefined ? [] : [`tls-crypt ${key}`])],
      };
      const file = join(s.dir, `server-flood-${mode}.conf`);
      writeFileSync(file, serverConfig(s.dir, plan));
      const child = s.lab.spawn(s.nsS, process.execPath, [
        '--expose-gc',
        join(repoRoot(), 'dist/test/netns/openvpn-server/run-flood-server.js'),
        file,
      ]);
      const w = new LineWatcher(child);
      srv = w;
      await w.waitFor((l) => l.includes('Initialization Sequence Completed'), 15_000, 'the server to start');

      await flood(WARMUP, key);
      const before = await settled(w);
      assert.ok(before.gc, 'the server runs with --expose-gc');
      const t0 = Date.now();
      const sent = await flood(FLOOD, key);
      const afterFlood = await settled(w);
      const seconds = (Date.now() - t0) / 1000;
      // what reaches the control plane: the data path counts its own drops (short, data opcodes)
      const total = sent.handshake + sent.resets + sent.garbage + sent.replays - sent.dataPath;
      const counted = sum(afterFlood.drops) - sum(before.drops) + afterFlood.replies - before.replies;
      const show = `flood ${JSON.stringify(sent)} in ${seconds.toFixed(1)} s; before ${JSON.stringify(before)}; after ${JSON.stringify(afterFlood)}`;
      // still up, nobody let in
      assert.equal(child.exitCode, null, `the server died: ${w.tail(40)}`);
      assert.equal(afterFlood.clients, 0, show);
      // every control datagram counted once: a drop with its reason, or a stateless reply (UDP may lose a
      // few on the way, none may count twice)
      assert.ok(counted <= total, `counted ${counted} of ${total} sent: ${show}`);
      assert.ok(counted >= total * 0.99, `counted only ${counted} of ${total} sent: ${show}`);
      assert.ok(delta(before, afterFlood, 'cookie-cookie') >= sent.replays * 0.98, `cookie replays: ${show}`);
      assert.ok(
        delta(before, afterFlood, 'connect-freq-initial') >= sent.resets / 2,
        `reflect filter: ${show}`,
      );
      // connect-freq-initial 100 per 10 s: a period spans at least 10 s
      const replies = afterFlood.replies - before.replies;
      assert.ok(replies <= 100 * (Math.ceil(seconds / 10) + 1), `${replies} stateless replies: ${show}`);
      // no per-address state
      const growth = afterFlood.heapUsed - before.heapUsed;
      assert.ok(growth < MEMORY_BOUND, `heap grew by ${growth} bytes over the flood: ${show}`);

      // the flood used up this period's stateless replies: the client's reset retries get in after it
      const clientArgs = ['--connect-timeout', '30', ...(key === undefined ? [] : ['--tls-crypt', key])];
      const client = await s.startClient(2, 'udp', PORT, clientArgs).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\nSERVER:\n${w.tail(40)}`);
      });
      const ping = await s.ping(s.clientNs[1], '10.75.0.1');
      assert.equal(ping.received, 3, `${ping.out}\n${client.tail(20)}`);
      const end = await stats(w);
      assert.equal(end.clients, 1);
      t.diagnostic(
        `${show}; heap growth ${growth} B; ${replies} replies in ${seconds.toFixed(1)} s; drops ${JSON.stringify(
          Object.fromEntries(Object.keys(end.drops).map((k) => [k, delta(before, afterFlood, k)])),
        )}`,
      );
      client.child.kill('SIGTERM');
      await client.waitExit(8000);
      child.kill('SIGTERM');
      assert.equal(await w.waitExit(8000), 0, w.tail(20));
    });
  }
});
