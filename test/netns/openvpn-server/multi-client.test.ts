/**
 * Several stock openvpn 2.6 clients on ovpn-ts servers: three over UDP on one server process and one
 * over TCP on a second (2.6 serves one proto per process), in net30 and in subnet topology. Every
 * client reaches the server's tunnel address (IPv4 and IPv6) and the server reaches every client's.
 * After SIGTERM the UDP clients are told RESTART (explicit-exit-notify), the TCP client sees its
 * stream close, and the devices are gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { linkIn, type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: several clients over UDP and TCP', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sc', 4);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  for (const topology of ['net30', 'subnet'] as const) {
    it(`${topology}: 3 UDP clients and 1 TCP client, pings both ways`, async (t) => {
      const udp = await s.startServer({ net: 75, topology, proto: 'udp', port: 1194, dev: 'sctun0' });
      const tcp = await s.startServer({ net: 74, topology, proto: 'tcp', port: 1195, dev: 'sctun1' });
      const clients: LineWatcher[] = [];
      t.after(async () => {
        // whatever happened, nothing of this topology is left for the next one
        for (const w of [...clients, udp, tcp])
          if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
        await Promise.all([...clients, udp, tcp].map((w) => w.waitExit(5000)));
      });
      try {
        for (let i = 1; i <= 3; i++) clients.push(await s.startClient(i, 'udp', 1194));
        clients.push(await s.startClient(4, 'tcp', 1195));
      } catch (e) {
        throw new Error(
          `${(e as Error).message}\nUDP SERVER:\n${udp.tail(30)}\nTCP SERVER:\n${tcp.tail(30)}`,
        );
      }
      // what each client was given, from its log: `ifconfig <addr> ...` of the PUSH_REPLY
      const addrs = clients.map((c, i) => {
        const line = c.out.find((l) => l.includes('PUSH_REPLY'));
        const m = line === undefined ? null : /ifconfig (\d+\.\d+\.\d+\.\d+) /.exec(line);
        assert.ok(m, `client ${i + 1} got an ifconfig: ${line}`);
        const m6 = line === undefined ? null : /ifconfig-ipv6 ([0-9a-f:]+)\//.exec(line);
        assert.ok(m6, `client ${i + 1} got an ifconfig-ipv6: ${line}`);
        return { v4: m![1], v6: m6![1] };
      });
      assert.equal(new Set(addrs.map((a) => a.v4)).size, 4, 'distinct addresses');
      if (topology === 'net30')
        assert.deepEqual(
          addrs.slice(0, 3).map((a) => a.v4),
          ['10.75.0.6', '10.75.0.10', '10.75.0.14'],
        );
      else
        assert.deepEqual(
          addrs.slice(0, 3).map((a) => a.v4),
          ['10.75.0.2', '10.75.0.3', '10.75.0.4'],
        );
      for (let i = 0; i < 4; i++) {
        const net = i < 3 ? 75 : 74;
        const ns = s.clientNs[i];
        const up = await s.ping(ns, `10.${net}.0.1`);
        assert.equal(up.received, 3, `client ${i + 1} -> server: ${up.out}`);
        const down = await s.ping(s.nsS, addrs[i].v4);
        assert.equal(down.received, 3, `server -> client ${i + 1}: ${down.out}`);
        const up6 = await s.ping(ns, `fd${net}::1`);
        assert.equal(up6.received, 3, `client ${i + 1} -> server (IPv6): ${up6.out}`);
        const down6 = await s.ping(s.nsS, addrs[i].v6);
        assert.equal(down6.received, 3, `server -> client ${i + 1} (IPv6): ${down6.out}`);
      }
      const marks = clients.map((c) => c.out.length);
      for (const srv of [udp, tcp]) srv.child.kill('SIGTERM');
      for (const srv of [udp, tcp]) assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
      // UDP: RESTART (explicit-exit-notify); TCP: 2.6 ignores explicit-exit-notify, the stream closes
      for (const [i, c] of clients.entries()) {
        await c.waitFor(
          (l) =>
            i < 3
              ? l.includes('Connection reset command was pushed by server')
              : /Connection reset, restarting|SIGUSR1\[soft,connection-reset\]/.test(l),
          5000,
          `client ${i + 1} to be told to restart`,
          marks[i],
        );
      }
      for (const c of clients) {
        c.child.kill('SIGTERM');
        await c.waitExit(5000);
      }
      assert.equal(linkIn(s.nsS, 'sctun0'), false);
      assert.equal(linkIn(s.nsS, 'sctun1'), false);
    });
  }
});
