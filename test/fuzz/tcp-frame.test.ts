/**
 * Fuzzing the TCP de-framer (src/wire/tcp-frame.ts) against a reference de-framer that reads the
 * whole stream at once: random streams, valid streams with mutations, random chunking, aborts.
 *
 * Invariants: `push` never throws; every frame satisfies `end - start >= 4` and has its length prefix
 * at `buf[start-2]`; after every push the frames delivered so far, the returned error and `pending` are
 * exactly what the reference says for the bytes pushed so far; after an error nothing more is delivered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameError, TcpDeframer, writeFrameLength } from '../../src/wire/tcp-frame.js';
import { fuzz, iterations, type Rng, show, summary } from '../support/fuzz-rng.js';

interface RefFrame {
  /** Offset of the payload in the stream. */
  readonly start: number;
  readonly end: number;
}

interface RefResult {
  readonly frames: RefFrame[];
  readonly error: FrameError;
  /** Stream bytes needed to see the error (offset of the bad length + 2); Infinity when none. */
  readonly errorAt: number;
}

/** The obvious de-framer over the complete stream (spec ovpn-kernel §5.4). */
function reference(stream: Buffer): RefResult {
  const frames: RefFrame[] = [];
  let pos = 0;
  while (stream.length - pos >= 2) {
    const len = stream.readUInt16BE(pos);
    if (len < 2) return { frames, error: FrameError.BAD_LENGTH, errorAt: pos + 2 };
    if (len < 4) return { frames, error: FrameError.SHORT_PACKET, errorAt: pos + 2 };
    if (stream.length - pos - 2 < len) break;
    frames.push({ start: pos + 2, end: pos + 2 + len });
    pos += 2 + len;
  }
  return { frames, error: FrameError.NONE, errorAt: Number.POSITIVE_INFINITY };
}

function packetLength(rng: Rng): number {
  switch (rng.int(16)) {
    case 0:
    case 1:
      return 4;
    case 2:
      return rng.range(4, 8);
    case 3:
    case 4:
      return rng.range(4, 2000);
    case 5:
      return rng.chance(0.03) ? 65535 : rng.range(2000, 6000);
    default:
      return rng.range(4, 100);
  }
}

/** A well-formed stream of `n` packets, and where each length prefix sits. */
function validStream(rng: Rng): { stream: Buffer; prefixes: number[] } {
  const n = rng.range(0, 12);
  const lens: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = packetLength(rng);
    lens.push(len);
    total += 2 + len;
  }
  const stream = Buffer.allocUnsafe(total);
  const prefixes: number[] = [];
  let pos = 0;
  for (const len of lens) {
    prefixes.push(pos);
    writeFrameLength(stream, pos, len);
    rng.fill(stream, pos + 2, Math.min(len, 64));
    stream.fill(0x5a, pos + 2 + Math.min(len, 64), pos + 2 + len);
    pos += 2 + len;
  }
  return { stream, prefixes };
}

/** Random bytes, biased towards small values so that length prefixes are often small. */
function randomStream(rng: Rng): Buffer {
  const b = rng.bytes(rng.small(400));
  if (rng.chance(0.6)) for (let i = 0; i < b.length; i++) if (rng.chance(0.5)) b[i] &= 7;
  return b;
}

function mutate(rng: Rng, stream: Buffer, prefixes: number[]): Buffer {
  let s = stream;
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(6)) {
      case 0: // bit flip
        if (s.length > 0) {
          s = Buffer.from(s);
          s[rng.int(s.length)] ^= 1 << rng.int(8);
        }
        break;
      case 1: // truncation
        s = s.subarray(0, rng.int(s.length + 1));
        break;
      case 2: {
        // inserted bytes
        const at = rng.int(s.length + 1);
        s = Buffer.concat([s.subarray(0, at), rng.bytes(rng.range(1, 4)), s.subarray(at)]);
        break;
      }
      case 3: {
        // deleted bytes
        const at = rng.int(s.length + 1);
        s = Buffer.concat([s.subarray(0, at), s.subarray(at + rng.range(1, 4))]);
        break;
      }
      default: {
        // a length field set to a boundary value (prefix positions of the original stream)
        if (prefixes.length === 0) break;
        const at = rng.pick(prefixes);
        if (at + 2 > s.length) break;
        s = Buffer.from(s);
        s.writeUInt16BE(rng.chance(0.5) ? rng.int(4) : rng.pick([4, 5, 65535, 65534, rng.int(65536)]), at);
      }
    }
  }
  return s;
}

/** Cuts `stream` into reads: whole, bytewise, or random sizes, with empty reads now and then. */
function chunks(rng: Rng, stream: Buffer): Buffer[] {
  const mode = rng.int(5);
  if (mode === 0) return [stream];
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < stream.length) {
    if (rng.chance(0.03)) out.push(stream.subarray(pos, pos));
    const n =
      mode === 1 && stream.length < 600
        ? 1
        : mode === 2 && stream.length < 4000
          ? rng.range(1, 3)
          : rng.range(1, 1 + rng.small(3000));
    // Copy some reads, so that the de-framer sees chunks that do not share memory with the stream.
    const c = stream.subarray(pos, pos + n);
    out.push(rng.chance(0.05) ? Buffer.from(c) : c);
    pos += n;
  }
  if (rng.chance(0.1)) out.push(Buffer.alloc(0));
  return out;
}

/**
 * Feeds `reads` to a fresh de-framer and checks it against the reference after every push. With
 * `abortAt` >= 0, the handler aborts the stream on the frame with that index.
 */
function check(
  stream: Buffer,
  reads: Buffer[],
  abortAt: number,
  extra: Buffer[],
): { frames: number; error: FrameError } {
  const ref = reference(stream);
  let delivered = 0;
  let aborted = false;
  let afterError = false;
  const d = new TcpDeframer((buf, start, end) => {
    if (afterError) assert.fail('a frame was delivered after the stream stopped');
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 2 || end > buf.length) {
      assert.fail(`frame [${start}, ${end}) outside its ${buf.length}-byte buffer`);
    }
    if (end - start < 4) assert.fail(`frame of ${end - start} bytes`);
    if (buf.readUInt16BE(start - 2) !== end - start)
      assert.fail('the length prefix is not in front of the frame');
    // Compared in place, during the call (the bytes are only valid then).
    const f = ref.frames[delivered];
    if (f === undefined) assert.fail(`frame ${delivered} delivered; the reference has ${ref.frames.length}`);
    if (stream.compare(buf, start, end, f.start, f.end) !== 0)
      assert.fail(`frame ${delivered} differs from the stream`);
    if (delivered === abortAt) {
      d.abort();
      aborted = true;
    }
    delivered++;
  });
  let fed = 0;
  /** Reference frames complete within the bytes fed so far. */
  let due = 0;
  for (const r of reads) {
    let res: FrameError;
    try {
      res = d.push(r);
    } catch (e) {
      assert.fail(`push threw ${show(e)} after ${fed} bytes, on a read of ${r.length}`);
    }
    fed += r.length;
    while (due < ref.frames.length && ref.frames[due].end <= fed) due++;
    const expectCount = abortAt >= 0 ? Math.min(due, abortAt + 1) : due;
    if (delivered !== expectCount)
      assert.fail(`${delivered} frames delivered after ${fed} bytes, expected ${expectCount}`);
    const expectErr: FrameError = aborted
      ? FrameError.ABORTED
      : ref.errorAt <= fed
        ? ref.error
        : FrameError.NONE;
    if (res !== expectErr || d.error !== expectErr) {
      assert.fail(`push returned ${res} (error getter ${d.error}) after ${fed} bytes, expected ${expectErr}`);
    }
    const expectPending: number =
      expectErr !== FrameError.NONE ? 0 : fed - (due > 0 ? ref.frames[due - 1].end : 0);
    if (d.pending !== expectPending)
      assert.fail(`pending ${d.pending} after ${fed} bytes, expected ${expectPending}`);
    if (expectErr !== FrameError.NONE) afterError = true;
  }
  // More input after an error changes nothing.
  if (afterError) {
    const e = d.error;
    for (const r of extra) assert.equal(d.push(r), e, 'push after an error');
  }
  return { frames: delivered, error: d.error };
}

describe('fuzz: TCP de-framer', () => {
  it('random, valid and mutated streams in random reads match the reference de-framer', (t) => {
    let frames = 0;
    const outcomes = [0, 0, 0, 0];
    const r = fuzz('tcp-deframer', iterations(80_000), (rng) => {
      let stream: Buffer;
      const kind = rng.int(10);
      if (kind < 3) stream = randomStream(rng);
      else {
        const v = validStream(rng);
        stream = kind < 6 ? v.stream : mutate(rng, v.stream, v.prefixes);
      }
      const reads = chunks(rng, stream);
      const abortAt = rng.chance(0.1) ? rng.int(4) : -1;
      const extra = [rng.bytes(rng.int(8)), Buffer.from([0, 10, 0x48, 0, 0, 0, 0, 0, 0, 0, 0, 0])];
      try {
        const res = check(stream, reads, abortAt, extra);
        frames += res.frames;
        outcomes[res.error]++;
      } catch (e) {
        throw new Error(
          `${e instanceof Error ? e.message : String(e)}\nstream: ${show(stream)}\n` +
            `reads: ${reads.map((c) => c.length).join(',')}; abortAt ${abortAt}`,
          { cause: e },
        );
      }
    });
    const [ok, bad, short, aborted] = outcomes;
    t.diagnostic(
      `${summary(r)}; ${frames} frames delivered; streams ending ok ${ok}, bad length ${bad},` +
        ` short packet ${short}, aborted ${aborted}`,
    );
  });
});
