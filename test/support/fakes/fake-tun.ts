/**
 * An in-memory TUN (in the spirit of wireguard-go's tuntest): what an application "writes" into the
 * interface is injected with `inject` (the readable callback fires, `readBatch` hands the packets to
 * the data path), and what the data path writes is collected in `written` for assertions. Writes can
 * be refused (all, or by predicate) so that RX_DEVICE accounting is testable; carrier changes are
 * recorded; after `close` reads return -1 and writes are refused.
 */
import type { PacketBatch } from '../../../src/batch/packet-batch.js';
import type { TunDevice } from '../../../src/tun/tun.js';
import type { TunOptions } from '../../../src/tun/tun-linux.js';

let nextIfindex = 7000;

export class FakeTun implements TunDevice {
  readonly name: string;
  readonly ifindex: number;
  readonly fd = -1;
  /** Packets the "application" wrote and the data path has not read yet. */
  readonly inbound: Buffer[] = [];
  /** Copies of every packet the data path wrote and the TUN took, in order. */
  readonly written: Buffer[] = [];
  /** Packets the TUN refused (copies). */
  readonly refused: Buffer[] = [];
  /** Refuse every write (true) or those the predicate picks. */
  refuseWrites: boolean | ((pkt: Buffer) => boolean) = false;
  /** Every setCarrier call, in order. */
  readonly carrierLog: boolean[] = [];
  /** Calls of writeBatch (one per RX batch that reached the TUN). */
  writeCalls = 0;
  /** Called after every writeBatch with the packets taken (tests hook assertions here). */
  onWrite: ((pkts: Buffer[]) => void) | undefined;
  closed = false;
  private readable: (() => void) | undefined;

  constructor(
    name: string,
    readonly opts: TunOptions = {},
  ) {
    this.name = name;
    this.ifindex = nextIfindex++;
  }

  get carrier(): boolean {
    return this.carrierLog.length > 0 && this.carrierLog[this.carrierLog.length - 1];
  }

  /** The application writes `pkts` (copied); the readable callback fires once (unless `quiet`). */
  inject(pkts: readonly Buffer[], quiet = false): void {
    for (const p of pkts) this.inbound.push(Buffer.from(p));
    if (!quiet) this.poll();
  }

  /** Fires the readable callback if packets are waiting (as the event loop would). */
  poll(): void {
    if (this.inbound.length > 0 && !this.closed) this.readable?.();
  }

  /** Returns and forgets what was written so far. */
  takeWritten(): Buffer[] {
    return this.written.splice(0);
  }

  readBatch(batch: PacketBatch): number {
    if (this.closed) return -1;
    const n = Math.min(batch.size, this.inbound.length);
    for (let i = 0; i < n; i++) {
      const p = this.inbound.shift()!;
      const at = batch.dataStart(i);
      p.copy(batch.mem.buf, at);
      batch.offs[i] = at;
      batch.lens[i] = p.length;
    }
    batch.count = n;
    return n;
  }

  writeBatch(batch: PacketBatch, slots: Uint16Array, n: number, status: Uint8Array): number {
    this.writeCalls++;
    let w = 0;
    const taken: Buffer[] = [];
    for (let j = 0; j < n; j++) {
      const s = slots[j];
      const pkt = Buffer.from(batch.mem.buf.subarray(batch.offs[s], batch.offs[s] + batch.lens[s]));
      const r = this.refuseWrites;
      if (this.closed || r === true || (typeof r === 'function' && r(pkt))) {
        status[j] = 0;
        this.refused.push(pkt);
        continue;
      }
      status[j] = 1;
      this.written.push(pkt);
      taken.push(pkt);
      w++;
    }
    this.onWrite?.(taken);
    return w;
  }

  setCarrier(on: boolean): void {
    this.carrierLog.push(on);
  }

  onReadable(cb: () => void): void {
    this.readable = cb;
  }

  close(): void {
    this.closed = true;
  }
}

/** A `createTun` for OvpnDevice/OvpnApi that makes FakeTuns and remembers them by name. */
export class FakeTunFactory {
  readonly tuns = new Map<string, FakeTun>();
  readonly create = (name: string, opts: TunOptions): FakeTun => {
    const t = new FakeTun(name, opts);
    this.tuns.set(name, t);
    return t;
  };

  get(name: string): FakeTun {
    const t = this.tuns.get(name);
    if (t === undefined) throw new Error(`no fake TUN ${name}`);
    return t;
  }
}
