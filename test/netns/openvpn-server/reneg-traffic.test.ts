/**
 * `reneg-bytes` on the ovpn-ts server: each client's current key is renegotiated by the server once
 * it has carried that many bytes on the link (both directions), counted per client. Two stock 2.6
 * clients with `reneg-sec 0` (they never renegotiate themselves): client 1 sends 600 pings of 1200
 * bytes (about 1.5 MB both ways, so several keys at `reneg-bytes 300000`) and loses none; client 2,
 * idle but for keepalives, keeps its first key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: reneg-bytes', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sr', 2);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('the busy client gets new keys from the server as its bytes pass the limit, the idle one none', async () => {
    const srv = await s.startServer({
      net: 78,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'srtun0',
      renegSec: 0,
      extra: ['reneg-bytes 300000'],
    });
    const c1 = await s.startClient(1, 'udp', 1194, ['--reneg-sec', '0']);
    const c2 = await s.startClient(2, 'udp', 1194, ['--reneg-sec', '0']);
    const r = await s.lab.run(
      s.clientNs[0],
      'ping',
      ['-c', '600', '-i', '0.01', '-s', '1200', '-W', '2', '10.78.0.1'],
      60_000,
    );
    const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
    // the last renegotiation may still be in flight: let the next poll see it
    await new Promise((res) => setTimeout(res, 1500));
    const resets = (i: number) =>
      srv.out.filter((l) => l.includes(`sr-c${i}/`) && l.includes('soft reset by reneg-bytes/reneg-pkts'));
    const log = `${srv.tail(40)}\nCLIENT 1:\n${c1.tail(20)}`;
    assert.equal(received, 600, `${r.stdout.slice(-300)}\n${log}`);
    assert.ok(resets(1).length >= 3, `at least 3 keys by bytes for client 1 (1.5 MB / 300 kB): ${log}`);
    assert.match(resets(1)[0], /\(bytes=\d+\/300000\), new key-id 1$/);
    assert.deepEqual(resets(2), [], 'the idle client keeps its key');
    // the client took part in every one: 2.6 logs each finished TLS handshake
    const handshakes = c1.out.filter((l) => l.includes('Control Channel: TLS')).length;
    assert.ok(handshakes >= 1 + resets(1).length - 1, `client 1 logged ${handshakes} handshakes`);
    assert.equal(c2.out.filter((l) => l.includes('Control Channel: TLS')).length, 1);
    assert.ok(!srv.out.some((l) => l.includes('removed:')), `no client was dropped:\n${log}`);
  });
});
