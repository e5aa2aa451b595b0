/**
 * Child of test/netns/route-lookup.test.ts, run inside a namespace: owns a RouteLookup (whose
 * lookups use the routing table of this process's namespace) and answers the test's queries.
 */
import { RouteLookup } from '../../../src/routing/index.js';
import { serveRpc } from './rpc.js';

let rl: RouteLookup | undefined;

function lookup(): RouteLookup {
  if (!rl) throw new Error('not open');
  return rl;
}

function parse4(s: string): number {
  const p = s.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

function format4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** Parses an IPv6 address (with `::`, without an embedded IPv4 part) into 16 bytes. */
function parse6(s: string): Buffer {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) b.writeUInt16BE(Number.parseInt(groups[i], 16), i * 2);
  return b;
}

/** The canonical (compressed) text form of 16 bytes. */
function format6(b: Buffer, off: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(off + i * 2).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

serveRpc(
  {
    open(maxEntries?: number) {
      rl = new RouteLookup(maxEntries === undefined ? {} : { maxEntries });
      return null;
    },
    nh4(dst: string) {
      return format4(lookup().nextHop4(parse4(dst)));
    },
    /** Looks `dst` up with the address at offset 8 of a bigger buffer, answering at offset 40. */
    nh6(dst: string) {
      const buf = Buffer.alloc(64, 0xee);
      parse6(dst).copy(buf, 8);
      if (!lookup().nextHop6(buf, 8, buf, 40)) {
        // A false answer must leave the output untouched.
        if (buf.subarray(40, 56).some((x) => x !== 0xee)) throw new Error('output written on a miss');
        return null;
      }
      return format6(buf, 40);
    },
    /** Looks `dst` up in place (output = input). */
    nh6InPlace(dst: string) {
      const buf = parse6(dst);
      return lookup().nextHop6(buf, 0, buf, 0) ? format6(buf, 0) : null;
    },
    /** `n` lookups of each address; returns how much the hit counter grew. */
    repeat(dst4: string, dst6: string, n: number) {
      const r = lookup();
      const a4 = parse4(dst4);
      const a6 = parse6(dst6);
      const out = Buffer.alloc(16);
      const before = r.hits;
      for (let i = 0; i < n; i++) {
        r.nextHop4(a4);
        r.nextHop6(a6, 0, out, 0);
      }
      return r.hits - before;
    },
    stats() {
      return lookup().stats();
    },
    /** Resolves after the event loop had time to run the route monitor. */
    async settle(ms: number) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return null;
    },
    close() {
      lookup().close();
      lookup().close(); // idempotent
      return { after4: lookup().nextHop4(parse4('127.0.0.1')) };
    },
  },
  () => rl?.close(),
);
