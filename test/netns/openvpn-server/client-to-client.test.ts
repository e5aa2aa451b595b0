/**
 * client-to-client on the ovpn-ts server: with it, the MP device sends a packet from one client to
 * another client's VPN address straight to that client (UDP clients on one server, TCP clients on
 * another); without it the packet goes up the server's tun, where with no IP forwarding (a fresh
 * namespace's default) it dies, as on a 2.6 server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: client-to-client', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sc', 4);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  const stopAll = async (ws: LineWatcher[]) => {
    for (const w of ws) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(ws.map((w) => w.waitExit(5000)));
  };

  it('with client-to-client: UDP client <-> UDP client, TCP client <-> TCP client', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const plan = { topology: 'subnet' as const, clientToClient: true };
    ws.push(await s.startServer({ ...plan, net: 75, proto: 'udp', port: 1194, dev: 'sctun0' }));
    ws.push(await s.startServer({ ...plan, net: 74, proto: 'tcp', port: 1195, dev: 'sctun1' }));
    ws.push(await s.startClient(1, 'udp', 1194));
    ws.push(await s.startClient(2, 'udp', 1194));
    ws.push(await s.startClient(3, 'tcp', 1195));
    ws.push(await s.startClient(4, 'tcp', 1195));
    for (const [from, to] of [
      [0, '10.75.0.3'],
      [1, '10.75.0.2'],
      [0, 'fd75::1001'],
      [2, '10.74.0.3'],
      [3, '10.74.0.2'],
    ] as const) {
      const r = await s.ping(s.clientNs[from], to);
      assert.equal(r.received, 3, `client ${from + 1} -> ${to}: ${r.out}`);
    }
  });

  it('without client-to-client the packets die at the server (no forwarding)', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    ws.push(await s.startServer({ topology: 'subnet', net: 75, proto: 'udp', port: 1194, dev: 'sctun0' }));
    ws.push(await s.startClient(1, 'udp', 1194));
    ws.push(await s.startClient(2, 'udp', 1194));
    const server = await s.ping(s.clientNs[0], '10.75.0.1');
    assert.equal(server.received, 3, server.out);
    const r = await s.ping(s.clientNs[0], '10.75.0.3');
    assert.equal(r.received, 0, r.out);
  });
});
