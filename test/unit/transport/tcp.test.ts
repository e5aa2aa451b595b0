/**
 * The TCP transport against a real loopback connection: frames go out whole and in order, a peer that
 * stops reading fills a bounded queue and further frames are refused (counted) instead of blocking or
 * growing memory, and the queue drains once the peer reads again.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { PacketBatch } from '../../../src/batch/packet-batch.js';
import { TCP_SEND_QUEUE_BYTES, TcpTransport } from '../../../src/transport/tcp.js';
import { tcpConnect } from '../../../src/transport/tcp-socket.js';
import { FrameError, TcpDeframer } from '../../../src/wire/tcp-frame.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectedPair(): Promise<{ remote: Socket; fd: number; close: () => void }> {
  let resolveRemote: (s: Socket) => void = () => {};
  const remoteP = new Promise<Socket>((r) => {
    resolveRemote = r;
  });
  const server = createServer((s) => resolveRemote(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const fd = await tcpConnect({ addr: '127.0.0.1', port });
  const remote = await remoteP;
  return { remote, fd, close: () => server.close() };
}

describe('TCP transport', () => {
  it('a peer that stops reading: bounded queue, refused frames counted, then drained in order', async () => {
    const { remote, fd, close } = await connectedPair();
    remote.pause(); // the far end stops reading
    const t = TcpTransport.attach(fd);
    let ended = '';
    t.start({ frame: () => {}, flush: () => {}, closed: (why) => (ended = why) });
    const batch = new PacketBatch(64, 2048);
    const slots = new Uint16Array(64);
    let seq = 0;
    const fill = () => {
      for (let i = 0; i < 64; i++) {
        const off = batch.dataStart(i);
        batch.mem.buf.fill(0, off, off + 1400);
        batch.mem.buf[off] = 0x48; // DATA_V2-looking first byte
        batch.mem.buf.writeUInt32BE(seq + i, off + 4); // a sequence number to check order
        batch.offs[i] = off;
        batch.lens[i] = 1400;
        slots[i] = i;
      }
    };
    let accepted = 0;
    let rounds = 0;
    while (t.refused === 0 && rounds < 20_000) {
      fill();
      const k = t.sendFrames(batch, slots, 0, 64);
      seq += k;
      accepted += k;
      rounds++;
      assert.ok(t.queuedBytes <= TCP_SEND_QUEUE_BYTES, `queue grew to ${t.queuedBytes}`);
    }
    assert.ok(t.refused > 0, 'the queue never filled');
    assert.ok(t.queuedBytes > TCP_SEND_QUEUE_BYTES / 2, `queue only ${t.queuedBytes}`);
    // control frames are refused too while the queue is full, never interleaved
    const ctl = Buffer.alloc(2 + 1000, 0x86);
    ctl.writeUInt16BE(1000, 0);
    const ctlTaken = t.sendControl(ctl);

    // the far end reads again: everything accepted arrives, whole and in order
    let frames = 0;
    let next = 0;
    let ctlSeen = 0;
    const deframer = new TcpDeframer((buf, start, end) => {
      if (buf[start] === 0x86) {
        ctlSeen++;
        assert.equal(end - start, 1000);
        return;
      }
      assert.equal(end - start, 1400);
      assert.equal(buf.readUInt32BE(start + 4), next, 'frames out of order');
      next++;
      frames++;
    });
    remote.on('data', (d: Buffer) => assert.equal(deframer.push(d), FrameError.NONE));
    remote.resume();
    for (let i = 0; i < 200 && (frames < accepted || t.queuedBytes > 0); i++) await sleep(25);
    assert.equal(frames, accepted);
    assert.equal(ctlSeen, ctlTaken ? 1 : 0);
    assert.equal(t.queuedBytes, 0);
    assert.equal(ended, '');
    t.close();
    remote.destroy();
    close();
  });

  it('refuses what is not a connected TCP socket', async () => {
    const { remote, fd, close } = await connectedPair();
    assert.throws(() => TcpTransport.attach(0), /not a TCP socket/); // stdin
    const t = TcpTransport.attach(fd);
    assert.equal(t.remote.address, '127.0.0.1');
    t.close();
    t.close();
    remote.destroy();
    close();
  });
});
