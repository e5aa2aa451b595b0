/**
 * The Linux TUN device, inside a namespace: creation (name, ifindex, MTU, link left down), name and
 * MTU errors, batched reads of real pings, writes answering a ping, RX counting, carrier, close.
 * The device lives in a child process running in the namespace (children/tun-child.ts).
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { RpcClient, RpcError } from './children/rpc.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'children', 'tun-child.js');
const DEV = 'ovt1t0';
const LOCAL = '10.99.1.1';
const PEER = '10.99.1.2';

interface Created {
  name: string;
  ifindex: number;
  fd: number;
}
interface ReadResult {
  n: number;
  count: number;
  packets: string[];
}

function checksum(b: Buffer, start: number, end: number): number {
  let s = 0;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) & 1) s += b[end - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** The ICMP echo request in `hex` (IPv4), or undefined when it is something else. */
function echoRequest(hex: string): { pkt: Buffer; seq: number; dst: string } | undefined {
  const pkt = Buffer.from(hex, 'hex');
  if (pkt.length < 28 || pkt[0] >> 4 !== 4 || pkt[9] !== 1) return undefined;
  const ihl = (pkt[0] & 0x0f) * 4;
  if (pkt[ihl] !== 8) return undefined;
  return { pkt, seq: pkt.readUInt16BE(ihl + 6), dst: [...pkt.subarray(16, 20)].join('.') };
}

/** Turns an echo request into the matching echo reply. */
function echoReply(req: Buffer): Buffer {
  const p = Buffer.from(req);
  const ihl = (p[0] & 0x0f) * 4;
  req.copy(p, 12, 16, 20);
  req.copy(p, 16, 12, 16);
  p[ihl] = 0;
  p.writeUInt16BE(0, ihl + 2);
  p.writeUInt16BE(checksum(p, ihl, p.length), ihl + 2);
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(checksum(p, 0, ihl), 10);
  return p;
}

async function rejectsWith(p: Promise<unknown>, code: string, attr?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.code, code, e.message);
    if (attr !== undefined) assert.equal(e.attr, attr);
    return true;
  });
}

describe('TUN device (netns)', { skip: canUseNetns() ? false : 'needs root' }, () => {
  let lab: NetnsLab;
  let ns: string;
  let rpc: RpcClient;
  let created: Created;

  const linkShow = (name = DEV): string => lab.exec(ns, 'ip', ['-o', 'link', 'show', 'dev', name]);
  const rxPackets = (): number => {
    const j = JSON.parse(lab.exec(ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', DEV])) as {
      stats64: { rx: { packets: number } };
    }[];
    return j[0].stats64.rx.packets;
  };

  before(async () => {
    lab = new NetnsLab('ovt1t');
    ns = lab.ns('tun');
    rpc = new RpcClient(lab.spawn(ns, process.execPath, [script]));
    await rpc.ready();
  });

  after(async () => {
    await rpc?.end();
    await lab?.cleanup();
    assert.deepEqual(lab?.leftovers() ?? [], []);
  });

  it('creates the interface with its ifindex and MTU, and leaves the link down', async () => {
    created = await rpc.call<Created>('create', DEV, 1400);
    assert.equal(created.name, DEV);
    assert.ok(created.fd >= 0);
    const line = linkShow();
    assert.match(line, new RegExp(`^${created.ifindex}: ${DEV}: <`));
    assert.match(line, / mtu 1400 /);
    assert.doesNotMatch(line, /[<,]UP[,>]/);
    assert.match(line, /POINTOPOINT/);
  });

  it('uses the default MTU 1416 and reports the name the kernel picked for %d', async () => {
    const d = await rpc.call<Created>('create', 'ovt1p%d');
    assert.match(d.name, /^ovt1p\d+$/);
    assert.match(linkShow(d.name), / mtu 1416 /);
    await rpc.call('close', d.name);
  });

  it('accepts MTUs 68 and 65451 and rejects values outside them', async () => {
    for (const mtu of [67, 65452, 0, -1, 1400.5])
      await rejectsWith(rpc.call('create', 'ovt1m', mtu), 'EINVAL', 'mtu');
    const r = await lab.run(ns, 'ip', ['link', 'show', 'dev', 'ovt1m']);
    assert.notEqual(r.code, 0, 'a refused MTU must not leave a device behind');
    for (const mtu of [68, 65451]) {
      const d = await rpc.call<Created>('create', 'ovt1m', mtu);
      assert.match(linkShow(d.name), new RegExp(` mtu ${mtu} `));
      await rpc.call('close', d.name);
    }
  });

  it('refuses bad names and names already in use', async () => {
    await rejectsWith(rpc.call('create', ''), 'EINVAL', 'ifname');
    await rejectsWith(rpc.call('create', 'a'.repeat(16)), 'EINVAL', 'ifname');
    await rejectsWith(rpc.call('create', 'a/b'), 'EINVAL', 'ifname');
    await rejectsWith(rpc.call('create', 'lo'), 'EEXIST', 'ifname');
    await rejectsWith(rpc.call('create', DEV), 'EEXIST', 'ifname');
    assert.match(linkShow(), / mtu 1400 /, 'the existing device is untouched');
  });

  it('answers EPERM without CAP_NET_ADMIN', async () => {
    const child = lab.spawn(ns, 'setpriv', [
      '--inh-caps=-net_admin',
      '--bounding-set=-net_admin',
      '--',
      process.execPath,
      script,
    ]);
    const weak = new RpcClient(child);
    try {
      await weak.ready();
      await rejectsWith(weak.call('create', 'ovt1e'), 'EPERM');
    } finally {
      await weak.end();
    }
  });

  it('reads queued packets in batches until EAGAIN or the batch is full', async () => {
    lab.exec(ns, 'sysctl', ['-q', '-w', `net.ipv6.conf.${DEV}.disable_ipv6=1`]);
    lab.exec(ns, 'ip', ['addr', 'add', `${LOCAL}/24`, 'dev', DEV]);
    lab.exec(ns, 'ip', ['link', 'set', DEV, 'up']);
    for (let i = 0; i < 10 && (await rpc.call<ReadResult>('readNow', DEV, 64)).n > 0; i++);
    // Nobody reads the device while ping runs: its three requests wait in the TUN queue.
    const ping = await lab.run(ns, 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', PEER]);
    assert.notEqual(ping.code, 0, 'nobody answered, so ping must fail');
    const a = await rpc.call<ReadResult>('readNow', DEV, 2);
    const b = await rpc.call<ReadResult>('readNow', DEV, 2);
    const c = await rpc.call<ReadResult>('readNow', DEV, 2);
    assert.deepEqual([a.n, a.count, b.n, b.count, c.n, c.count], [2, 2, 1, 1, 0, 0]);
    const reqs = [...a.packets, ...b.packets].map(echoRequest);
    assert.deepEqual(
      reqs.map((r) => r?.seq),
      [1, 2, 3],
    );
    for (const r of reqs) assert.equal(r?.dst, PEER);
  });

  it('wakes the onReadable callback and lets a written echo reply complete a ping', async () => {
    await rpc.call('listen', DEV);
    const ping = lab.run(ns, 'ping', ['-n', '-c', '1', '-W', '5', PEER]);
    let req: ReturnType<typeof echoRequest>;
    let readableCalls = 0;
    for (let i = 0; i < 5 && !req; i++) {
      const got = await rpc.call<{ packets: string[]; readableCalls: number }>('awaitRead', DEV, 2000);
      req = got.packets.map(echoRequest).find((r) => r !== undefined);
      readableCalls = got.readableCalls;
    }
    assert.ok(req, 'the echo request arrived');
    assert.ok(readableCalls >= 1, 'through the onReadable callback');
    assert.equal(await rpc.call<number>('write', DEV, [echoReply(req.pkt).toString('hex')]), 1);
    const res = await ping;
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /1 received/);
  });

  it('counts written packets in the link RX statistics and skips non-IP packets', async () => {
    const before = rxPackets();
    // Echo replies nobody waits for: counted in RX, then quietly dropped by ICMP.
    const reply = (seq: number): string => {
      const req = Buffer.alloc(28);
      req[0] = 0x45;
      req.writeUInt16BE(28, 2);
      req[8] = 64;
      req[9] = 1;
      Buffer.from([10, 99, 1, 1]).copy(req, 12);
      Buffer.from([10, 99, 1, 2]).copy(req, 16);
      req[20] = 8;
      req.writeUInt16BE(0x4242, 24);
      req.writeUInt16BE(seq, 26);
      return echoReply(req).toString('hex');
    };
    const junk = Buffer.alloc(40, 0).toString('hex');
    assert.equal(await rpc.call<number>('write', DEV, [reply(100), junk, reply(101)]), 2);
    assert.equal(rxPackets() - before, 2);
  });

  it('switches the carrier on and off', async () => {
    await rpc.call('carrier', DEV, false);
    assert.match(linkShow(), /NO-CARRIER/);
    await rpc.call('carrier', DEV, true);
    const line = linkShow();
    assert.doesNotMatch(line, /NO-CARRIER/);
    assert.match(line, /LOWER_UP/);
  });

  it('close is idempotent and removes the interface', async () => {
    const r = await rpc.call<{ readAfterClose: number; writeAfterClose: number }>('close', DEV);
    assert.deepEqual(r, { readAfterClose: -1, writeAfterClose: 0 });
    const show = await lab.run(ns, 'ip', ['link', 'show', 'dev', DEV]);
    assert.notEqual(show.code, 0);
  });
});
