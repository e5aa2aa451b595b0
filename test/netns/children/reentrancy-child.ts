/**
 * Child of reentrancy.test.ts, run inside a fresh network namespace: an in-process OvpnApi with one MP
 * device and two UDP peers, whose control listener does what a control plane does at once — set
 * keepalive on a peer (which kicks the keepalive timer, and that may transmit) and answer with
 * control-send — while a batch of data and control datagrams is being received.
 *
 * The datagrams are queued on the socket before it is handed over, so that one receive batch holds
 * [DATA_V2 from peer 1, CONTROL, DATA_V2 from peer 1]. Peer 2's keepalive is due when the control packet
 * is handled (the manual clock was advanced past it). Prints one JSON line with what it saw; exits 0.
 * Uses only the public API, so it runs against any version of the data path.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { OvpnApi } from '../../../src/api/ovpn-api.js';
import { ManualClock } from '../../../src/clock/clock.js';
import { Endpoint } from '../../../src/net/endpoint.js';
import { createUdpSocket } from '../../../src/transport/udp-socket.js';

const KEY = Buffer.alloc(32, 0x11);
const TAIL = Buffer.alloc(8, 0x22);
const DEV_PORT = 41000;
const P1_PORT = 41001;
const P2_PORT = 41002;

/** A DATA_V2 packet from peer `id` with key-id 0 and packet-id `pktId` (AES-256-GCM), built with node:crypto. */
function dataV2(id: number, pktId: number, inner: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(((9 << 3) << 24) | id, 0);
  head.writeUInt32BE(pktId, 4);
  const nonce = Buffer.concat([head.subarray(4, 8), TAIL]);
  const c = createCipheriv('aes-256-gcm', KEY, nonce);
  c.setAAD(head);
  const ct = Buffer.concat([c.update(inner), c.final()]);
  return Buffer.concat([head, c.getAuthTag(), ct]);
}

/** An IPv4/UDP packet 10.99.0.2 -> 10.99.0.1 (peer 1's VPN address to the device's). */
function innerPacket(n: number): Buffer {
  const p = Buffer.alloc(28 + 4);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  Buffer.from([10, 99, 0, 2, 10, 99, 0, 1]).copy(p, 12);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  p.writeUInt16BE(5000, 20);
  p.writeUInt16BE(5001, 22);
  p.writeUInt16BE(12, 24);
  p.writeUInt32BE(n, 28);
  return p;
}

async function main(): Promise<void> {
  const clock = new ManualClock(0);
  const api = new OvpnApi({ clock });
  const seen: string[] = [];
  const controlRx: Buffer[] = [];
  const { ifindex } = api.devNew({ ifname: 'ovre0', mode: 1 });
  execFileSync('ip', ['link', 'set', 'ovre0', 'up']);
  execFileSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'ovre0']);
  const fd = createUdpSocket({ family: 4, port: DEV_PORT, address: '127.0.0.1' });

  // peer 1's side: sends the batch, and receives the answer to its control packet
  const p1 = createSocket('udp4');
  await new Promise<void>((r) => p1.bind(P1_PORT, '127.0.0.1', r));
  p1.on('message', (m) => controlRx.push(m));
  const control = Buffer.from([0x20, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0]); // P_CONTROL_V1, key-id 0
  const batch = [dataV2(1, 1, innerPacket(1)), control, dataV2(1, 2, innerPacket(2))];
  for (const d of batch) await new Promise<void>((r) => p1.send(d, DEV_PORT, '127.0.0.1', () => r()));
  await new Promise((r) => setTimeout(r, 200)); // all three wait on the socket

  api.subscribe((n) => seen.push(n.name));
  api.onControl((m) => {
    seen.push('control');
    // what a control plane does at once: keepalive on the peer (kicks the timer), then an answer
    api.peerSet({ ifindex, peer: { id: 1, 'keepalive-interval': 10, 'keepalive-timeout': 60 } });
    const ack = Buffer.from([0x28, 9, 9, 9, 9, 9, 9, 9, 9, 0]); // P_ACK_V1
    api.controlSend(ifindex, fd, Endpoint.parse(m['remote-addr'], m['remote-port']), ack);
  });

  const peer = (id: number, port: number, vpn: string) => ({
    ifindex,
    peer: {
      id,
      socket: fd,
      'remote-ipv4': '127.0.0.1',
      'remote-port': port,
      'vpn-ipv4': vpn,
      'keepalive-interval': 1,
      'keepalive-timeout': 60,
    },
  });
  const key = (id: number) => ({
    ifindex,
    keyconf: {
      'peer-id': id,
      slot: 0,
      'key-id': 0,
      'cipher-alg': 1,
      'encrypt-dir': { 'cipher-key': KEY.toString('hex'), 'nonce-tail': TAIL.toString('hex') },
      'decrypt-dir': { 'cipher-key': KEY.toString('hex'), 'nonce-tail': TAIL.toString('hex') },
    },
  });
  // all in one turn of the event loop: the socket is read only after this returns
  api.peerNew(peer(1, P1_PORT, '10.99.0.2'));
  api.peerNew(peer(2, P2_PORT, '10.99.0.3'));
  api.keyNew(key(1));
  api.keyNew(key(2));
  clock.advance(5000); // peer 2's keepalive is now due

  await new Promise((r) => setTimeout(r, 500));
  const p1Info = api.peerGet({ ifindex, peer: { id: 1 } }) as unknown as Record<string, unknown>;
  const out = {
    seen,
    vpnRxPackets: Number(p1Info['vpn-rx-packets']),
    linkRxPackets: Number(p1Info['link-rx-packets']),
    controlAnswers: controlRx.map((b) => b.toString('hex')),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  p1.close();
  api.close();
}

await main();
