/**
 * The server's socket over IPv6: with `proto udp6` 2.6's socket is dual-stack (IPV6_V6ONLY off), so a
 * stock client over IPv6 and one over IPv4 are both served; with `bind ipv6only` the IPv6 client is
 * served and the IPv4 one never reaches the server. The veth pairs get fd76:<i>::1 (server end) and
 * fd76:<i>::2 (client end) besides their IPv4 addresses.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: clients over IPv6 transport', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  const mine: LineWatcher[] = [];
  before(async () => {
    s = await startServerLab('sl', 2);
    for (let i = 1; i <= 2; i++) {
      for (const [ns, dev, a] of [
        [s.nsS, `sl${i}a`, `fd76:${i}::1/64`],
        [s.clientNs[i - 1], `sl${i}b`, `fd76:${i}::2/64`],
      ]) {
        const r = await s.lab.run(ns, 'ip', ['addr', 'add', a, 'dev', dev, 'nodad']);
        assert.equal(r.code, 0, r.stderr);
      }
    }
  });
  after(async () => {
    for (const w of mine)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(mine.map((w) => w.waitExit(4000)));
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  /** Stock openvpn as client `i` over UDP to [fd76:i::1]:port. */
  const clientOver6 = (i: number, port: number): LineWatcher => {
    const w = new LineWatcher(
      s.lab.spawn(s.clientNs[i - 1], 'openvpn', [
        '--client',
        '--dev',
        'tun',
        '--proto',
        'udp6',
        '--remote',
        `fd76:${i}::1`,
        String(port),
        '--nobind',
        '--ca',
        join(s.dir, 'ca.crt'),
        '--cert',
        join(s.dir, `c${i}.crt`),
        '--key',
        join(s.dir, `c${i}.key`),
        '--remote-cert-tls',
        'server',
        '--verb',
        '4',
        '--disable-dco',
        '--connect-retry',
        '1',
      ]),
    );
    mine.push(w);
    return w;
  };
  const stop = async (w: LineWatcher) => {
    w.child.kill('SIGTERM');
    await w.waitExit(5000);
  };

  it('proto udp6: an IPv6 client and an IPv4 client on one socket', async () => {
    const srv = await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sltun0',
      extra: ['proto udp6'],
    });
    const c1 = clientOver6(1, 1194);
    await c1.waitFor((l) => l.includes('Initialization Sequence Completed'), 20_000, 'client 1 over IPv6');
    assert.ok(
      c1.out.some((l) => l.includes('link remote: [AF_INET6]fd76:1::1')),
      c1.tail(20),
    );
    const c2 = await s.startClient(2, 'udp', 1194);
    assert.ok(
      srv.out.some((l) => l.includes('fd76:1::2')),
      `the server saw client 1 at its IPv6 address:\n${srv.tail(20)}`,
    );
    const pings = await Promise.all(s.clientNs.map((ns) => s.ping(ns, '10.75.0.1', 5)));
    for (const [i, p] of pings.entries()) assert.equal(p.received, 5, `client ${i + 1}: ${p.out}`);
    await Promise.all([stop(c1), stop(c2)]);
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
  });

  it('bind ipv6only: the IPv6 client is served, the IPv4 one never reaches the server', async () => {
    const srv = await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1195,
      dev: 'sltun0',
      extra: ['proto udp6', 'bind ipv6only'],
    });
    const c1 = clientOver6(1, 1195);
    await c1.waitFor((l) => l.includes('Initialization Sequence Completed'), 20_000, 'client 1 over IPv6');
    const p1 = await s.ping(s.clientNs[0], '10.75.0.1', 5);
    assert.equal(p1.received, 5, `client 1: ${p1.out}`);
    // client 2 over IPv4: its resets go nowhere (the port is unreachable over IPv4)
    const c2 = s.lab.spawn(s.clientNs[1], 'openvpn', [
      '--client',
      '--dev',
      'tun',
      '--proto',
      'udp4',
      '--remote',
      '10.76.2.1',
      '1195',
      '--nobind',
      '--ca',
      join(s.dir, 'ca.crt'),
      '--cert',
      join(s.dir, 'c2.crt'),
      '--key',
      join(s.dir, 'c2.key'),
      '--verb',
      '4',
      '--disable-dco',
    ]);
    const w2 = new LineWatcher(c2);
    mine.push(w2);
    await new Promise((r) => setTimeout(r, 6000));
    assert.ok(
      w2.out.some((l) => l.includes('link remote: [AF_INET]10.76.2.1:1195')),
      w2.tail(20),
    );
    assert.ok(!w2.out.some((l) => l.includes('Initialization Sequence Completed')), w2.tail(20));
    assert.ok(
      !srv.out.some((l) => l.includes('10.76.2.2')),
      `the server never heard client 2:\n${srv.tail(20)}`,
    );
    await Promise.all([stop(c1), stop(w2)]);
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
  });
});
