/**
 * TUN offloads end to end: two TUN devices created by this process (in the root namespace) and moved
 * into namespaces A and B, joined by an in-process forwarder that does nothing but
 * `b.writeBatch(a.readBatch())` and back. With offload on, every read can be a TSO super-packet split
 * into MTU-sized packets (A -> B uses an 8-slot batch so bursts always span several reads: the pending
 * remainder path), and every write can be a GRO super-packet. iperf3 and a checksummed bulk transfer
 * over IPv4 and IPv6 must work with no retransmission storm and with far fewer syscalls than packets;
 * UDP datagrams must arrive intact (partial checksums completed). The plain mode and the
 * `offload: false` option is checked too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { PacketBatch } from '../../src/batch/packet-batch.js';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { createTun, type LinuxTunDevice } from '../../src/tun/tun-linux.js';

const A4 = '10.98.4.1';
const B4 = '10.98.4.2';
const A6 = 'fd98:4::1';
const B6 = 'fd98:4::2';

/** Moves packets from `src` to `dst` whenever `src` is readable, `batch.size` at a time. */
function forward(src: LinuxTunDevice, dst: LinuxTunDevice, size: number): void {
  const batch = new PacketBatch(size);
  const slots = new Uint16Array(size);
  for (let i = 0; i < size; i++) slots[i] = i;
  const status = new Uint8Array(size);
  src.onReadable(() => {
    for (let turn = 0; turn < 16; turn++) {
      const n = src.readBatch(batch);
      if (n <= 0) return;
      dst.writeBatch(batch, slots, n, status);
      if (n < size) return;
    }
  });
}

interface IperfResult {
  end: {
    sum_received: { bytes: number; bits_per_second: number };
    sum_sent: { retransmits: number };
  };
}

const SINK = `
const net = require('net'), crypto = require('crypto');
const h = crypto.createHash('sha256'); let n = 0;
net.createServer((s) => {
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ n, sha: h.digest('hex') })); process.exit(0); });
}).listen(5301, process.argv[1], () => console.log('listening'));
`;
const SOURCE = `
const net = require('net'), crypto = require('crypto');
const data = crypto.randomBytes(24 << 20);
const s = net.connect(5301, process.argv[1], () => s.end(data));
s.on('close', () => console.log(JSON.stringify({ n: data.length, sha: crypto.createHash('sha256').update(data).digest('hex') })));
`;
const UDP_SINK = `
const dgram = require('dgram'), crypto = require('crypto');
const s = dgram.createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
let n = 0, bad = 0;
s.on('message', (m) => {
  const want = crypto.createHash('sha256').update(m.subarray(32)).digest();
  if (!want.equals(m.subarray(0, 32))) bad++;
  if (++n === 200) { console.log(JSON.stringify({ n, bad })); process.exit(0); }
});
s.bind(5302, process.argv[1], () => console.log('listening'));
`;
const UDP_SOURCE = `
const dgram = require('dgram'), crypto = require('crypto');
const s = dgram.createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
let i = 0;
const t = setInterval(() => {
  for (let k = 0; k < 10; k++) {
    const body = crypto.randomBytes(100 + ((i * 97) % 1200));
    s.send(Buffer.concat([crypto.createHash('sha256').update(body).digest(), body]), 5302, process.argv[1]);
    i++;
  }
  if (i >= 300) { clearInterval(t); s.close(); }
}, 5);
`;

describe('TUN offloads (netns)', { skip: canUseNetns() ? false : 'needs root' }, () => {
  let lab: NetnsLab;
  let nsA: string;
  let nsB: string;
  let a: LinuxTunDevice | undefined;
  let b: LinuxTunDevice | undefined;

  before(() => {
    lab = new NetnsLab('ovt4o');
    nsA = lab.ns('a');
    nsB = lab.ns('b');
    a = createTun('ovt4oA');
    b = createTun('ovt4oB');
    for (const [dev, ns, v4, v6] of [
      [a, nsA, A4, A6],
      [b, nsB, B4, B6],
    ] as const) {
      // Created in this process's (root) namespace: move them, as a TUN's fd keeps working anywhere.
      execFileSync('ip', ['link', 'set', dev.name, 'netns', ns]);
      lab.exec(ns, 'ip', ['addr', 'add', `${v4}/24`, 'dev', dev.name]);
      lab.exec(ns, 'ip', ['addr', 'add', `${v6}/64`, 'dev', dev.name, 'nodad']);
      lab.exec(ns, 'ip', ['link', 'set', dev.name, 'up']);
    }
    forward(a, b, 8);
    forward(b, a, 64);
  });

  after(async () => {
    a?.close();
    b?.close();
    await lab?.cleanup();
    assert.deepEqual(lab?.leftovers() ?? [], []);
  });

  it('opens with IFF_VNET_HDR and TSO (USO when the kernel has it), or plain when asked', () => {
    assert.equal(a?.offload, true);
    assert.equal(b?.offload, true);
    const plain = createTun('ovt4oP', { offload: false });
    assert.equal(plain.offload, false);
    assert.equal(plain.uso, false);
    plain.close();
  });

  it('carries iperf3 TCP both ways with super-packets on reads and writes', async (t) => {
    const server = lab.spawn(nsB, 'iperf3', ['-s', '-B', B4]);
    await new Promise((r) => setTimeout(r, 500));
    try {
      for (const reverse of [false, true]) {
        const before = { ...a!.stats };
        const beforeB = { ...b!.stats };
        const r = await lab.run(
          nsA,
          'iperf3',
          ['-c', B4, '-t', '3', '-J', ...(reverse ? ['-R'] : [])],
          30_000,
        );
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const j = JSON.parse(r.stdout) as IperfResult;
        const gbps = j.end.sum_received.bits_per_second / 1e9;
        // The sender's TUN is read (super-packets split), the receiver's TUN is written (GRO).
        const rd = reverse ? b! : a!;
        const wr = reverse ? a! : b!;
        const rd0 = reverse ? beforeB : before;
        const wr0 = reverse ? before : beforeB;
        const readRatio = (rd.stats.packetsIn - rd0.packetsIn) / (rd.stats.reads - rd0.reads);
        const writeRatio = (wr.stats.packetsOut - wr0.packetsOut) / (wr.stats.writes - wr0.writes);
        t.diagnostic(
          `${reverse ? 'B->A' : 'A->B'} ${gbps.toFixed(2)} Gbit/s, retransmits ${j.end.sum_sent.retransmits},` +
            ` packets per read ${readRatio.toFixed(1)}, per write ${writeRatio.toFixed(1)}`,
        );
        assert.ok(j.end.sum_received.bytes > 10e6, 'some data got through');
        assert.ok(readRatio > 3, `reads carry super-packets (${readRatio})`);
        assert.ok(writeRatio > 2, `writes carry merged segments (${writeRatio})`);
        assert.ok(rd.stats.superIn > rd0.superIn);
        assert.ok(wr.stats.superOut > wr0.superOut);
        assert.equal(rd.stats.readDrops, 0);
        assert.equal(wr.stats.writeErrors, 0);
      }
    } finally {
      server.kill('SIGKILL');
    }
  });

  for (const [v, dst] of [
    [4, B4],
    [6, B6],
  ] as const)
    it(`delivers a 24 MiB TCP stream over IPv${v} byte for byte`, async () => {
      const sink = lab.spawn(nsB, process.execPath, ['-e', SINK, dst]);
      let out = '';
      sink.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      while (!out.includes('listening')) await once(sink.stdout!, 'data');
      const src = await lab.run(nsA, process.execPath, ['-e', SOURCE, dst], 60_000);
      assert.equal(src.code, 0, src.stderr);
      if (sink.exitCode === null) await once(sink, 'exit');
      const got = JSON.parse(out.split('\n')[1]) as { n: number; sha: string };
      assert.deepEqual(got, JSON.parse(src.stdout));
      assert.equal(a!.stats.readDrops + b!.stats.readDrops, 0);
      assert.equal(a!.stats.writeErrors + b!.stats.writeErrors, 0);
    });

  for (const [v, dst] of [
    [4, B4],
    [6, B6],
  ] as const)
    it(`delivers UDP datagrams over IPv${v} with valid checksums`, async () => {
      const sink = lab.spawn(nsB, process.execPath, ['-e', UDP_SINK, dst]);
      let out = '';
      sink.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      while (!out.includes('listening')) await once(sink.stdout!, 'data');
      const src = await lab.run(nsA, process.execPath, ['-e', UDP_SOURCE, dst], 30_000);
      assert.equal(src.code, 0, src.stderr);
      const timer = setTimeout(() => sink.kill('SIGKILL'), 5000);
      if (sink.exitCode === null) await once(sink, 'exit');
      clearTimeout(timer);
      const got = JSON.parse(out.split('\n')[1] ?? '{}') as { n?: number; bad?: number };
      assert.equal(got.bad, 0, 'every datagram intact');
      assert.equal(got.n, 200, 'at least 200 of 300 datagrams arrived');
    });
});
