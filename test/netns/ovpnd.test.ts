/**
 * ovpnd itself (issue 5): started on demand per network namespace, root only, robust against clients
 * that send garbage, oversized messages or fds with the wrong request, or that vanish; socket handover
 * by SCM_RIGHTS with control packets going back to the connection that handed the socket over (UDP and
 * TCP), the connection's close acting as the socket's close; and the daemon's exits (idle, netns deleted).
 * The precheck and error-code suite runs through the daemon in api-ovpnd.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Notification } from '../../src/api/messages.js';
import { OvpndClient, OvpndError } from '../../src/client/ovpnd-client.js';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { OVPND_SOCKET } from '../../src/mgmt/protocol.js';
import { close } from '../../src/sys/libc.js';
import { inNetns } from '../../src/sys/netns.js';
import { MAX_MESSAGE, recvMessage, sendMessage, seqpacketConnect } from '../../src/sys/unix-seqpacket.js';
import { tcpAccept, tcpConnect, tcpListen } from '../../src/transport/tcp-socket.js';
import { createUdpSocket } from '../../src/transport/udp-socket.js';
import { repoRoot } from '../support/repo.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client that speaks the wire protocol by hand, to send what the library never would. */
class RawConn {
  readonly fd: number;
  constructor(ns: string) {
    this.fd = inNetns(ns, () => seqpacketConnect(OVPND_SOCKET));
  }
  send(m: unknown, fds: number[] = []): void {
    const b = Buffer.isBuffer(m) ? m : Buffer.from(JSON.stringify(m));
    assert.ok(sendMessage(this.fd, b, fds), 'the daemon socket was full');
  }
  /** The next message, parsed; 'eof' when the daemon closed the connection. */
  async next(timeoutMs = 5000): Promise<Record<string, unknown> | 'eof'> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = recvMessage(this.fd);
      if (r.kind === 'message') {
        for (const f of r.fds) close(f);
        return JSON.parse(r.data.toString()) as Record<string, unknown>;
      }
      if (r.kind === 'eof') return 'eof';
      if (Date.now() > end) throw new Error('no message from ovpnd');
      await sleep(10);
    }
  }
  close(): void {
    close(this.fd);
  }
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSafe(`/proc/${pid}/stat`).includes(') Z');
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Waits until process `pid` is gone; throws if it still runs after `ms`. */
async function waitGone(pid: number, ms: number): Promise<void> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) throw new Error(`ovpnd ${pid} still runs after ${ms} ms`);
    await sleep(50);
  }
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Collects a client's notifications and lets a test wait for them. */
function collect(c: OvpndClient): { list: Notification[]; wait: (n: number, ms?: number) => Promise<void> } {
  const list: Notification[] = [];
  c.onNotification((n) => list.push(n));
  return {
    list,
    wait: async (n, ms = 5000) => {
      const end = Date.now() + ms;
      while (list.length < n) {
        if (Date.now() > end) throw new Error(`expected ${n} notifications, got ${JSON.stringify(list)}`);
        await sleep(20);
      }
    },
  };
}

/** Runs python3 in `ns` with `code`; returns stdout. */
function py(lab: NetnsLab, ns: string, code: string): string {
  return lab.exec(ns, 'python3', ['-c', code], 20_000);
}

describe('ovpnd', { skip }, () => {
  const lab = new NetnsLab('ovdm');
  const clients: OvpndClient[] = [];
  const fds: number[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const fd of fds) close(fd);
    await lab.cleanup();
  });
  const connect = async (ns: string, start = false) => {
    const c = await OvpndClient.connect({ netns: ns, start });
    clients.push(c);
    return c;
  };

  it('starts on demand in its own namespace and exits when it has neither devices nor clients', async () => {
    const ns = lab.ns('idle');
    const other = lab.ns('other');
    await assert.rejects(connect(ns), /no ovpnd runs/);
    const c = await connect(ns, true);
    const info = await c.daemonInfo();
    assert.equal(info.netns, ns);
    assert.equal(info.clients, 1);
    // every namespace has its own daemon socket: none answers in `other`
    await assert.rejects(connect(other), /no ovpnd runs/);
    // a second daemon in the same namespace refuses to start
    const second = spawnSync('ip', ['netns', 'exec', ns, `${repoRoot()}/bin/ovpnd`, '--quiet'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, /already serves/);

    const { ifindex } = await c.devNew({ ifname: 'keep0', mode: 'p2p' });
    c.close();
    await sleep(1000);
    assert.ok(alive(info.pid), 'a daemon with a device must keep running without clients');
    const c2 = await connect(ns);
    assert.deepEqual(await c2.devList(), [{ ifindex, ifname: 'keep0', mode: 'p2p' }]);
    await c2.devDel({ ifname: 'keep0' });
    assert.ok(alive(info.pid), 'a daemon with a client must keep running without devices');
    c2.close();
    await waitGone(info.pid, 3000); // throws if it is still there
  });

  it('refuses clients that are not root, and keeps serving root', async () => {
    const ns = lab.ns('perm');
    const c = await connect(ns, true);
    await c.devNew({ ifname: 'perm0', mode: 'mp' });
    const out = py(
      lab,
      ns,
      `import os, socket
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(b"\\0${OVPND_SOCKET}")
s.send(b'{"op": "dev-del", "msg": {"ifname": "perm0"}, "seq": 1}')
print(s.recv(65536).decode()); print(s.recv(65536).decode())`,
    );
    const replies = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { error: { code: string }; seq?: number });
    assert.deepEqual(
      replies.map((r) => r.error.code),
      ['EPERM', 'EPERM'],
      'the greeting and the request are both refused',
    );
    assert.equal((await c.devList()).length, 1, 'the refused request must not have run');
  });

  it('clients refuse a daemon socket that does not belong to root', async () => {
    const ns = lab.ns('fake');
    // an unprivileged process grabs the daemon's name first
    const squatter = lab.spawn(ns, 'python3', [
      '-c',
      `import os, socket, time
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(b"\\0${OVPND_SOCKET}"); s.listen(8)
print("bound", flush=True)
time.sleep(30)`,
    ]);
    await new Promise<void>((resolve) => squatter.stdout?.once('data', () => resolve()));
    await assert.rejects(connect(ns, true), /belongs to uid 65534/);
    squatter.kill('SIGKILL');
  });

  it('survives garbage, oversized messages, fds sent with the wrong request and clients that vanish', async () => {
    const ns = lab.ns('junk');
    const c = await connect(ns, true);
    await c.subscribe();
    const ntf = collect(c);
    const { ifindex } = await c.devNew({ ifname: 'junk0', mode: 'mp' });
    const pid = (await c.daemonInfo()).pid;
    const fdsBefore = openFds(pid);

    const raw = new RawConn(ns);
    const bad: [Buffer | unknown, string][] = [
      [Buffer.from('{"op": "dev-list", '), 'EINVAL'], // cut short
      [Buffer.from([0xff, 0xfe, 0x00, 0x41]), 'EINVAL'], // not even UTF-8 text
      [Buffer.from('[1, 2, 3]'), 'EINVAL'],
      [Buffer.from('null'), 'EINVAL'],
      [{ op: 42 }, 'EOPNOTSUPP'],
      [{ op: 'format-disk' }, 'EOPNOTSUPP'],
      [{ op: 'peer-get', msg: 'peer 1' }, 'EINVAL'],
      [{ op: 'peer-get', msg: { ifindex, peer: { id: 'one' } } }, 'EINVAL'],
      [{ op: 'dev-new', msg: { ifname: { toString: 1 }, mode: 'mp' } }, 'EINVAL'],
      [{ op: '__proto__' }, 'EOPNOTSUPP'],
      [{ op: '"'.repeat(100_000) }, 'EOPNOTSUPP'], // quoted back in the error, which must stay small
    ];
    for (const [m, code] of bad) {
      raw.send(m);
      const r = await raw.next();
      assert.notEqual(r, 'eof');
      assert.equal((r as { error: { code: string } }).error.code, code, `reply to ${String(m).slice(0, 40)}`);
    }
    // larger than the protocol allows (our own library refuses to send it: python does)
    const oversized = py(
      lab,
      ns,
      `import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.setsockopt(socket.SOL_SOCKET, 32, 4 << 20)  # SO_SNDBUFFORCE
s.connect(b"\\0${OVPND_SOCKET}")
s.send(b" " * ${MAX_MESSAGE + 100})
s.send(b'{"op": "dev-list", "seq": 2}')
print(s.recv(65536).decode()); print(s.recv(65536).decode())`,
    );
    const [tooBig, after] = oversized
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { error?: { code: string }; seq?: number });
    assert.equal(tooBig.error?.code, 'EMSGSIZE');
    assert.equal(after.seq, 2, 'the connection must survive an oversized message');
    // fds may only come with peer-new: refused, and the daemon closes them
    const u = inNetns(ns, () => createUdpSocket({ family: 4, port: 0, reuse: true }));
    fds.push(u);
    raw.send({ op: 'dev-list', seq: 5 }, [u, u, u]);
    const r = await raw.next();
    assert.equal((r as { error: { code: string } }).error.code, 'EINVAL');
    // the library refuses a request too large to send, and only that request
    await assert.rejects(
      c.request('dev-list', { pad: 'x'.repeat(MAX_MESSAGE) }),
      (e: unknown) => e instanceof OvpndError && e.code === 'EMSGSIZE',
    );
    assert.equal((await c.devList()).length, 1);
    // the connection still works after all of that
    raw.send({ op: 'dev-list', seq: 6 });
    assert.deepEqual(await raw.next(), { seq: 6, reply: [{ ifindex, ifname: 'junk0', mode: 'mp' }] });

    // clients that go away: right after sending, without reading, with a peer-new in flight
    for (let i = 0; i < 20; i++) {
      const v = new RawConn(ns);
      v.send(
        {
          op: 'peer-new',
          seq: 1,
          msg: {
            ifindex,
            peer: {
              id: 100 + i,
              socket: u,
              'remote-ipv4': '10.1.1.1',
              'remote-port': 9,
              'vpn-ipv4': `5.9.9.${i + 1}`,
            },
          },
        },
        [u],
      );
      v.close();
    }
    // a client that floods requests and never reads is throttled, and then vanishes
    const flood = new RawConn(ns);
    let sent = 0;
    const big = Buffer.from(JSON.stringify({ op: 'dev-list', pad: 'x'.repeat(4000) }));
    while (sent < 20_000 && sendMessage(flood.fd, big)) sent++;
    assert.ok(sent < 20_000, 'the daemon must stop reading from a client that does not read its replies');
    const t0 = Date.now();
    assert.equal((await c.devList()).length, 1, 'other clients are still served');
    assert.ok(Date.now() - t0 < 2000);
    flood.close();
    raw.close();
    await sleep(500);
    // the peers of the vanished clients were removed again (transport-disconnect), nothing leaked
    assert.deepEqual(await c.peerDump({ ifindex }), []);
    await ntf.wait(20);
    assert.ok(
      ntf.list.every((n) => n.name === 'peer-del-ntf' && n.msg.peer['del-reason'] === 'transport-disconnect'),
    );
    assert.equal(openFds(pid), fdsBefore, 'fds passed to the daemon must not leak');
    assert.equal((await c.daemonInfo()).clients, 1);
  });

  it('UDP handover: control packets go to the connection that handed the socket over, control-send answers, closing it removes its peers', async () => {
    const ns = lab.ns('udp');
    const owner = await connect(ns, true);
    const watcher = await connect(ns);
    await watcher.subscribe();
    const ntf = collect(watcher);
    const ownerControls: unknown[] = [];
    const watcherControls: unknown[] = [];
    owner.onControl((m) => ownerControls.push(m));
    watcher.onControl((m) => watcherControls.push(m));
    const { ifindex } = await owner.devNew({ ifname: 'udp0', mode: 'mp' });
    const sock = inNetns(ns, () =>
      createUdpSocket({ family: 4, port: 5000, address: '127.0.0.1', reuse: true }),
    );
    fds.push(sock);
    await owner.peerNew({
      ifindex,
      peer: { id: 1, socket: sock, 'remote-ipv4': '127.0.0.1', 'remote-port': 5001, 'vpn-ipv4': '5.5.5.2' },
    });
    await owner.peerNew({
      ifindex,
      peer: { id: 2, socket: sock, 'remote-ipv4': '127.0.0.1', 'remote-port': 5002, 'vpn-ipv4': '5.5.5.3' },
    });
    // the "remote": sends a control packet (P_CONTROL_V1, opcode 4) from port 5001 and waits for the answer
    const answer = new Promise<string>((resolve, reject) => {
      const child = lab.spawn(ns, 'python3', [
        '-c',
        `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5001)); s.settimeout(8)
s.sendto(bytes([4 << 3]) + b"hello-control", ("127.0.0.1", 5000))
print(s.recvfrom(2048)[0].hex(), flush=True)`,
      ]);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.on('exit', (code) =>
        code === 0 ? resolve(out.trim()) : reject(new Error(`remote exited ${code}`)),
      );
    });
    const end = Date.now() + 5000;
    while (ownerControls.length === 0 && Date.now() < end) await sleep(20);
    assert.deepEqual(ownerControls, [
      {
        ifindex,
        socket: sock,
        'remote-addr': '127.0.0.1',
        'remote-port': 5001,
        packet: Buffer.concat([Buffer.from([4 << 3]), Buffer.from('hello-control')]).toString('hex'),
      },
    ]);
    assert.deepEqual(watcherControls, [], 'control packets go only to the owner');
    // only the owner may send through the socket
    const reply = `${(4 << 3).toString(16)}${Buffer.from('reply').toString('hex')}`;
    await assert.rejects(
      watcher.controlSend({
        ifindex,
        socket: sock,
        'remote-addr': '127.0.0.1',
        'remote-port': 5001,
        packet: reply,
      }),
      (e: unknown) => e instanceof OvpndError && e.code === 'ENOENT',
    );
    await owner.controlSend({
      ifindex,
      socket: sock,
      'remote-addr': '127.0.0.1',
      'remote-port': 5001,
      packet: reply,
    });
    assert.equal(await answer, reply);
    // the owner's connection closes: its socket counts as closed, both peers go
    owner.close();
    await ntf.wait(2);
    assert.deepEqual(
      ntf.list
        .map((n) => n.msg)
        .sort((a, b) => ('peer' in a ? a.peer.id : 0) - ('peer' in b ? b.peer.id : 0)),
      [
        { ifindex, peer: { 'del-reason': 'transport-disconnect', id: 1 } },
        { ifindex, peer: { 'del-reason': 'transport-disconnect', id: 2 } },
      ],
    );
    assert.deepEqual(await watcher.peerDump({ ifindex }), []);
  });

  it('TCP handover: framed control packets both ways, and the connection closing removes the peer', async () => {
    const ns = lab.ns('tcp');
    const owner = await connect(ns, true);
    const watcher = await connect(ns);
    await watcher.subscribe();
    const ntf = collect(watcher);
    const controls: { packet: string; socket: number }[] = [];
    owner.onControl((m) => controls.push(m));
    const { ifindex } = await owner.devNew({ ifname: 'tcp0', mode: 'p2p' });
    const lfd = inNetns(ns, () => tcpListen({ family: 4, port: 6000 }));
    fds.push(lfd);
    const accepted = tcpAccept(lfd);
    const far = await inNetns(ns, () => tcpConnect({ addr: '127.0.0.1', port: 6000 }));
    const near = await accepted;
    fds.push(far, near);
    await owner.peerNew({ ifindex, peer: { id: 7, socket: near } });
    // a P_CONTROL frame from the far end, written with python on a dup of `far` would need the fd in
    // another process; write it with sendto from here instead
    const frame = Buffer.concat([Buffer.from([0, 6, 4 << 3]), Buffer.from('hello')]);
    const { sendto } = await import('../../src/sys/libc.js');
    const { allocPinned } = await import('../../src/sys/address.js');
    const pin = allocPinned(4096);
    frame.copy(pin.buf);
    assert.equal(sendto(far, pin.addr, frame.length, 0, 0, 0), frame.length);
    const end = Date.now() + 5000;
    while (controls.length === 0 && Date.now() < end) await sleep(20);
    assert.equal(controls.length, 1);
    assert.equal(controls[0].packet, frame.toString('hex'), 'one whole frame, length included');
    assert.equal(controls[0].socket, near);
    // and back: one framed packet through the daemon's framing
    const back = Buffer.concat([Buffer.from([0, 4, 4 << 3]), Buffer.from('ack')]);
    await owner.controlSend({ ifindex, socket: near, packet: back.toString('hex') });
    const { read } = await import('../../src/sys/libc.js');
    let got = -1;
    for (let i = 0; i < 100 && got <= 0; i++) {
      got = read(far, pin.addr, 4096);
      if (got <= 0) await sleep(20);
    }
    assert.equal(pin.buf.subarray(0, got).toString('hex'), back.toString('hex'));
    owner.close();
    await ntf.wait(1);
    assert.deepEqual(ntf.list, [
      { name: 'peer-del-ntf', msg: { ifindex, peer: { 'del-reason': 'transport-disconnect', id: 7 } } },
    ]);
  });

  it('tears its devices down and exits within seconds when its namespace is deleted', async () => {
    const name = 'gone';
    const ns = lab.ns(name);
    const c = await connect(ns, true);
    await c.devNew({ ifname: 'gone0', mode: 'mp' });
    const { pid } = await c.daemonInfo();
    execFileSync('ip', ['netns', 'del', ns]);
    await waitGone(pid, 5000); // throws if it is still there
    await c.closed; // the daemon closed our connection on its way out
  });
});
