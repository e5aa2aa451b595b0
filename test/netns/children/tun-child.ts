/**
 * Child of test/netns/tun.test.ts, run inside a namespace: owns TUN devices and does what the test
 * asks over the RPC of rpc.ts. Packets travel as hex strings.
 */
import { PacketBatch } from '../../../src/batch/packet-batch.js';
import { createTun } from '../../../src/tun/index.js';
import type { TunDevice } from '../../../src/tun/tun.js';
import { serveRpc } from './rpc.js';

const devices = new Map<string, TunDevice>();
/** Packets read by the onReadable handler, per device, until `awaitRead` takes them. */
const queues = new Map<string, string[]>();
const waiters = new Map<string, () => void>();
const readableCalls = new Map<string, number>();

function dev(name: string): TunDevice {
  const d = devices.get(name);
  if (!d) throw new Error(`no device ${name}`);
  return d;
}

function packetsOf(batch: PacketBatch, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(batch.mem.buf.toString('hex', batch.offs[i], batch.offs[i] + batch.lens[i]));
  return out;
}

serveRpc(
  {
    create(name: string, mtu?: number) {
      const d = createTun(name, mtu === undefined ? undefined : { mtu });
      devices.set(d.name, d);
      return { name: d.name, ifindex: d.ifindex, fd: d.fd };
    },
    /** One readBatch call with a fresh batch of `size` slots. */
    readNow(name: string, size: number) {
      const batch = new PacketBatch(size, 2048);
      const n = dev(name).readBatch(batch);
      return { n, count: batch.count, packets: packetsOf(batch, Math.max(n, 0)) };
    },
    /** Registers onReadable: the handler drains the device into a queue. */
    listen(name: string) {
      const d = dev(name);
      const batch = new PacketBatch(8, 2048);
      queues.set(name, []);
      d.onReadable(() => {
        readableCalls.set(name, (readableCalls.get(name) ?? 0) + 1);
        for (;;) {
          const n = d.readBatch(batch);
          if (n <= 0) break;
          queues.get(name)?.push(...packetsOf(batch, n));
        }
        waiters.get(name)?.();
      });
      return null;
    },
    /** Packets queued by the onReadable handler, waiting up to `timeoutMs` for at least one. */
    async awaitRead(name: string, timeoutMs: number) {
      const q = queues.get(name);
      if (!q) throw new Error(`not listening on ${name}`);
      if (q.length === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          waiters.set(name, () => {
            clearTimeout(t);
            resolve();
          });
        });
        waiters.delete(name);
      }
      return { packets: q.splice(0), readableCalls: readableCalls.get(name) ?? 0 };
    },
    /** writeBatch of the given packets (slots in reverse order, to exercise the slot list). */
    write(name: string, hex: string[]) {
      const batch = new PacketBatch(Math.max(hex.length, 1), 2048);
      const slots = new Uint16Array(hex.length);
      hex.forEach((h, i) => {
        const p = Buffer.from(h, 'hex');
        p.copy(batch.mem.buf, batch.dataStart(i));
        batch.lens[i] = p.length;
        slots[hex.length - 1 - i] = i;
      });
      batch.count = hex.length;
      const status = new Uint8Array(hex.length);
      const written = dev(name).writeBatch(batch, slots, hex.length, status);
      // the per-slot status agrees with the count
      if (status.reduce((a, b) => a + b, 0) !== written) throw new Error('writeBatch status disagrees');
      return written;
    },
    carrier(name: string, on: boolean) {
      dev(name).setCarrier(on);
      return null;
    },
    close(name: string) {
      const d = dev(name);
      d.close();
      d.close(); // idempotent
      devices.delete(name);
      // After close: reads report the device gone, writes write nothing, carrier is a no-op.
      const batch = new PacketBatch(1, 2048);
      return {
        readAfterClose: d.readBatch(batch),
        writeAfterClose: d.writeBatch(batch, new Uint16Array(1), 1, new Uint8Array(1)),
      };
    },
  },
  () => {
    for (const d of devices.values()) d.close();
  },
);
