/**
 * In-process demo of the data-channel core: a "client" and a "server" peer with fresh keys exchange
 * IPv4 packets through seal and open, one keepalive each way, then a forged and a replayed packet that
 * must be dropped; the rekey path is exercised by installing a secondary key and swapping on one side.
 * Prints per-peer stats and drops. No device, no socket: those come with the device layer.
 */
import { randomBytes } from 'node:crypto';
import { monotonicClock } from '../clock/clock.js';
import { CipherAlg } from '../crypto/cipher-alg.js';
import { DropCounters, DropReason } from '../datapath/drop-reason.js';
import { openPacket } from '../datapath/recv.js';
import { sealPacket } from '../datapath/xmit.js';
import { KeySlot } from '../keys/key-slot.js';
import { KeySlotName } from '../keys/key-state.js';
import { Peer } from '../peer/peer.js';
import { Stat } from '../peer/stats.js';
import { allocPinned, type PinnedBuffer } from '../sys/address.js';
import { DATA_V2_OVERHEAD, PAYLOAD_OFFSET } from '../wire/data-v2.js';
import { isKeepalive, KEEPALIVE_MESSAGE } from '../wire/keepalive.js';

interface Side {
  name: string;
  /** This side's view of the far end. */
  peer: Peer;
  drops: DropCounters;
}

/** Installs a fresh key pair (one key and nonce tail per direction) into both sides' `slot`. */
function installKeys(a: Side, b: Side, alg: number, keyId: number, slot: KeySlotName): void {
  const aToB = { cipherKey: randomBytes(32), nonceTail: randomBytes(8) };
  const bToA = { cipherKey: randomBytes(32), nonceTail: randomBytes(8) };
  a.peer.keys.install(slot, new KeySlot({ keyId, cipherAlg: alg, encrypt: aToB, decrypt: bToA }));
  b.peer.keys.install(slot, new KeySlot({ keyId, cipherAlg: alg, encrypt: bToA, decrypt: aToB }));
  for (const k of [aToB, bToA]) {
    k.cipherKey.fill(0);
    k.nonceTail.fill(0);
  }
}

/** Sends `payload` from `from` to `to` through the core; returns the wire bytes. */
function send(from: Side, to: Side, m: PinnedBuffer, payload: Buffer): Buffer | undefined {
  payload.copy(m.buf, PAYLOAD_OFFSET);
  const keepalive = isKeepalive(payload, 0, payload.length);
  if (!keepalive) from.peer.stats.addPacket(Stat.VPN_TX_BYTES, payload.length);
  const tx = sealPacket(from.peer, m.buf, m.addr, 0, payload.length, { keySwapNeeded: () => {} });
  if (tx !== DropReason.NONE) {
    from.drops.add(tx);
    return undefined;
  }
  const wireLen = payload.length + DATA_V2_OVERHEAD;
  from.peer.stats.addPacket(Stat.LINK_TX_BYTES, wireLen);
  from.peer.lastSentMs = monotonicClock.nowMs();
  const wire = Buffer.from(m.buf.subarray(0, wireLen));
  receive(to, m, wire);
  return wire;
}

function receive(to: Side, m: PinnedBuffer, wire: Buffer): void {
  wire.copy(m.buf, 0);
  const rx = openPacket(to.peer, m.buf, m.addr, 0, wire.length, monotonicClock.nowMs());
  if (rx !== DropReason.NONE) {
    to.drops.add(rx);
    return;
  }
  const len = wire.length - DATA_V2_OVERHEAD;
  if (isKeepalive(m.buf, PAYLOAD_OFFSET, len)) return;
  to.peer.stats.addPacket(Stat.VPN_RX_BYTES, len);
}

function ipv4(len: number, seq: number): Buffer {
  const b = randomBytes(len);
  b[0] = 0x45;
  b.writeUInt16BE(len, 2);
  b.writeUInt32BE(seq, 4);
  return b;
}

export function runInProcessDemo(packets = 10_000): void {
  const client: Side = { name: 'client', peer: new Peer(1, 1), drops: new DropCounters() };
  const server: Side = { name: 'server', peer: new Peer(1, 1), drops: new DropCounters() };
  const m = allocPinned(65536);
  installKeys(client, server, CipherAlg.AES_GCM, 0, KeySlotName.PRIMARY);

  const t0 = performance.now();
  let last: Buffer | undefined;
  for (let i = 0; i < packets; i++) {
    send(client, server, m, ipv4(1400, i));
    last = send(server, client, m, ipv4(1400, i));
  }
  const ms = performance.now() - t0;
  send(client, server, m, KEEPALIVE_MESSAGE);
  send(server, client, m, KEEPALIVE_MESSAGE);

  // Rekey: new key-id 1 in the secondary slot of both, swap on the client only. The server keeps
  // sending with key-id 0 and decrypts the client's key-id 1 from its secondary slot.
  installKeys(client, server, CipherAlg.CHACHA20_POLY1305, 1, KeySlotName.SECONDARY);
  client.peer.keys.swap();
  for (let i = 0; i < 100; i++) {
    send(client, server, m, ipv4(200, i));
    send(server, client, m, ipv4(200, i));
  }

  // Hostile input: a replay of an old packet and a forged one.
  if (last !== undefined) {
    receive(client, m, last);
    const forged = Buffer.from(last);
    forged[forged.length - 1] ^= 1;
    forged.writeUInt32BE(0x7fffffff, 4);
    receive(client, m, forged);
  }

  console.log(`ovpn-ts core demo: ${packets} x 1400-byte packets each way in ${ms.toFixed(0)} ms`);
  console.log('(seal + open of both directions, one thread; no device or socket yet)\n');
  for (const s of [client, server]) {
    const st = s.peer.stats.snapshot();
    console.log(`${s.name}: peer ${s.peer.id}, primary key-id ${s.peer.keys.primary()?.keyId}`);
    for (const [k, v] of Object.entries(st)) console.log(`  ${k.padEnd(16)} ${v}`);
    console.log(`  drops            ${JSON.stringify(s.drops.toJSON())}`);
  }
  client.peer.release(1);
  server.peer.release(1);
  m.buf.fill(0);
}
