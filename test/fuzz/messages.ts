/**
 * Generators of API messages for the fuzz tests: JSON-like junk (every JS value a JSON parser or an
 * in-process caller can produce: boundary numbers, NaN, ±Infinity, -0, bigints, odd hex, Buffers,
 * typed arrays, arrays, nested and null-prototype objects, "__proto__" keys), and messages shaped by the
 * schema in src/api/spec.ts: valid ones with the value `parseAttrs` must return, and ones with exactly
 * one fault with the error it must raise.
 */
import { ATTR_SETS, type AttrSpec } from '../../src/api/spec.js';
import type { Errno } from '../../src/errors/ovpn-error.js';
import type { Rng } from '../support/fuzz-rng.js';

/** What parseAttrs returns, as built independently by the generators. */
export type Parsed = number | string | Buffer | { [name: string]: Parsed };

export const INTS: readonly number[] = [
  0,
  1,
  2,
  7,
  8,
  255,
  256,
  0xffff,
  0x10000,
  0xffffff,
  0x1000000,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  2 ** 53,
  1e300,
  -1,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 53),
];

const ODD_NUMBERS: readonly number[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0.5,
  1.5,
  -1.5,
  Number.EPSILON,
  Number.MIN_VALUE,
  Number.MAX_VALUE,
];

const BIGINTS: readonly bigint[] = [
  0n,
  1n,
  7n,
  -1n,
  0xffffffn,
  0xffffffffn,
  2n ** 32n,
  2n ** 64n,
  2n ** 1100n,
  -(2n ** 1100n),
];

const WORDS: readonly string[] = [
  '',
  ' ',
  '0',
  '1',
  '-1',
  '1e3',
  '0x10',
  'NaN',
  'null',
  'true',
  'p2p',
  'mp',
  'primary',
  'secondary',
  'aes-gcm',
  'chacha20-poly1305',
  'none',
  'teardown',
  'userspace',
  '10.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '1.2.3',
  '1.2.3.4.5',
  '256.0.0.1',
  '::',
  '::1',
  'fd00::2',
  '::ffff:10.0.0.1',
  'fe80::1%lo',
  '1::2::3',
  'ovpn0',
  'lo',
  'a',
  'abc',
  'abcdef0123',
  '0011223344556677',
  '001122334455667',
  'zz',
  'ü',
  '\ud800',
  '\u0000',
  'eth0/1',
  'x'.repeat(16),
  'x'.repeat(300),
  '__proto__',
  'constructor',
  'toString',
];

/** Names a message may use: every attribute name of the schema, and a few that are not. */
export const NAMES: readonly string[] = [
  ...new Set(Object.values(ATTR_SETS).flatMap((specs) => specs.map((a) => a.name))),
  'ifname ',
  'Id',
  'remote_port',
  'x',
  '',
  '0',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
];

function hexOf(rng: Rng, nBytes: number): string {
  const s = rng.bytes(nBytes).toString('hex');
  return rng.chance(0.3) ? s.toUpperCase() : s;
}

export function randomString(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return hexOf(rng, rng.small(40)) + (rng.chance(0.3) ? 'a' : '');
    case 1: {
      let s = '';
      const n = rng.small(40);
      for (let i = 0; i < n; i++)
        s += String.fromCharCode(rng.chance(0.9) ? rng.range(32, 126) : rng.int(0x10000));
      return s;
    }
    default:
      return rng.pick(WORDS);
  }
}

function randomBytesLike(rng: Rng): Buffer | Uint8Array | Uint16Array {
  const n = rng.chance(0.5) ? rng.pick([0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 32, 256, 257]) : rng.small(300);
  switch (rng.int(4)) {
    case 0:
      return new Uint8Array(rng.bytes(n));
    case 1:
      return new Uint16Array(n >> 1);
    default:
      return rng.bytes(n);
  }
}

/** Any JSON-like value (and the in-process extras), nested up to `depth`. */
export function randomValue(rng: Rng, depth = 2): unknown {
  switch (rng.int(depth > 0 ? 12 : 10)) {
    case 0:
    case 1:
      return rng.pick(INTS);
    case 2:
      return rng.pick(ODD_NUMBERS);
    case 3:
      return rng.pick(BIGINTS);
    case 4:
    case 5:
      return randomString(rng);
    case 6:
      return rng.pick([true, false, null, undefined]);
    case 7:
      return randomBytesLike(rng);
    case 8:
      return rng.chance(0.5) ? rng.int(100) : rng.u32();
    case 9:
      return rng.pick([{}, [], Object.create(null), new Date(0), JSON.parse('{"__proto__": {"x": 1}}')]);
    case 10: {
      const a: unknown[] = [];
      const n = rng.small(5);
      for (let i = 0; i < n; i++) a.push(randomValue(rng, depth - 1));
      return a;
    }
    default:
      return randomObject(rng, depth - 1);
  }
}

/** An object with random keys (mostly schema names) and random values. */
export function randomObject(rng: Rng, depth = 1): Record<string, unknown> {
  const o: Record<string, unknown> = rng.chance(0.05) ? Object.create(null) : {};
  const n = rng.small(6);
  for (let i = 0; i < n; i++) {
    const key = rng.chance(0.9) ? rng.pick(NAMES) : randomString(rng);
    // Own "__proto__" keys (as JSON.parse makes them) need defineProperty.
    Object.defineProperty(o, key, {
      value: randomValue(rng, depth),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return o;
}

/** The range an integer attribute accepts. */
export function intBounds(spec: AttrSpec): [number, number] {
  const t = spec.type;
  switch (t.kind) {
    case 'u16':
      return [t.min ?? 0, 0xffff];
    case 's32':
      return [-(2 ** 31), 2 ** 31 - 1];
    case 'u32':
      return [t.min ?? 0, t.max ?? 0xffffffff];
    case 'uint':
      return [0, 0xffffffff];
    default:
      throw new Error(`not an integer attribute: ${spec.name}`);
  }
}

function ipv6Text(rng: Rng, b: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    const w = b.readUInt16BE(i).toString(16);
    words.push(rng.chance(0.2) ? w.padStart(4, '0').toUpperCase() : w);
  }
  const text = words.join(':');
  if (!rng.chance(0.5)) return text;
  // The WHATWG URL parser writes the RFC 5952 form (with "::").
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

function utf8String(rng: Rng, maxBytes: number): string {
  let s = '';
  const n = rng.range(1, maxBytes);
  for (let i = 0; i < n; i++) s += rng.chance(0.9) ? String.fromCharCode(rng.range(33, 126)) : 'é';
  while (Buffer.byteLength(s) > maxBytes) s = s.slice(0, -1);
  return s.length === 0 ? 'a' : s;
}

export interface Generated {
  readonly value: unknown;
  readonly parsed: Parsed;
}

/** A valid value for `spec` and what parseAttrs turns it into. */
export function validValue(rng: Rng, spec: AttrSpec): Generated {
  const t = spec.type;
  switch (t.kind) {
    case 'u16':
    case 's32':
    case 'u32':
    case 'uint': {
      const [lo, hi] = intBounds(spec);
      const v = rng.chance(0.3) ? rng.pick([lo, hi, lo + 1, hi - 1]) : lo + rng.int(hi - lo + 1);
      return { value: rng.chance(0.15) ? BigInt(v) : v, parsed: v };
    }
    case 'enum': {
      const i = rng.int(t.values.length);
      return { value: rng.chance(0.6) ? t.values[i] : rng.chance(0.8) ? i : BigInt(i), parsed: i };
    }
    case 'ipv4': {
      const b = rng.bytes(4);
      const text = [...b].join('.');
      return {
        value: rng.chance(0.7) ? text : rng.chance(0.5) ? Buffer.from(b) : new Uint8Array(b),
        parsed: b,
      };
    }
    case 'ipv6': {
      const b = rng.bytes(16);
      if (rng.chance(0.3)) b.fill(0, rng.int(16), 16);
      return { value: rng.chance(0.7) ? ipv6Text(rng, b) : Buffer.from(b), parsed: b };
    }
    case 'binary': {
      const n =
        t.exactLen ??
        (rng.chance(0.5) ? rng.pick([0, 16, 24, 32, t.maxLen ?? 64]) : rng.int((t.maxLen ?? 64) + 1));
      const b = rng.bytes(n);
      const hex = rng.chance(0.5) ? b.toString('hex') : b.toString('hex').toUpperCase();
      return { value: rng.chance(0.6) ? hex : Buffer.from(b), parsed: b };
    }
    case 'string': {
      const s = utf8String(rng, t.maxLen);
      return { value: s, parsed: s };
    }
    case 'nest': {
      const m = validMessage(rng, t.set);
      return { value: m.value, parsed: m.parsed };
    }
  }
}

export interface Faulty {
  readonly value: unknown;
  readonly code: Errno;
  /** The attribute the error must name; undefined when parseAttrs gives none (a nest that is no object). */
  readonly attr: string | undefined;
}

/** A value of `spec` that parseAttrs must refuse, with the code it must give. */
export function invalidValue(rng: Rng, spec: AttrSpec): Faulty {
  const t = spec.type;
  const einval = (value: unknown): Faulty => ({ value, code: 'EINVAL', attr: spec.name });
  const erange = (value: unknown): Faulty => ({ value, code: 'ERANGE', attr: spec.name });
  const notNumber = () =>
    rng.pick<unknown>([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1.5,
      -0.5,
      '1',
      true,
      false,
      null,
      [],
      {},
      Buffer.alloc(4),
      2n ** 1100n,
    ]);
  switch (t.kind) {
    case 'u16':
    case 's32':
    case 'u32':
    case 'uint': {
      const [lo, hi] = intBounds(spec);
      if (rng.chance(0.5)) return einval(notNumber());
      const v = rng.pick([lo - 1, hi + 1, hi + 2 ** 20, lo - 2 ** 40, 2 ** 53, -(2 ** 53)]);
      return erange(rng.chance(0.2) ? BigInt(v) : v);
    }
    case 'enum':
      if (rng.chance(0.4)) return einval(rng.pick(['', 'PRIMARY', 'aes', 'p2p ', 'x', 'none-', 'mp2']));
      if (rng.chance(0.5))
        return erange(rng.pick([-1, t.values.length, t.values.length + 1, 2 ** 32, 2 ** 53]));
      return einval(rng.pick<unknown>([Number.NaN, 0.5, true, null, {}, Buffer.alloc(1)]));
    case 'ipv4':
      if (rng.chance(0.5))
        return einval(
          rng.pick([
            '',
            '1.2.3',
            '1.2.3.4.5',
            '256.1.1.1',
            '1.2.3.x',
            '::1',
            ' 1.2.3.4',
            '1..2.3',
            '+1.2.3.4',
          ]),
        );
      if (rng.chance(0.5)) return erange(Buffer.alloc(rng.pick([0, 3, 5, 16])));
      return einval(rng.pick<unknown>([0x0a000001, true, null, {}, 1.5]));
    case 'ipv6':
      if (rng.chance(0.5))
        return einval(
          rng.pick([
            '',
            ':',
            ':::',
            '1::2::3',
            '12345::',
            'g::1',
            '1:2:3:4:5:6:7:8:9',
            '1.2.3.4',
            '::1.2.3',
            '1:2:3:4:5:6:7',
          ]),
        );
      if (rng.chance(0.5)) return erange(Buffer.alloc(rng.pick([0, 4, 15, 17])));
      return einval(rng.pick<unknown>([0, true, null, {}, 1.5]));
    case 'binary': {
      if (rng.chance(0.5))
        return einval(rng.pick<unknown>(['a', 'abc', '0g', 'zz', ' 00', '0x00', 12, true, null, {}, [1, 2]]));
      const n =
        t.exactLen !== undefined
          ? rng.pick([0, t.exactLen - 1, t.exactLen + 1, 2 * t.exactLen])
          : (t.maxLen ?? 0) + rng.range(1, 40);
      return erange(rng.chance(0.5) ? rng.bytes(n) : rng.bytes(n).toString('hex'));
    }
    case 'string':
      if (rng.chance(0.5))
        return einval(rng.pick<unknown>([5, true, null, {}, Buffer.from('ovpn0'), ['ovpn0']]));
      return erange(
        rng.chance(0.5) ? 'x'.repeat(t.maxLen + rng.range(1, 10)) : 'é'.repeat(Math.ceil((t.maxLen + 1) / 2)),
      );
    case 'nest': {
      if (rng.chance(0.4))
        return {
          value: rng.pick<unknown>([5, 'x', null, true, Buffer.alloc(2)]),
          code: 'EINVAL',
          attr: undefined,
        };
      const inner = faultyMessage(rng, t.set, undefined);
      return { value: inner.value, code: inner.code, attr: inner.attr };
    }
  }
}

/** Attribute specs of `set` that `accept` allows. */
export function allowed(set: string, accept: readonly string[] | undefined): readonly AttrSpec[] {
  const specs = ATTR_SETS[set];
  return accept === undefined ? specs : specs.filter((s) => accept.includes(s.name));
}

function subset<T>(rng: Rng, items: readonly T[]): T[] {
  const out = items.filter(() => rng.chance(0.5));
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A valid message of `set` restricted to `accept`, and the Attrs parseAttrs must return for it. */
export function validMessage(
  rng: Rng,
  set: string,
  accept?: readonly string[],
): { value: Record<string, unknown>; parsed: { [name: string]: Parsed } } {
  const value: Record<string, unknown> = {};
  const parsed: { [name: string]: Parsed } = {};
  for (const spec of subset(rng, allowed(set, accept))) {
    const g = validValue(rng, spec);
    value[spec.name] = g.value;
    parsed[spec.name] = g.parsed;
  }
  const extra = rng.pick(NAMES);
  if (rng.chance(0.1) && !(extra in value)) value[extra] = undefined; // undefined values are skipped
  return { value, parsed };
}

/** A message of `set` (restricted to `accept`) with exactly one fault, and the error it must raise. */
export function faultyMessage(
  rng: Rng,
  set: string,
  accept: readonly string[] | undefined,
): Faulty & { value: Record<string, unknown> } {
  const { value } = validMessage(rng, set, accept);
  const names = ATTR_SETS[set].map((a) => a.name);
  const refused = names.filter((n) => accept !== undefined && !accept.includes(n));
  const kind = rng.int(10);
  let fault: Faulty;
  let key: string;
  if (kind === 0) {
    // a name that is not in the set at all
    key = rng.pick(NAMES.filter((n) => !names.includes(n)));
    fault = { value: randomValue(rng), code: 'EINVAL', attr: key };
    if (fault.value === undefined) fault = { ...fault, value: 0 };
  } else if (kind === 1 && refused.length > 0) {
    // an attribute of the set that this operation does not take
    key = rng.pick(refused);
    fault = {
      value: validValue(rng, ATTR_SETS[set].find((a) => a.name === key)!).value,
      code: 'EINVAL',
      attr: key,
    };
  } else {
    const specs = allowed(set, accept);
    if (specs.length === 0) {
      key = 'x';
      fault = { value: 1, code: 'EINVAL', attr: 'x' };
    } else {
      const spec = rng.pick(specs);
      key = spec.name;
      fault = invalidValue(rng, spec);
    }
  }
  // Put the fault at a random position among the valid attributes.
  const entries = Object.entries(value).filter(([k]) => k !== key);
  entries.splice(rng.int(entries.length + 1), 0, [key, fault.value]);
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return { value: out, code: fault.code, attr: fault.attr };
}

/** A message that is random, valid, faulty or a mix, for `set`. */
export function anyMessage(rng: Rng, set: string, accept?: readonly string[]): unknown {
  switch (rng.int(6)) {
    case 0:
      return randomValue(rng);
    case 1:
      return randomObject(rng);
    case 2:
      return validMessage(rng, set, accept).value;
    case 3:
    case 4:
      return faultyMessage(rng, set, accept).value;
    default: {
      // per attribute: valid, invalid or random
      const o: Record<string, unknown> = {};
      for (const spec of subset(rng, ATTR_SETS[set])) {
        const r = rng.int(3);
        o[spec.name] =
          r === 0 ? validValue(rng, spec).value : r === 1 ? invalidValue(rng, spec).value : randomValue(rng);
      }
      return o;
    }
  }
}
