/**
 * Per-batch scratch of the pipelines, allocated once per device and sized to its batch: which slots
 * survived so far, and for each its peer (and on TX its destination and source address). Entries are
 * cleared as they are consumed, so that nothing holds a peer past its batch. The data path owns one
 * for TX, one for RX, and a one-entry one for keepalives, so that no pipeline ever reads another's.
 */
import type { Endpoint, LocalAddress } from '../net/endpoint.js';
import type { Peer } from '../peer/peer.js';

export class RxScratch {
  readonly slots: Uint16Array;
  readonly peers: (Peer | undefined)[];
  /** Per position of the TUN write: 1 written, 0 refused. */
  readonly written: Uint8Array;

  constructor(size: number) {
    this.slots = new Uint16Array(size);
    this.peers = new Array<Peer | undefined>(size).fill(undefined);
    this.written = new Uint8Array(size);
  }
}

export class TxScratch {
  readonly slots: Uint16Array;
  readonly peers: (Peer | undefined)[];
  readonly dests: (Endpoint | undefined)[];
  /** The local address to send from (the peer's), or undefined to let routing choose. */
  readonly srcs: (LocalAddress | undefined)[];

  constructor(size: number) {
    this.slots = new Uint16Array(size);
    this.peers = new Array<Peer | undefined>(size).fill(undefined);
    this.dests = new Array<Endpoint | undefined>(size).fill(undefined);
    this.srcs = new Array<LocalAddress | undefined>(size).fill(undefined);
  }

  /** Records entry k: slot `slot` sealed for `peer`. */
  set(k: number, slot: number, peer: Peer): void {
    this.slots[k] = slot;
    this.peers[k] = peer;
    this.dests[k] = peer.remote;
    this.srcs[k] = peer.local;
  }

  clear(k: number): void {
    this.peers[k] = undefined;
    this.dests[k] = undefined;
    this.srcs[k] = undefined;
  }

  swap(a: number, b: number): void {
    const s = this.slots[a];
    this.slots[a] = this.slots[b];
    this.slots[b] = s;
    const p = this.peers[a];
    this.peers[a] = this.peers[b];
    this.peers[b] = p;
    const d = this.dests[a];
    this.dests[a] = this.dests[b];
    this.dests[b] = d;
    const l = this.srcs[a];
    this.srcs[a] = this.srcs[b];
    this.srcs[b] = l;
  }
}
