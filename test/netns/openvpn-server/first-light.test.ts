/**
 * First light: one stock openvpn 2.6 UDP client against the ovpn-ts server, pinging both ways over
 * the tunnel; the server's device and addresses are gone after it stops.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { linkIn, type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: first light', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sc', 1);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('a UDP client connects and pings the server, the server pings it', async () => {
    const status = join(s.dir, 'status.log');
    const srv = await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sctun0',
      extra: [`status ${status} 1`, 'status-version 2'],
    });
    const client = await s.startClient(1, 'udp', 1194).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nSERVER:\n${srv.tail(60)}`);
    });
    const r1 = await s.ping(s.clientNs[0], '10.75.0.1');
    assert.equal(r1.received, 3, `${r1.out}\n${srv.tail(40)}\n${client.tail(40)}`);
    const r2 = await s.ping(s.nsS, '10.75.0.2');
    assert.equal(r2.received, 3, r2.out);
    const r3 = await s.ping(s.clientNs[0], 'fd75::1');
    assert.equal(r3.received, 3, r3.out);
    // the status file lists the client with its addresses and the data plane's byte counts
    await new Promise((r) => setTimeout(r, 1500));
    const row = readFileSync(status, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CLIENT_LIST,sc-c1,'));
    assert.ok(row, readFileSync(status, 'utf8'));
    const cols = row.split(',');
    assert.match(cols[2], /^10\.76\.1\.2:\d+$/);
    assert.equal(cols[3], '10.75.0.2');
    assert.equal(cols[4], 'fd75::1000');
    assert.ok(Number(cols[5]) > 0 && Number(cols[6]) > 0, row);
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
    assert.equal(linkIn(s.nsS, 'sctun0'), false, 'the device is gone');
  });
});
