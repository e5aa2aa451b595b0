/**
 * UdpTransport on loopback for the transport tests (udp.test.ts, udp-gso.test.ts): transports on
 * fresh sockets, batches of tagged datagrams, and a receive loop that copies what arrived out of the
 * batch and checks the batch's bookkeeping on the way.
 */
import assert from 'node:assert/strict';
import { PacketBatch } from '../../src/batch/packet-batch.js';
import { Endpoint } from '../../src/net/endpoint.js';
import { createUdpSocket, UdpTransport, type UdpTransportOptions } from '../../src/transport/index.js';

const open: { close(): void }[] = [];

/** Closes `t` with the others when the tests end. */
export function track<T extends { close(): void }>(t: T): T {
  open.push(t);
  return t;
}

/** Closes every transport made by `transport` or given to `track` (call from an `after` hook). */
export function closeTransports(): void {
  for (const t of open.splice(0)) t.close();
}

/** A transport on a fresh socket bound to `address` (or the wildcard) on an ephemeral port. */
export function transport(
  family: 4 | 6,
  address?: string,
  batchSize = 64,
  opts: UdpTransportOptions & { mark?: number } = {},
): UdpTransport {
  const t = UdpTransport.attach(
    createUdpSocket({ family, port: 0, address, mark: opts.mark }),
    batchSize,
    opts,
  );
  open.push(t);
  return t;
}

/** A datagram's bytes: its tag (2 bytes), then a pattern of tag and size. */
export function fill(buf: Buffer, off: number, tag: number, size: number): void {
  for (let j = 0; j < size; j++) buf[off + j] = (tag * 7 + j) & 0xff;
  if (size >= 2) buf.writeUInt16BE(tag, off);
}

/** The bytes `fill` writes for datagram `tag` of `size` bytes. */
export function expected(tag: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  fill(b, 0, tag, size);
  return b;
}

/** A batch holding datagram k (tagged `tag0 + k`) in slot k. */
export function outgoing(
  sizes: number[],
  tag0 = 0,
  slotSize = 2048,
): { batch: PacketBatch; slots: Uint16Array } {
  const batch = new PacketBatch(sizes.length, slotSize);
  const slots = new Uint16Array(sizes.length);
  sizes.forEach((size, k) => {
    fill(batch.mem.buf, batch.offs[k], tag0 + k, size);
    batch.lens[k] = size;
    slots[k] = k;
  });
  return { batch, slots };
}

export interface Received {
  data: Buffer;
  from: Endpoint | undefined;
  /** The raw source sockaddr (28 bytes). */
  name: Buffer;
  localFamily: number;
  local: Buffer;
  ifindex: number;
}

/**
 * Receives until `want` datagrams arrived (or 2 s passed), checking the batch's bookkeeping (count,
 * one datagram per slot at its data start).
 */
export async function receive(
  t: UdpTransport,
  want: number,
  batch = new PacketBatch(64, 2048),
): Promise<Received[]> {
  const got: Received[] = [];
  const deadline = Date.now() + 2000;
  while (got.length < want && Date.now() < deadline) {
    const n = t.recvBatch(batch);
    assert.ok(n >= 0, `recvBatch failed, errno ${t.lastErrno}`);
    assert.ok(n <= Math.min(batch.size, t.batchSize));
    assert.equal(batch.count, n);
    if (n === 0) {
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    for (let i = 0; i < n; i++) {
      assert.equal(batch.offs[i], batch.dataStart(i), 'each datagram in its own slot');
      const fam = t.localFamily[i];
      got.push({
        data: Buffer.from(batch.mem.buf.subarray(batch.offs[i], batch.offs[i] + batch.lens[i])),
        from: Endpoint.fromSockaddr(t.names, t.nameOffset(i)),
        name: Buffer.from(t.names.subarray(t.nameOffset(i), t.nameOffset(i) + 28)),
        localFamily: fam,
        local: Buffer.from(t.localAddr.subarray(i * 16, i * 16 + (fam === 6 ? 16 : 4))),
        ifindex: t.localIfindex[i],
      });
    }
  }
  return got;
}
