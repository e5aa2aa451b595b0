/**
 * Fuzzing the address parsers (src/net/ip-address.ts) and endpoints (src/net/endpoint.ts).
 *
 * - parseIPv4 / parseIPv6 on random and almost-valid strings return a Buffer or throw an OvpnError,
 *   nothing else. Every address node:net's isIPv4/isIPv6 accepts is accepted, and formats back to the
 *   canonical text (IPv4: itself; IPv6: the WHATWG URL serialisation, which is RFC 5952's). Whatever
 *   is accepted round-trips: parse(format(parse(x))) == parse(x).
 * - Endpoint.fromSockaddr on random 32-byte buffers: undefined unless AF_INET/AF_INET6, otherwise an
 *   endpoint that matches the sockaddr, survives text and sockaddr round trips.
 *
 * A separate test lists strings the parsers once accepted although
 * node:net refuses them.
 */
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import { OvpnError } from '../../src/errors/ovpn-error.js';
import { Endpoint } from '../../src/net/endpoint.js';
import { formatIPv4, formatIPv6, isV4Mapped, parseIPv4, parseIPv6 } from '../../src/net/ip-address.js';
import { ensure, eq, fuzz, iterations, type Rng, show, summary } from '../support/fuzz-rng.js';

const HEX = '0123456789abcdefABCDEF';
const ALPHABET = '0123456789abcdefABCDEF:.%/ xg-_\u0661\u00e9\uffff\ud800';

function v4Text(rng: Rng): string {
  const o = () => (rng.chance(0.3) ? rng.pick(['0', '255', '1', '10', '127']) : String(rng.int(256)));
  return `${o()}.${o()}.${o()}.${o()}`;
}

function group(rng: Rng): string {
  const n = rng.range(1, 4);
  let s = '';
  for (let i = 0; i < n; i++) s += HEX[rng.int(HEX.length)];
  return rng.chance(0.2) ? '0' : s;
}

/** IPv6 text that is valid most of the time: 8 groups or a "::" gap, maybe a dotted tail or zone. */
function v6Text(rng: Rng): string {
  const dotted = rng.chance(0.15);
  const total = dotted ? 6 : 8;
  const groups: string[] = [];
  for (let i = 0; i < total; i++) groups.push(group(rng));
  let text: string;
  if (rng.chance(0.7)) {
    const a = rng.int(total + 1);
    const b = rng.range(a, total);
    const gap = b - a;
    if (gap === 0 && !rng.chance(0.1)) {
      text = groups.join(':');
    } else {
      const head = groups.slice(0, a).join(':');
      const tail = groups.slice(b).join(':');
      text = `${head}::${tail}`;
    }
  } else {
    text = groups.join(':');
  }
  if (dotted) text = `${text}${text.endsWith(':') ? '' : ':'}${v4Text(rng)}`;
  if (rng.chance(0.05)) text += `%${rng.pick(['eth0', '1', 'lo', 'x'])}`;
  return text;
}

/** Almost-valid text: a valid address with a few characters inserted, deleted or replaced. */
function mutateText(rng: Rng, s: string): string {
  let t = s;
  const n = rng.range(1, 3);
  for (let k = 0; k < n; k++) {
    const at = rng.int(t.length + 1);
    const c = ALPHABET[rng.int(ALPHABET.length)];
    switch (rng.int(4)) {
      case 0:
        t = t.slice(0, at) + c + t.slice(at);
        break;
      case 1:
        t = t.slice(0, at) + t.slice(at + 1);
        break;
      case 2:
        t = t.slice(0, at) + c + t.slice(at + 1);
        break;
      default:
        t = t.slice(0, at) + rng.pick(['::', ':', '.', '0', '00', '1.2.3.4', '%']) + t.slice(at);
    }
  }
  return t;
}

function randomText(rng: Rng): string {
  const n = rng.small(48);
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[rng.int(ALPHABET.length)];
  return s;
}

function candidate(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return v4Text(rng);
    case 1:
      return mutateText(rng, v4Text(rng));
    case 2:
    case 3:
      return v6Text(rng);
    case 4:
      return mutateText(rng, v6Text(rng));
    default:
      return randomText(rng);
  }
}

/** Calls a parser; returns the bytes, or undefined if it threw an OvpnError; fails on anything else. */
function tryParse(parse: (s: string) => Buffer, s: string, what: string): Buffer | undefined {
  try {
    return parse(s);
  } catch (e) {
    if (e instanceof OvpnError) {
      eq(e.code, 'EINVAL', () => `${what}(${show(s)}) threw ${e.code}`);
      return undefined;
    }
    assert.fail(`${what}(${show(s)}) threw a non-OvpnError: ${show(e)}`);
  }
}

/** RFC 5952 text of an IPv6 address without zone, by way of the WHATWG URL parser. */
function canonicalV6(s: string): string | undefined {
  try {
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

function stripZone(s: string): string {
  const pct = s.indexOf('%');
  return pct < 0 ? s : s.slice(0, pct);
}

/** One address string through both parsers; returns whether either accepted it while node:net refused. */
function checkText(s: string): boolean {
  const b4 = tryParse(parseIPv4, s, 'parseIPv4');
  const b6 = tryParse(parseIPv6, s, 'parseIPv6');
  if (b4 !== undefined) {
    assert.equal(b4.length, 4);
    ensure(b6 === undefined || s.includes(':'), () => `both parsers accepted ${show(s)}`);
    const text = formatIPv4(b4);
    ensure(isIPv4(text), () => `formatIPv4 gave ${text}`);
    ensure(parseIPv4(text).equals(b4), () => `IPv4 round trip of ${show(s)}`);
  }
  if (b6 !== undefined) {
    assert.equal(b6.length, 16);
    const text = formatIPv6(b6);
    ensure(isIPv6(text), () => `formatIPv6 gave ${text} for ${show(s)}`);
    ensure(parseIPv6(text).equals(b6), () => `IPv6 round trip of ${show(s)} via ${text}`);
    eq(text, canonicalV6(text), () => `formatIPv6 output ${text} is not canonical`);
  }
  if (isIPv4(s)) {
    ensure(b4 !== undefined, () => `parseIPv4 refused ${show(s)}, which node:net accepts`);
    assert.equal(formatIPv4(b4), s, 'IPv4 text round trip');
  }
  if (isIPv6(s)) {
    ensure(b6 !== undefined, () => `parseIPv6 refused ${show(s)}, which node:net accepts`);
    const canon = canonicalV6(stripZone(s));
    if (canon !== undefined) eq(formatIPv6(b6), canon, () => `formatIPv6(parseIPv6(${show(s)}))`);
  }
  return (b4 !== undefined && !isIPv4(s)) || (b6 !== undefined && !isIPv6(s));
}

function sockaddr(rng: Rng): { buf: Buffer; off: number } {
  const buf = rng.bytes(32);
  const off = rng.int(5);
  switch (rng.int(6)) {
    case 0:
    case 1:
      buf.writeUInt16LE(2, off);
      break;
    case 2:
      buf.writeUInt16LE(10, off);
      break;
    case 3: // v4-mapped IPv6
      buf.writeUInt16LE(10, off);
      buf.fill(0, off + 8, off + 18);
      buf.writeUInt16BE(0xffff, off + 18);
      break;
    case 4:
      buf.writeUInt16LE(rng.pick([0, 1, 3, 9, 11, 16, 17, 0x0200, 0x0a00, 0xffff]), off);
      break;
    default: // leave it random
  }
  return { buf, off };
}

describe('fuzz: address parsers and endpoints', () => {
  it('parseIPv4 / parseIPv6: Buffer or OvpnError, node:net as oracle, round trips', (t) => {
    let lenient = 0;
    const r = fuzz('ip-parse', iterations(80_000), (rng) => {
      if (checkText(candidate(rng))) lenient++;
    });
    t.diagnostic(`${summary(r)}; ${lenient} strings accepted that node:net refuses`);
  });

  it('the parsers accept only what node:net accepts', () => {
    const found: string[] = [];
    for (const s of [
      '1.2.3.4::5',
      '1.2.3.4::',
      '::1%',
      'fe80::1%a/b',
      '::01.2.3.4',
      '01.2.3.4',
      '00.0.0.0',
    ]) {
      if (checkText(s)) found.push(s);
    }
    fuzz('ip-parse-strict', iterations(10_000), (rng) => {
      const s = candidate(rng);
      if (checkText(s) && found.length < 20) found.push(s);
    });
    assert.deepEqual(found, [], `accepted although node:net refuses: ${show(found)}`);
  });

  it('Endpoint.fromSockaddr on random 32-byte buffers', (t) => {
    const r = fuzz('endpoint-sockaddr', iterations(120_000), (rng) => {
      const { buf, off } = sockaddr(rng);
      let ep: Endpoint | undefined;
      try {
        ep = Endpoint.fromSockaddr(buf, off);
      } catch (e) {
        assert.fail(`fromSockaddr threw ${show(e)} on ${show(buf)} at ${off}`);
      }
      const family = buf.readUInt16LE(off);
      const port = buf.readUInt16BE(off + 2);
      if (family !== 2 && family !== 10) {
        eq(ep, undefined, () => `family ${family}`);
        return;
      }
      ensure(ep !== undefined, () => `no endpoint for family ${family}`);
      assert.equal(ep.port, port);
      const mapped = family === 10 && isV4Mapped(buf, off + 8);
      if (family === 2 || mapped) {
        assert.equal(ep.family, 4);
        assert.ok(ep.addr.equals(buf.subarray(off + (mapped ? 20 : 4), off + (mapped ? 24 : 8))));
        assert.equal(ep.scopeId, 0);
        assert.ok(isIPv4(ep.address), ep.address);
        eq(ep.key, `${ep.address}:${port}`, () => 'key');
      } else {
        assert.equal(ep.family, 6);
        assert.ok(ep.addr.equals(buf.subarray(off + 8, off + 24)));
        assert.equal(ep.scopeId, buf.readUInt32LE(off + 24));
        assert.ok(isIPv6(ep.address), ep.address);
        eq(ep.key, `[${ep.address}]:${port}`, () => 'key');
      }
      assert.ok(ep.matchesSockaddr(buf, off), 'the endpoint does not match its own sockaddr');
      // Text round trip.
      const again = Endpoint.parse(ep.address, ep.port, ep.scopeId);
      assert.equal(again.key, ep.key);
      assert.ok(again.addr.equals(ep.addr));
      // sockaddr round trip (pinned memory: only for some).
      if (rng.chance(0.1)) {
        const sa = ep.sockaddr;
        const back = Endpoint.fromSockaddr(sa.buf, 0);
        assert.ok(back !== undefined && back.key === ep.key && back.scopeId === ep.scopeId);
        assert.ok(ep.matchesSockaddr(sa.buf, 0));
      }
    });
    t.diagnostic(summary(r));
  });
});
