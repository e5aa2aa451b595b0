import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FrameError, TcpDeframer, writeFrameLength } from '../../../src/wire/tcp-frame.js';

function frame(payload: Buffer): Buffer {
  const b = Buffer.alloc(2 + payload.length);
  writeFrameLength(b, 0, payload.length);
  payload.copy(b, 2);
  return b;
}

/** Collects the frames a de-framer delivers, checking that the prefix sits right before each one. */
function collector() {
  const got: Buffer[] = [];
  const d = new TcpDeframer((buf, start, end) => {
    assert.equal(buf.readUInt16BE(start - 2), end - start, 'length prefix not in front of the frame');
    got.push(Buffer.from(buf.subarray(start, end)));
  });
  return { d, got };
}

const payloads = [4, 5, 100, 1, 1400, 65535, 4, 3000].map((n, i) =>
  n < 4
    ? Buffer.from([0x48, 0, 0, i])
    : Buffer.concat([Buffer.from([0x48 + (i & 7), 0, 0, i]), randomBytes(n - 4)]),
);
const stream = Buffer.concat(payloads.map(frame));
/** Without the 64 KiB packet, for the exhaustive split test. */
const small = payloads.filter((p) => p.length < 10_000);
const smallStream = Buffer.concat(small.map(frame));

describe('TCP de-framer', () => {
  it('delivers many packets from one read', () => {
    const { d, got } = collector();
    assert.equal(d.push(stream), FrameError.NONE);
    assert.deepEqual(got, payloads);
    assert.equal(d.pending, 0);
  });

  it('copes with a split at every byte boundary', () => {
    for (let cut = 0; cut <= smallStream.length; cut++) {
      const { d, got } = collector();
      assert.equal(d.push(smallStream.subarray(0, cut)), FrameError.NONE);
      assert.equal(d.push(smallStream.subarray(cut)), FrameError.NONE);
      assert.equal(got.length, small.length, `cut at ${cut}`);
      for (let i = 0; i < got.length; i++) assert.ok(got[i].equals(small[i]), `cut at ${cut}, frame ${i}`);
    }
  });

  it('copes with a split at every byte boundary of a frame merged with the next', () => {
    // every pair of neighbouring frames, cut anywhere inside the pair (pg-protocol's split tests)
    for (let f = 0; f + 1 < small.length; f++) {
      const pair = Buffer.concat([frame(small[f]), frame(small[f + 1])]);
      for (let cut = 0; cut <= pair.length; cut++) {
        const { d, got } = collector();
        d.push(pair.subarray(0, cut));
        d.push(pair.subarray(cut));
        assert.deepEqual(got, [small[f], small[f + 1]], `pair ${f}, cut at ${cut}`);
      }
    }
  });

  it('gathers the largest packet (65535 bytes) split across reads', () => {
    const big = payloads.find((p) => p.length === 65535)!;
    const framed = frame(big);
    for (const cut of [1, 2, 3, 1000, 65536, 65537]) {
      const { d, got } = collector();
      d.push(framed.subarray(0, cut));
      d.push(framed.subarray(cut));
      assert.equal(got.length, 1);
      assert.ok(got[0].equals(big));
    }
  });

  it('copes with one byte per read and with empty reads', () => {
    const { d, got } = collector();
    for (let i = 0; i < smallStream.length; i++) {
      assert.equal(d.push(smallStream.subarray(i, i + 1)), FrameError.NONE);
      assert.equal(d.push(Buffer.alloc(0)), FrameError.NONE);
    }
    assert.deepEqual(got, small);
  });

  it('copes with random chunking', () => {
    for (let round = 0; round < 200; round++) {
      const { d, got } = collector();
      let pos = 0;
      while (pos < stream.length) {
        const n = Math.floor(Math.random() * 5000);
        assert.equal(d.push(stream.subarray(pos, pos + n)), FrameError.NONE);
        pos += n;
      }
      assert.deepEqual(got, payloads);
    }
  });

  it('a length below 2 stops the stream', () => {
    for (const len of [0, 1]) {
      const { d, got } = collector();
      const bad = Buffer.concat([frame(payloads[0]), Buffer.from([0, len]), frame(payloads[1])]);
      assert.equal(d.push(bad), FrameError.BAD_LENGTH);
      assert.equal(got.length, 1, 'frames before the error are delivered');
      assert.equal(d.push(frame(payloads[1])), FrameError.BAD_LENGTH, 'nothing after the error');
      assert.equal(got.length, 1);
    }
  });

  it('a packet under 4 bytes stops the stream, even when its length arrives split', () => {
    for (const len of [2, 3]) {
      const { d, got } = collector();
      assert.equal(d.push(Buffer.from([0])), FrameError.NONE);
      assert.equal(d.push(Buffer.from([len, 1, 2, 3])), FrameError.SHORT_PACKET);
      assert.equal(got.length, 0);
      assert.equal(d.error, FrameError.SHORT_PACKET);
    }
  });

  it('the consumer can abort from inside the handler', () => {
    let n = 0;
    const d = new TcpDeframer(() => {
      n++;
      d.abort();
    });
    assert.equal(d.push(stream), FrameError.ABORTED);
    assert.equal(n, 1);
  });
});
