/**
 * Validation of API messages against the schema in spec.ts, in the kernel's order: the attribute must
 * belong to the operation's input set (else EINVAL, "reject unexpected netlink attributes"), then its
 * value must have the right type (EINVAL) and be in range (ERANGE, as netlink policy checks answer).
 * The result is the message with addresses and binaries as Buffers and enums as numbers.
 */
import { einval, erange, OvpnError } from '../errors/ovpn-error.js';
import { isV4Mapped, parseIPv4, parseIPv6 } from '../net/ip-address.js';
import { ATTR_SETS, type AttrSpec } from './spec.js';

/** A validated attribute value. */
export type AttrValue = number | string | Buffer | Attrs;
/** A validated nest: attribute name -> value. */
export interface Attrs {
  readonly [name: string]: AttrValue | undefined;
}

/** What callers may pass for a message: plain JSON values, or Buffers for binaries in process. */
export type MessageValue = number | bigint | string | boolean | null | Buffer | Uint8Array | MessageObject;
export interface MessageObject {
  readonly [name: string]: MessageValue | undefined;
}

export function isObject(v: unknown): v is MessageObject {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);
}

/**
 * Validates `msg` as attribute set `set`, accepting only `accept` (every attribute of the set when
 * omitted). Nested sets are validated with all their attributes accepted.
 */
export function parseAttrs(set: string, msg: unknown, accept?: readonly string[], attr?: string): Attrs {
  if (!isObject(msg) || Array.isArray(msg)) throw einval(`${attr ?? set} must be an object`, attr);
  const specs = ATTR_SETS[set];
  const out: Record<string, AttrValue> = {};
  for (const [name, raw] of Object.entries(msg)) {
    if (raw === undefined) continue;
    const spec = specs.find((a) => a.name === name);
    if (spec === undefined) throw einval(`unknown attribute ${name} in ${set}`, name);
    if (accept !== undefined && !accept.includes(name)) throw einval(`unexpected attribute ${name}`, name);
    out[name] = parseValue(spec, raw);
  }
  return out;
}

function parseValue(spec: AttrSpec, raw: MessageValue): AttrValue {
  const { name, type } = spec;
  switch (type.kind) {
    case 'u32':
    case 'u16':
    case 's32':
    case 'uint': {
      const v = toInteger(name, raw);
      const [lo, hi] =
        type.kind === 'u16' ? [0, 0xffff] : type.kind === 's32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 0xffffffff];
      const min = 'min' in type && type.min !== undefined ? type.min : lo;
      const max = 'max' in type && type.max !== undefined ? type.max : hi;
      if (v < min || v > max) throw erange(`${name} out of range (${min}..${max})`, name);
      return v;
    }
    case 'enum': {
      if (typeof raw === 'string') {
        const i = type.values.indexOf(raw);
        if (i < 0) throw einval(`${name} must be one of ${type.values.join(', ')}`, name);
        return i;
      }
      const v = toInteger(name, raw);
      if (v < 0 || v >= type.values.length)
        throw erange(`${name} out of range (0..${type.values.length - 1})`, name);
      return v;
    }
    case 'ipv4': {
      if (typeof raw === 'string') return parseIPv4(raw, name);
      const b = toBytes(name, raw);
      if (b.length !== 4) throw erange(`${name} must be 4 bytes`, name);
      return b;
    }
    case 'ipv6': {
      if (typeof raw === 'string') return parseIPv6(raw, name);
      const b = toBytes(name, raw);
      if (b.length !== 16) throw erange(`${name} must be 16 bytes`, name);
      return b;
    }
    case 'binary': {
      const b = toBytes(name, raw);
      if (type.exactLen !== undefined && b.length !== type.exactLen) {
        throw erange(`${name} must be ${type.exactLen} bytes`, name);
      }
      if (type.maxLen !== undefined && b.length > type.maxLen)
        throw erange(`${name} longer than ${type.maxLen} bytes`, name);
      return b;
    }
    case 'string': {
      if (typeof raw !== 'string') throw einval(`${name} must be a string`, name);
      if (Buffer.byteLength(raw) > type.maxLen)
        throw erange(`${name} longer than ${type.maxLen} bytes`, name);
      return raw;
    }
    case 'nest':
      return parseAttrs(type.set, raw, undefined, name);
  }
}

function toInteger(name: string, raw: MessageValue): number {
  const v = typeof raw === 'bigint' ? Number(raw) : raw;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw einval(`${name} must be an integer`, name);
  return v;
}

/**
 * Binary attributes: a Buffer/Uint8Array, or a hex string (YNL's JSON form). Always copied, so that the
 * API can wipe key material it was given without touching the caller's memory.
 */
function toBytes(name: string, raw: MessageValue): Buffer {
  if (raw instanceof Uint8Array) return Buffer.from(raw);
  if (typeof raw === 'string' && /^([0-9a-fA-F]{2})*$/.test(raw)) return Buffer.from(raw, 'hex');
  throw einval(`${name} must be binary (hex string or bytes)`, name);
}

/** Typed getters for validated attributes. */
export const get = {
  u32(a: Attrs, name: string): number | undefined {
    const v = a[name];
    return typeof v === 'number' ? v : undefined;
  },
  bytes(a: Attrs, name: string): Buffer | undefined {
    const v = a[name];
    return Buffer.isBuffer(v) ? v : undefined;
  },
  str(a: Attrs, name: string): string | undefined {
    const v = a[name];
    return typeof v === 'string' ? v : undefined;
  },
  nest(a: Attrs, name: string): Attrs | undefined {
    const v = a[name];
    return v !== undefined && typeof v === 'object' && !Buffer.isBuffer(v) ? v : undefined;
  },
};

/** A required attribute, or EINVAL "missing attribute" (the kernel's NL_REQ_ATTR_CHECK). */
export function required<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new OvpnError('EINVAL', `missing attribute ${name}`, name);
  return v;
}

/** 4 for an IPv4 or v4-mapped IPv6 address, 6 for other IPv6, 0 for none (the kernel's family_get). */
export function familyOf(v4: Buffer | undefined, v6: Buffer | undefined): 0 | 4 | 6 {
  if (v4 !== undefined) return 4;
  if (v6 !== undefined) return isV4Mapped(v6) ? 4 : 6;
  return 0;
}
