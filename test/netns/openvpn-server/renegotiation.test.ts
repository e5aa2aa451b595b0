/**
 * Renegotiation on the ovpn-ts server, started by either side, under traffic: the server has
 * `reneg-sec 10`; client 1 renegotiates never (`reneg-sec 0`: every new key is the server's soft
 * reset), client 2 every 5 s or so (2.6 draws its reneg-sec from 70-100 % of 5 s, so it starts first).
 * Both ping the server through several key changes without losing a packet.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: renegotiation from both sides', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sc', 2);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('key changes by the server and by the client, no ping lost', async () => {
    const srv = await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sctun0',
      renegSec: 10,
    });
    const c1 = await s.startClient(1, 'udp', 1194, ['--reneg-sec', '0']);
    const c2 = await s.startClient(2, 'udp', 1194, ['--reneg-sec', '5']);
    const [p1, p2] = await Promise.all([
      s.ping(s.clientNs[0], '10.75.0.1', 130),
      s.ping(s.clientNs[1], '10.75.0.1', 130),
    ]);
    const log = `${srv.out.join('\n')}\nCLIENT 1:\n${c1.tail(25)}\nCLIENT 2:\n${c2.tail(25)}`;
    assert.equal(p1.received, 130, `client 1: ${p1.out.slice(-300)}\n${srv.tail(40)}`);
    assert.equal(p2.received, 130, `client 2: ${p2.out.slice(-300)}\n${srv.tail(40)}`);
    const byServer = srv.out.filter((l) => l.includes('sc-c1/') && l.includes('soft reset by the server'));
    const byClient = srv.out.filter((l) => l.includes('sc-c2/') && l.includes('soft reset by the client'));
    assert.ok(byServer.length >= 2, `the server renegotiated client 1 at least twice:\n${log}`);
    assert.ok(byClient.length >= 3, `client 2 renegotiated at least three times:\n${log}`);
    assert.ok(!/removed:/.test(log), `no client was dropped:\n${log}`);
  });
});
