/**
 * A small deterministic PRNG and a loop runner for the fuzz tests (test/fuzz/).
 *
 * - `FUZZ_SEED`: the run's seed (decimal or 0x-hex; `random` picks one). Default: a fixed seed, so CI
 *   runs are reproducible. Each fuzz case derives its own stream from the seed and its name, and each
 *   iteration its own sub-seed, so input `i` of a case depends only on (seed, case, i).
 * - `FUZZ_ITERATIONS`: inputs per fuzz case, replacing every case's default (use a small number for a
 *   quick run, a large one for a soak).
 * - `FUZZ_STACK=1`: full stack traces inside the loops (they are cut to one frame for speed).
 *
 * On failure the runner names the case, the iteration, the seed and the command to reproduce it.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';

/** mulberry32: 32 bits of state, fast, good enough to generate test inputs. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  reseed(seed: number): void {
    this.s = seed >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n) for 0 < n <= 2^32. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Integer in [0, max], biased towards small values (each bit length equally likely). */
  small(max: number): number {
    const bits = this.int(Math.ceil(Math.log2(max + 1)) + 1);
    return Math.min(max, this.int(2 ** bits));
  }

  /** Fills `buf[off, off+len)` with random bytes. */
  fill(buf: Buffer | Uint8Array, off = 0, len = buf.length - off): void {
    let i = off;
    const end = off + len;
    for (; i + 4 <= end; i += 4) {
      const v = this.u32();
      buf[i] = v;
      buf[i + 1] = v >>> 8;
      buf[i + 2] = v >>> 16;
      buf[i + 3] = v >>> 24;
    }
    for (; i < end; i++) buf[i] = this.u32();
  }

  /** A new Buffer of `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    this.fill(b);
    return b;
  }
}

/** A 32-bit mix of two numbers (murmur3 finaliser). */
export function mix32(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0, seed);
}

const DEFAULT_SEED = 0x0f5eed01;

function envSeed(): number {
  const v = process.env.FUZZ_SEED?.trim();
  if (v === undefined || v === '') return DEFAULT_SEED;
  if (v === 'random') return (Math.random() * 2 ** 32) >>> 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new Error(`FUZZ_SEED must be a 32-bit unsigned integer (decimal or 0x-hex) or "random", not ${v}`);
  }
  return n;
}

/** The run's seed (from FUZZ_SEED, fixed otherwise). */
export const FUZZ_SEED = envSeed();

/** Inputs for a case: FUZZ_ITERATIONS if set, else the case's default. */
export function iterations(defaultCount: number): number {
  const v = process.env.FUZZ_ITERATIONS?.trim();
  if (v === undefined || v === '') return defaultCount;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FUZZ_ITERATIONS must be a positive integer, not ${v}`);
  return n;
}

export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * Asserts `cond`, building the message only on failure (fuzz loops run millions of checks; eager
 * template strings with `show` would dominate their cost).
 */
export function ensure(cond: unknown, msg: () => string): asserts cond {
  if (!cond) assert.fail(msg());
}

/** Asserts `Object.is(actual, expected)`, building the message only on failure. */
export function eq<T>(actual: unknown, expected: T, msg: () => string): asserts actual is T {
  if (!Object.is(actual, expected)) assert.fail(`${msg()}: got ${show(actual)}, expected ${show(expected)}`);
}

/** Printable form of a fuzz input for failure messages (Buffers as hex, bigints, NaN, -0 kept). */
export function show(v: unknown, maxLen = 2000): string {
  const s = Buffer.isBuffer(v)
    ? `<${v.length} bytes> ${v.toString('hex')}`
    : inspect(v, {
        depth: 8,
        breakLength: Number.POSITIVE_INFINITY,
        maxArrayLength: 64,
        maxStringLength: 300,
      });
  return s.length > maxLen ? `${s.slice(0, maxLen)}…` : s;
}

export interface FuzzResult {
  readonly name: string;
  readonly count: number;
  readonly ms: number;
  readonly seed: number;
}

/**
 * Stack frames recorded per Error inside fuzz loops. Most inputs end in an OvpnError, and capturing
 * full stacks would double the cost of each; the top frame still says where an escaped exception
 * came from (set FUZZ_STACK=1 for full stacks when investigating a failure).
 */
const STACK_LIMIT = process.env.FUZZ_STACK === '1' ? 50 : 1;

/**
 * Runs `body` for `count` inputs of case `name`. The Rng handed to `body` is reseeded for every
 * iteration from (FUZZ_SEED, name, i). Any exception from `body` (a failed assertion, or an exception
 * that escaped the code under test) stops the loop and is rethrown with the seed and iteration.
 * `body` may keep state across iterations (sessions of packets, replay windows): such cases reproduce
 * by running from iteration 0, which `FUZZ_ITERATIONS=i+1` does.
 */
export function fuzz(name: string, count: number, body: (rng: Rng, i: number) => void): FuzzResult {
  const caseSeed = hashString(name, FUZZ_SEED);
  const rng = new Rng(0);
  const t0 = performance.now();
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = STACK_LIMIT;
  try {
    for (let i = 0; i < count; i++) {
      rng.reseed(mix32(caseSeed, i));
      try {
        body(rng, i);
      } catch (e) {
        Error.stackTraceLimit = limit;
        throw failure(name, i, e);
      }
    }
  } finally {
    Error.stackTraceLimit = limit;
  }
  return { name, count, ms: performance.now() - t0, seed: FUZZ_SEED };
}

/** `fuzz` for bodies that await (one input at a time, in order). */
export async function fuzzAsync(
  name: string,
  count: number,
  body: (rng: Rng, i: number) => Promise<void>,
): Promise<FuzzResult> {
  const caseSeed = hashString(name, FUZZ_SEED);
  const rng = new Rng(0);
  const t0 = performance.now();
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = STACK_LIMIT;
  try {
    for (let i = 0; i < count; i++) {
      rng.reseed(mix32(caseSeed, i));
      try {
        await body(rng, i);
      } catch (e) {
        Error.stackTraceLimit = limit;
        throw failure(name, i, e);
      }
    }
  } finally {
    Error.stackTraceLimit = limit;
  }
  return { name, count, ms: performance.now() - t0, seed: FUZZ_SEED };
}

function failure(name: string, i: number, e: unknown): Error {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new Error(
    `fuzz case "${name}" failed at iteration ${i} with FUZZ_SEED=${hex32(FUZZ_SEED)}` +
      ` (reproduce: FUZZ_SEED=${hex32(FUZZ_SEED)} FUZZ_ITERATIONS=${i + 1})\n${what}`,
    { cause: e },
  );
}

/** One line for `t.diagnostic`. */
export function summary(r: FuzzResult): string {
  return `${r.name}: ${r.count} inputs in ${Math.round(r.ms)} ms (FUZZ_SEED=${hex32(r.seed)})`;
}
