/**
 * UdpTransport and createUdpSocket on loopback, in the test process: attach checks, batched send and
 * receive (IPv4, IPv6, dual stack, mixed destinations), source and destination addresses, truncation,
 * per-datagram errors, source-address selection, sendOne, close, SO_MARK.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PacketBatch } from '../../../src/batch/packet-batch.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import { Endpoint } from '../../../src/net/endpoint.js';
import {
  AF_INET,
  AF_INET6,
  bind,
  close,
  EAGAIN,
  errno,
  F_GETFL,
  fcntl,
  IPPROTO_IPV6,
  IPPROTO_UDP,
  IPV6_V6ONLY,
  libcOpen,
  O_NONBLOCK,
  O_RDWR,
  SOCK_DGRAM,
  SOCK_STREAM,
  setsockoptInt,
  socket,
} from '../../../src/sys/libc.js';
import { createUdpSocket, type SourceAddress, UdpTransport } from '../../../src/transport/index.js';
import {
  closeTransports,
  expected,
  outgoing,
  type Received,
  receive,
  track,
  transport,
} from '../../support/udp-loopback.js';

const EBADF = 9;
after(closeTransports);

function expectDatagram(r: Received, idx: number, size: number): void {
  assert.equal(r.data.length, size, `datagram ${idx} length`);
  assert.ok(r.data.equals(expected(idx, size)), `datagram ${idx} content`);
}

const sizesOf = (n: number) => Array.from({ length: n }, (_, i) => 2 + ((i * 137) % 1399));
const isOpen = (fd: number) => fcntl(fd, F_GETFL, 0) >= 0;

describe('UdpTransport.attach', () => {
  it('refuses a TCP socket and a non-socket fd with ENOTSOCK, leaving the fd to the caller', () => {
    const tcp = socket(AF_INET, SOCK_STREAM, 0);
    const file = libcOpen('/dev/null', O_RDWR, 0);
    assert.ok(tcp >= 0 && file >= 0);
    try {
      for (const fd of [tcp, file]) {
        assert.throws(
          () => UdpTransport.attach(fd, 8),
          (e: unknown) => e instanceof OvpnError && e.code === 'ENOTSOCK' && e.errno === 88,
        );
        assert.ok(isOpen(fd));
      }
      assert.throws(() => UdpTransport.attach(tcp, 8), /not a UDP socket/);
      assert.throws(() => UdpTransport.attach(file, 8), /not a socket/);
    } finally {
      close(tcp);
      close(file);
    }
  });

  it('reads domain, port and mark, and makes the socket non-blocking', () => {
    const fd = createUdpSocket({ family: 6, port: 0, mark: 0x1234 });
    const t = UdpTransport.attach(fd, 8);
    track(t);
    assert.equal(t.fd, fd);
    assert.equal(t.domain, 6);
    assert.equal(t.v6Only, false);
    assert.ok(t.localPort > 0);
    assert.equal(t.mark, 0x1234);
    assert.ok((fcntl(fd, F_GETFL, 0) & O_NONBLOCK) !== 0);
    const t4 = transport(4, '127.0.0.1');
    assert.equal(t4.domain, 4);
    assert.equal(t4.mark, 0);
    assert.equal(t4.recvBatch(new PacketBatch(4, 2048)), 0, 'nothing queued');
  });
});

describe('UdpTransport batches', () => {
  it('IPv4: 100 datagrams arrive complete and in order, with source and destination address', async () => {
    const rx = transport(4); // 0.0.0.0: the destination address tells which local address was used
    const tx = transport(4, '127.0.0.1');
    const sizes = sizesOf(100);
    const { batch, slots } = outgoing(sizes);
    const dest = Endpoint.parse('127.0.0.2', rx.localPort);
    const dests = sizes.map(() => dest);
    assert.equal(tx.sendBatch(batch, slots, dests, [], 0, 100), 100);
    assert.deepEqual(
      [...tx.txStatus.subarray(0, 100)],
      sizes.map(() => 1),
    );
    const got = await receive(rx, 100);
    assert.equal(got.length, 100);
    const from = Endpoint.parse('127.0.0.1', tx.localPort);
    got.forEach((r, i) => {
      expectDatagram(r, i, sizes[i]);
      assert.ok(from.matchesSockaddr(r.name, 0));
      assert.equal(r.from?.key, from.key);
      assert.equal(r.localFamily, 4);
      assert.deepEqual([...r.local], [127, 0, 0, 2]);
      assert.equal(r.ifindex, 1, 'lo');
    });
  });

  it('dual stack: an AF_INET6 socket receives from an IPv4 sender (v4-mapped source, IPv4 local)', async () => {
    const rx = transport(6);
    const tx = transport(4, '127.0.0.1');
    const sizes = sizesOf(100);
    const { batch, slots } = outgoing(sizes);
    const dest = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(
      tx.sendBatch(
        batch,
        slots,
        sizes.map(() => dest),
        [],
        0,
        100,
      ),
      100,
    );
    const got = await receive(rx, 100);
    assert.equal(got.length, 100);
    const from = Endpoint.parse('127.0.0.1', tx.localPort);
    got.forEach((r, i) => {
      expectDatagram(r, i, sizes[i]);
      assert.equal(r.name.readUInt16LE(0), AF_INET6, 'the kernel reports a v4-mapped sockaddr_in6');
      assert.ok(from.matchesSockaddr(r.name, 0));
      assert.equal(r.from?.family, 4);
      assert.equal(r.localFamily, 4);
      assert.deepEqual([...r.local], [127, 0, 0, 1]);
    });
  });

  it('IPv6: 100 datagrams between dual-stack sockets on ::1', async () => {
    const rx = transport(6);
    const tx = transport(6, '::1');
    const sizes = sizesOf(100);
    const { batch, slots } = outgoing(sizes);
    const dest = Endpoint.parse('::1', rx.localPort);
    assert.equal(
      tx.sendBatch(
        batch,
        slots,
        sizes.map(() => dest),
        [],
        0,
        100,
      ),
      100,
    );
    const got = await receive(rx, 100);
    assert.equal(got.length, 100);
    const from = Endpoint.parse('::1', tx.localPort);
    got.forEach((r, i) => {
      expectDatagram(r, i, sizes[i]);
      assert.ok(from.matchesSockaddr(r.name, 0));
      assert.equal(r.localFamily, 6);
      assert.deepEqual([...r.local], [...Endpoint.parse('::1', 0).addr]);
    });
  });

  it('a dual-stack sender reaches IPv4 and IPv6 endpoints in one sendBatch', async () => {
    const rx4 = transport(4, '127.0.0.1');
    const rx6 = transport(6, '::1');
    const tx = transport(6);
    const sizes = sizesOf(40);
    const { batch, slots } = outgoing(sizes);
    const d4 = Endpoint.parse('127.0.0.1', rx4.localPort);
    const d6 = Endpoint.parse('::1', rx6.localPort);
    const dests = sizes.map((_, i) => (i % 3 === 0 ? d6 : d4));
    assert.equal(tx.sendBatch(batch, slots, dests, [], 0, 40), 40);
    const want4 = sizes.map((_, i) => i).filter((i) => i % 3 !== 0);
    const want6 = sizes.map((_, i) => i).filter((i) => i % 3 === 0);
    const got4 = await receive(rx4, want4.length);
    const got6 = await receive(rx6, want6.length);
    assert.equal(got4.length, want4.length);
    assert.equal(got6.length, want6.length);
    got4.forEach((r, j) => {
      expectDatagram(r, want4[j], sizes[want4[j]]);
      assert.equal(r.from?.key, `127.0.0.1:${tx.localPort}`);
    });
    got6.forEach((r, j) => {
      expectDatagram(r, want6[j], sizes[want6[j]]);
      assert.equal(r.from?.key, `[::1]:${tx.localPort}`);
    });
  });

  it('an AF_INET socket skips IPv6 endpoints and a refused datagram, and sends the rest', async () => {
    const rx = transport(4, '127.0.0.1');
    const tx = transport(4);
    const sizes = sizesOf(12);
    const { batch, slots } = outgoing(sizes);
    const d4 = Endpoint.parse('127.0.0.1', rx.localPort);
    const dests = sizes.map(() => d4);
    dests[3] = Endpoint.parse('::1', rx.localPort);
    dests[7] = Endpoint.parse('::1', rx.localPort);
    dests[5] = Endpoint.parse('255.255.255.255', rx.localPort); // EACCES: no SO_BROADCAST
    assert.equal(tx.sendBatch(batch, slots, dests, [], 0, 12), 9);
    assert.equal(tx.txUnreachable, 2);
    assert.equal(tx.txErrors, 1);
    assert.equal(tx.lastErrno, 13);
    assert.deepEqual([...tx.txStatus.subarray(0, 12)], [1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1]);
    const got = await receive(rx, 9);
    assert.deepEqual(
      got.map((r) => r.data.readUInt16BE(0)),
      [0, 1, 2, 4, 6, 8, 9, 10, 11],
    );
  });

  it('an IPv6-only socket skips IPv4 endpoints', () => {
    const fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
    assert.equal(setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1), 0);
    const sa = Buffer.alloc(28);
    sa.writeUInt16LE(AF_INET6, 0);
    assert.equal(bind(fd, sa, 28), 0);
    const t = UdpTransport.attach(fd, 4);
    track(t);
    assert.equal(t.v6Only, true);
    const { batch, slots } = outgoing([10]);
    assert.equal(t.sendBatch(batch, slots, [Endpoint.parse('127.0.0.1', 9)], [], 0, 1), 0);
    assert.equal(t.txUnreachable, 1);
  });

  it('sends more datagrams than its batch size in several sendmmsg calls', async () => {
    const rx = transport(4, '127.0.0.1');
    const tx = transport(4, '127.0.0.1', 16);
    const sizes = sizesOf(50);
    const { batch, slots } = outgoing(sizes);
    const dest = Endpoint.parse('127.0.0.1', rx.localPort);
    // Slots in reverse order: the slot index, not k, chooses the bytes.
    slots.reverse();
    assert.equal(
      tx.sendBatch(
        batch,
        slots,
        sizes.map(() => dest),
        [],
        0,
        50,
      ),
      50,
    );
    const got = await receive(rx, 50);
    assert.deepEqual(
      got.map((r) => r.data.readUInt16BE(0)),
      sizes.map((_, i) => 49 - i),
    );
  });

  it('a datagram bigger than its slot is delivered with length 0, the next one whole', async () => {
    const rx = transport(4, '127.0.0.1');
    const tx = transport(4, '127.0.0.1');
    const { batch, slots } = outgoing([1000, 100, 512, 513]);
    const dest = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(tx.sendBatch(batch, slots, [dest, dest, dest, dest], [], 0, 4), 4);
    const small = new PacketBatch(8, 512);
    const got = await receive(rx, 4, small);
    assert.deepEqual(
      got.map((r) => r.data.length),
      [0, 100, 512, 0],
    );
    expectDatagram(got[1], 1, 100);
    expectDatagram(got[2], 2, 512);
    assert.equal(rx.rxTruncated, 2);
  });

  it('recvBatch resets offsets moved by an earlier layer', async () => {
    const rx = transport(4, '127.0.0.1');
    const tx = transport(4, '127.0.0.1');
    const dest = Endpoint.parse('127.0.0.1', rx.localPort);
    const b = new PacketBatch(4, 2048);
    const { batch, slots } = outgoing([30, 40]);
    assert.equal(tx.sendBatch(batch, slots, [dest, dest], [], 0, 2), 2);
    assert.equal((await receive(rx, 2, b)).length, 2);
    b.offs[0] += 24;
    b.offs[1] -= 8;
    assert.equal(tx.sendBatch(batch, slots, [dest, dest], [], 0, 2), 2);
    const got = await receive(rx, 2, b);
    assert.equal(b.offs[0], b.dataStart(0));
    assert.equal(b.offs[1], b.dataStart(1));
    expectDatagram(got[0], 0, 30);
    expectDatagram(got[1], 1, 40);
  });
});

describe('UdpTransport source addresses', () => {
  it('sendBatch sends from the given IPv4 and IPv6 sources, and falls back when one is gone', async () => {
    const rx4 = transport(4);
    const rx6 = transport(6, '::1');
    const tx = transport(6);
    const stale: SourceAddress[] = [];
    tx.onStaleSource = (s) => stale.push(s);
    const { batch, slots } = outgoing([20, 21, 22, 23, 24]);
    const d4 = Endpoint.parse('127.0.0.1', rx4.localPort);
    const d6 = Endpoint.parse('::1', rx6.localPort);
    const v4a: SourceAddress = { family: 4, addr: Buffer.from([127, 0, 0, 3]) };
    const v4gone: SourceAddress = { family: 4, addr: Buffer.from([10, 255, 255, 1]) };
    const v6a: SourceAddress = { family: 6, addr: Endpoint.parse('::1', 0).addr };
    const v6gone: SourceAddress = { family: 6, addr: Endpoint.parse('fd00::dead', 0).addr };
    const srcs = [v4a, v4gone, undefined, v6a, v6gone];
    assert.equal(tx.sendBatch(batch, slots, [d4, d4, d4, d6, d6], srcs, 0, 5), 5);
    assert.deepEqual(stale, [v4gone, v6gone]);
    const got4 = await receive(rx4, 3);
    assert.deepEqual(
      got4.map((r) => r.from?.address),
      ['127.0.0.3', '127.0.0.1', '127.0.0.1'],
    );
    const got6 = await receive(rx6, 2);
    assert.deepEqual(
      got6.map((r) => r.from?.address),
      ['::1', '::1'],
    );
    expectDatagram(got6[1], 4, 24);
  });

  it('sendOne copies from any Buffer and honours a source address', async () => {
    const rx = transport(4);
    const tx = transport(4, '0.0.0.0');
    const stale: SourceAddress[] = [];
    tx.onStaleSource = (s) => stale.push(s);
    const msg = Buffer.from('xxcontrol-packetyy');
    const dest = Endpoint.parse('127.0.0.1', rx.localPort);
    assert.equal(tx.sendOne(msg, 2, 14, dest), true);
    const src: SourceAddress = { family: 4, addr: Buffer.from([127, 0, 0, 9]) };
    assert.equal(tx.sendOne(msg, 2, 14, dest, src), true);
    const gone: SourceAddress = { family: 4, addr: Buffer.from([10, 255, 255, 1]) };
    assert.equal(tx.sendOne(msg, 2, 14, dest, gone), true);
    assert.deepEqual(stale, [gone]);
    assert.equal(tx.sendOne(msg, 0, 4, Endpoint.parse('::1', 9)), false, 'IPv6 from an AF_INET socket');
    assert.equal(tx.sendOne(msg, 10, 14, dest), false, 'out of range');
    const got = await receive(rx, 3);
    assert.deepEqual(
      got.map((r) => r.data.toString()),
      ['control-packet', 'control-packet', 'control-packet'],
    );
    assert.deepEqual(
      got.map((r) => r.from?.address),
      ['127.0.0.1', '127.0.0.9', '127.0.0.1'],
    );
  });
});

describe('UdpTransport lifecycle', () => {
  it('onReadable fires when a datagram arrives', async () => {
    const rx = transport(6, '::1');
    const tx = transport(6, '::1');
    const batch = new PacketBatch(8, 2048);
    const got = new Promise<number>((resolve) => {
      rx.onReadable(() => {
        const n = rx.recvBatch(batch);
        if (n > 0) resolve(batch.lens[0]);
      });
    });
    assert.equal(tx.sendOne(Buffer.alloc(77, 1), 0, 77, Endpoint.parse('::1', rx.localPort)), true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<number>((r) => {
      timer = setTimeout(() => r(-1), 2000);
    });
    try {
      assert.equal(await Promise.race([got, timeout]), 77);
    } finally {
      clearTimeout(timer);
      rx.close();
    }
  });

  it('close is idempotent, closes the fd, and later calls fail softly', () => {
    const t = transport(4, '127.0.0.1');
    const fd = t.fd;
    t.onReadable(() => {});
    t.close();
    assert.equal(isOpen(fd), false);
    assert.equal(errno(), EBADF);
    t.close();
    assert.equal(t.closed, true);
    assert.equal(t.fd, -1);
    assert.equal(t.recvBatch(new PacketBatch(2, 2048)), -1);
    const { batch, slots } = outgoing([10]);
    assert.equal(t.sendBatch(batch, slots, [Endpoint.parse('127.0.0.1', 9)], [], 0, 1), 0);
    assert.equal(t.sendOne(Buffer.alloc(4), 0, 4, Endpoint.parse('127.0.0.1', 9)), false);
  });
});

describe('createUdpSocket', () => {
  it('binds dual-stack and IPv4 sockets, with SO_MARK', () => {
    const t6 = transport(6, undefined, 4, { mark: 77 });
    assert.equal(t6.mark, 77);
    assert.equal(t6.v6Only, false);
    const t4 = transport(4, '127.0.0.1', 4, { mark: 0xffffffff });
    assert.equal(t4.mark, 0xffffffff);
    const mapped = transport(6, '127.0.0.1');
    assert.equal(mapped.domain, 6);
  });

  it('reports a taken port as EADDRINUSE, and shares it with reuse', () => {
    const a = transport(4, '127.0.0.1');
    assert.throws(
      () => createUdpSocket({ family: 4, port: a.localPort, address: '127.0.0.1' }),
      (e: unknown) =>
        e instanceof OvpnError && e.code === 'EADDRINUSE' && /EADDRINUSE \(.+\)/.test(e.message),
    );
    const b = createUdpSocket({ family: 6, port: 0, reuse: true });
    const port = UdpTransport.attach(b, 1);
    track(port);
    const c = createUdpSocket({ family: 6, port: port.localPort, reuse: true });
    close(c);
  });

  it('refuses bad options', () => {
    assert.throws(() => createUdpSocket({ family: 4, port: 70000 }), /not a UDP port/);
    assert.throws(() => createUdpSocket({ family: 4, port: 0, address: '::1' }), /IPv4 socket/);
    assert.throws(() => createUdpSocket({ family: 4, port: 0, address: '203.0.113.1' }), /EADDRNOTAVAIL/);
  });

  it('a flooded receiver drains to EAGAIN', () => {
    const rx = transport(4, '127.0.0.1', 64);
    const tx = transport(4, '127.0.0.1', 64);
    const sizes = Array.from({ length: 256 }, () => 1400);
    const { batch, slots } = outgoing(sizes);
    const dest = Endpoint.parse('127.0.0.1', rx.localPort);
    const dests = sizes.map(() => dest);
    // Loopback delivery never blocks the sender: fill the receiver and check recv keeps working.
    let total = 0;
    for (let round = 0; round < 20; round++) total += tx.sendBatch(batch, slots, dests, [], 0, 256);
    assert.ok(total > 0);
    const b = new PacketBatch(64, 2048);
    let n = 0;
    let got = 0;
    for (n = rx.recvBatch(b); n > 0; n = rx.recvBatch(b)) got += n;
    assert.equal(n, 0);
    assert.equal(rx.lastErrno, EAGAIN);
    assert.ok(got > 0 && got <= total);
  });
});
