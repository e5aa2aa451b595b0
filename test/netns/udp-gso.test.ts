/**
 * UDP GSO fallbacks that need a small path MTU, in a namespace whose loopback has MTU 1500: a run
 * whose segments would need IP fragmentation is refused by the kernel (EMSGSIZE) and goes out one
 * datagram at a time (fragmented), the size is remembered and re-probed later; segment sizes no path
 * could carry turn GSO off. The sockets are created inside the namespace by this process (sys/netns.ts inNetns).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PacketBatch } from '../../src/batch/packet-batch.js';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { Endpoint } from '../../src/net/endpoint.js';
import { inNetns } from '../../src/sys/netns.js';
import { createUdpSocket, UdpTransport } from '../../src/transport/index.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';

describe('UDP GSO on a path with MTU 1500', { skip }, () => {
  let lab: NetnsLab;
  let ns: string;
  const open: UdpTransport[] = [];

  before(() => {
    lab = new NetnsLab('ovt5');
    ns = lab.ns('gso');
    lab.exec(ns, 'ip', ['link', 'set', 'lo', 'mtu', '1500']);
  });
  after(async () => {
    for (const t of open) t.close();
    await lab.cleanup();
  });

  function pair(family: 4 | 6): { rx: UdpTransport; tx: UdpTransport; dest: Endpoint } {
    const address = family === 4 ? '127.0.0.1' : '::1';
    const [rx, tx] = inNetns(ns, () => [
      UdpTransport.attach(createUdpSocket({ family, port: 0, address }), 64, { gro: false }),
      UdpTransport.attach(createUdpSocket({ family, port: 0, address }), 64),
    ]);
    open.push(rx, tx);
    return { rx, tx, dest: Endpoint.parse(address, rx.localPort) };
  }

  /** Sends `count` datagrams of `size` bytes (tagged with their index) and checks they all arrive. */
  async function sendAndCheck(
    rx: UdpTransport,
    tx: UdpTransport,
    dest: Endpoint,
    count: number,
    size: number,
  ) {
    const out = new PacketBatch(count, 2048);
    const slots = new Uint16Array(count);
    for (let k = 0; k < count; k++) {
      out.mem.buf.fill(k & 0xff, out.offs[k], out.offs[k] + size);
      out.mem.buf.writeUInt16BE(k, out.offs[k]);
      out.lens[k] = size;
      slots[k] = k;
    }
    const dests = new Array<Endpoint>(count).fill(dest);
    assert.equal(tx.sendBatch(out, slots, dests, [], 0, count), count);
    const batch = new PacketBatch(64, 2048);
    const tags: number[] = [];
    const deadline = Date.now() + 2000;
    while (tags.length < count && Date.now() < deadline) {
      const n = rx.recvBatch(batch);
      if (n === 0) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < n; i++) {
        assert.equal(batch.lens[i], size);
        tags.push(batch.mem.buf.readUInt16BE(batch.offs[i]));
      }
    }
    assert.deepEqual(
      tags,
      Array.from({ length: count }, (_, k) => k),
    );
  }

  for (const family of [4, 6] as const) {
    it(`IPv${family}: a run too big for the MTU goes out fragmented; the size is remembered, then re-probed`, async () => {
      const { rx, tx, dest } = pair(family);
      assert.equal(tx.gso, true);
      await sendAndCheck(rx, tx, dest, 64, 1600);
      assert.equal(tx.txGsoFallbacks, 1, 'refused once');
      assert.equal(tx.txGsoSends, 0);
      await sendAndCheck(rx, tx, dest, 64, 1600);
      assert.equal(tx.txGsoFallbacks, 1, 'not tried again');
      await sendAndCheck(rx, tx, dest, 64, 1000);
      assert.equal(tx.txGsoSends, 1, 'smaller runs still use GSO (64 x 1000 B in one)');
      assert.equal(tx.gso, true);
      // After GSO_REPROBE (4096) datagrams refused GSO for their size, it is tried once more.
      for (let i = 0; i < 64; i++) await sendAndCheck(rx, tx, dest, 64, 1600);
      assert.equal(tx.txGsoFallbacks, 2, 're-probed once');
      assert.equal(tx.txErrors, 0);
    });
  }

  it('segment sizes below any real path MTU turn GSO off', async () => {
    lab.exec(ns, 'ip', ['link', 'set', 'lo', 'mtu', '200']);
    try {
      const { rx, tx, dest } = pair(4);
      await sendAndCheck(rx, tx, dest, 20, 250);
      assert.equal(tx.txGsoFallbacks, 1);
      assert.equal(tx.gso, false);
      await sendAndCheck(rx, tx, dest, 20, 100);
      assert.equal(tx.txGsoSends, 0);
      assert.equal(tx.txGsoFallbacks, 1);
    } finally {
      lab.exec(ns, 'ip', ['link', 'set', 'lo', 'mtu', '1500']);
    }
  });
});
