/**
 * client-config-dir, iroutes and the status file on the ovpn-ts server, with stock 2.6 clients (UDP,
 * subnet, client-to-client):
 *
 * - sx-c1's ccd: `ifconfig-push 10.73.0.2` (the pool's first address: reserved at start-up, so sx-c2,
 *   connecting first, gets 10.73.0.3), `ifconfig-ipv6-push`, `iroute 192.168.77.0/24` (a LAN
 *   namespace behind sx-c1) and a push of its own; the server config has `route 192.168.77.0/24` and
 *   pushes it, which sx-c1 does not get (it is its iroute) and sx-c2 does;
 * - the LAN host is reached from the server's namespace (the iroute's kernel route via sx-c1's VPN
 *   address, the MP device picks the peer by the gateway) and from sx-c2 (client-to-client, the same
 *   lookup inside the device); its replies pass the device's reverse-path check the same way;
 * - sx-c2's ccd has a directive not allowed there: logged with file:line as 2.6 does, the rest applies;
 * - sx-c3's ccd says `disable`: refused; with `ccd-exclusive`, sx-c4 (no file) is refused;
 * - the status file (versions 1, 2 and 3) lists both clients with CN, real address, virtual addresses,
 *   non-zero byte counts that grow after a ping, and the routing table with the iroute;
 * - sx-c1 leaving (EXIT) takes its iroute route and its status rows with it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab, type TunnelPlan } from './fixture.js';
import { readStatus, waitStatus } from './status-read.js';

const LAN = '192.168.77';

function pushReply(w: LineWatcher): string {
  const line = w.out.find((l) => l.includes('PUSH_REPLY'));
  assert.ok(line, `a PUSH_REPLY in the client's log:\n${w.tail(20)}`);
  return line;
}

function routesOf(ns: string, dev: string): string {
  return execFileSync('ip', ['-n', ns, 'route', 'show', 'dev', dev], { encoding: 'utf8' });
}

describe('ovpn-ts server: client-config-dir, iroutes, status file', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  let ccd: string;
  before(async () => {
    s = await startServerLab('sx', 4);
    s.addLan(1, LAN);
    ccd = join(s.dir, 'ccd');
    mkdirSync(ccd);
    writeFileSync(
      join(ccd, 'sx-c1'),
      [
        'ifconfig-push 10.73.0.2 255.255.255.0',
        'ifconfig-ipv6-push fd73::50/64',
        `iroute ${LAN}.0 255.255.255.0`,
        'push "setenv-safe SXC1 one"',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(ccd, 'sx-c2'),
      ['route 10.1.2.0 255.255.255.0', 'push "setenv-safe SXC2 two"', ''].join('\n'),
    );
    writeFileSync(join(ccd, 'sx-c3'), 'disable\n');
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  const stopAll = async (ws: LineWatcher[]) => {
    for (const w of ws) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(ws.map((w) => w.waitExit(5000)));
  };

  for (const version of [1, 2, 3] as const) {
    it(`status-version ${version}: ccd addresses and pushes, a LAN behind a client, the status file`, async (t) => {
      const ws: LineWatcher[] = [];
      t.after(() => stopAll(ws));
      const statusPath = join(s.dir, `status-${version}.txt`);
      const plan: TunnelPlan = {
        net: 73,
        topology: 'subnet',
        proto: 'udp',
        port: 1194,
        dev: 'sxtun0',
        clientToClient: true,
        extra: [
          `client-config-dir ${ccd}`,
          `route ${LAN}.0 255.255.255.0`,
          `push "route ${LAN}.0 255.255.255.0"`,
          `status ${statusPath} 1`,
          `status-version ${version}`,
        ],
      };
      const server = await s.startServer(plan);
      ws.push(server);
      const c2 = await s.startClient(2, 'udp', 1194);
      ws.push(c2);
      const c1 = await s.startClient(1, 'udp', 1194, ['--explicit-exit-notify', '1']);
      ws.push(c1);

      // addresses: the ccd's for sx-c1, and the pool skips the address reserved for it
      const r1 = pushReply(c1);
      const r2 = pushReply(c2);
      assert.match(r1, /ifconfig 10\.73\.0\.2 255\.255\.255\.0/);
      assert.match(r1, /ifconfig-ipv6 fd73::50\/64 fd73::1/);
      assert.match(r2, /ifconfig 10\.73\.0\.3 255\.255\.255\.0/);
      const v6c2 = /ifconfig-ipv6 ([0-9a-f:]+)\/64/.exec(r2)?.[1];
      assert.ok(v6c2, r2);
      // pushes: the ccd's own; the server's route to the LAN only to the client it is not behind
      assert.match(r1, /setenv-safe SXC1 one/);
      assert.match(r2, /setenv-safe SXC2 two/);
      assert.doesNotMatch(r1, /route 192\.168\.77\.0/);
      assert.match(r2, /route 192\.168\.77\.0 255\.255\.255\.0/);
      // the bad ccd line, logged with its place, as 2.6 does
      assert.ok(
        server.out.some((l) => l.includes(`Options error: ${join(ccd, 'sx-c2')}:1: route:`)),
        server.tail(40),
      );

      // the iroute on the server's tun, winning over the server's own route to the same network
      const rt = routesOf(s.nsS, 'sxtun0');
      assert.match(rt, /192\.168\.77\.0\/24 via 10\.73\.0\.2 .*metric 100/, rt);
      assert.match(rt, /192\.168\.77\.0\/24 .*metric 200/, rt);
      for (const [ns, who] of [
        [s.nsS, 'server'],
        [s.clientNs[1], 'client 2'],
      ] as const) {
        const p = await s.ping(ns, `${LAN}.2`);
        assert.equal(p.received, 3, `${who} -> LAN host behind client 1: ${p.out}\n${server.tail(20)}`);
      }

      // the status file: both clients, their addresses, the iroute, bytes that grow
      const read = () => readStatus(statusPath, version);
      // the file is rewritten every second: wait for a write after the pings above
      const st = await waitStatus(
        read,
        (x) => x.clients.length === 2 && x.clients.every((c) => c.rx > 0n && c.tx > 0n),
        5000,
        'both clients in the status, with bytes both ways',
      );
      const row = (cn: string) => st.clients.find((c) => c.cn === cn);
      assert.match(row('sx-c1')?.real ?? '', /^10\.76\.1\.2:\d+$/, st.text);
      assert.match(row('sx-c2')?.real ?? '', /^10\.76\.2\.2:\d+$/, st.text);
      if (version !== 1) {
        assert.equal(row('sx-c1')?.v4, '10.73.0.2', st.text);
        assert.equal(row('sx-c1')?.v6, 'fd73::50', st.text);
        assert.equal(row('sx-c2')?.v4, '10.73.0.3', st.text);
        assert.equal(row('sx-c2')?.v6, v6c2, st.text);
        assert.match(st.title ?? '', /^ovpn-ts /, st.text);
        assert.equal(st.dco, '1', st.text);
      }
      const routes = st.routes.map((r) => `${r.address} ${r.cn} ${r.real}`);
      for (const want of [
        /^10\.73\.0\.2 sx-c1 10\.76\.1\.2:\d+$/,
        /^fd73::50 sx-c1 /,
        /^192\.168\.77\.0\/24 sx-c1 10\.76\.1\.2:\d+$/,
        /^10\.73\.0\.3 sx-c2 10\.76\.2\.2:\d+$/,
      ])
        assert.ok(
          routes.some((r) => want.test(r)),
          `${want} in the routing table:\n${st.text}`,
        );
      const before2 = row('sx-c2')!;
      const p = await s.ping(s.nsS, '10.73.0.3', 5);
      assert.equal(p.received, 5, p.out);
      await waitStatus(
        read,
        (x) => {
          const r = x.clients.find((c) => c.cn === 'sx-c2');
          // 5 echo requests and replies of 84 bytes, each in a DATA_V2 packet of 24 bytes more
          return r !== undefined && r.rx >= before2.rx + 5n * 108n && r.tx >= before2.tx + 5n * 108n;
        },
        5000,
        'sx-c2 byte counts to grow by the ping',
      );

      if (version === 1) {
        // disable: refused at admission
        const mark = server.out.length;
        const c3 = s.spawnClient(3, 'udp', 1194);
        ws.push(c3);
        await server.waitFor(
          (l) => l.includes("MULTI: client has been rejected due to 'disable' directive"),
          15_000,
          'sx-c3 to be refused',
          mark,
        );
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(!c3.out.some((l) => l.includes('Initialization Sequence Completed')), c3.tail(20));
        c3.child.kill('SIGKILL');
      }

      // sx-c1 leaves (EXIT): its iroute and its status rows go
      c1.child.kill('SIGTERM');
      await server.waitFor((l) => /sx-c1\/.* removed: client exit/.test(l), 10_000, 'sx-c1 to be removed');
      const rt2 = routesOf(s.nsS, 'sxtun0');
      assert.doesNotMatch(rt2, /via 10\.73\.0\.2/, rt2);
      assert.match(rt2, /192\.168\.77\.0\/24 .*metric 200/, rt2);
      const st2 = await waitStatus(read, (x) => x.clients.length === 1, 5000, 'sx-c1 gone from the status');
      assert.equal(st2.clients[0].cn, 'sx-c2');
      assert.ok(!st2.routes.some((r) => r.cn === 'sx-c1'), st2.text);
      const lost = await s.ping(s.nsS, `${LAN}.2`, 2);
      assert.equal(lost.received, 0, lost.out);
    });
  }

  it('net30: the iroute (on-link via a client address a gatewayed route covers) reaches the LAN', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const ccd30 = join(s.dir, 'ccd-net30');
    mkdirSync(ccd30, { recursive: true });
    writeFileSync(join(ccd30, 'sx-c1'), `iroute ${LAN}.0 255.255.255.0\n`);
    const server = await s.startServer({
      net: 73,
      topology: 'net30',
      proto: 'udp',
      port: 1194,
      dev: 'sxtun0',
      clientToClient: true,
      extra: [
        `client-config-dir ${ccd30}`,
        `route ${LAN}.0 255.255.255.0`,
        `push "route ${LAN}.0 255.255.255.0"`,
      ],
    });
    ws.push(server);
    const c1 = await s.startClient(1, 'udp', 1194);
    ws.push(c1);
    ws.push(await s.startClient(2, 'udp', 1194));
    assert.match(pushReply(c1), /ifconfig 10\.73\.0\.6 10\.73\.0\.5/);
    const rt = routesOf(s.nsS, 'sxtun0');
    assert.match(rt, /192\.168\.77\.0\/24 via 10\.73\.0\.6 .*metric 100 onlink/, rt);
    for (const [ns, who] of [
      [s.nsS, 'server'],
      [s.clientNs[1], 'client 2'],
    ] as const) {
      const p = await s.ping(ns, `${LAN}.2`);
      assert.equal(p.received, 3, `${who} -> LAN host behind client 1: ${p.out}\n${server.tail(20)}`);
    }
  });

  it('ccd-exclusive: a client without its own ccd file is refused, one with a file is let in', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const server = await s.startServer({
      net: 73,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sxtun0',
      extra: [`client-config-dir ${ccd}`, 'ccd-exclusive'],
    });
    ws.push(server);
    const mark = server.out.length;
    const c4 = s.spawnClient(4, 'udp', 1194);
    ws.push(c4);
    await server.waitFor(
      (l) =>
        l.includes(
          `TLS Auth Error: --client-config-dir authentication failed for common name 'sx-c4' file='${join(ccd, 'sx-c4')}'`,
        ),
      15_000,
      'sx-c4 to be refused',
      mark,
    );
    ws.push(await s.startClient(2, 'udp', 1194));
    assert.ok(!c4.out.some((l) => l.includes('Initialization Sequence Completed')), c4.tail(20));
  });
});
