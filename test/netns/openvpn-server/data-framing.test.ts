/**
 * What the kernel driver refuses but the ovpn-ts server runs on its data path: a server config with
 * `comp-lzo no` (every data packet framed with the 0xFA no-compression byte) and `mssfix`, served to a
 * stock openvpn 2.6 client with the same `comp-lzo no`. Pings of several sizes both ways, and a TCP
 * transfer through the tunnel whose SYN the server clamps.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { measureTcp } from '../../../src/lab/iperf.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: comp-lzo no and mssfix', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sd', 1);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('a comp-lzo no client pings and moves TCP data through the server', async () => {
    const srv = await s.startServer({
      net: 71,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sdtun0',
      extra: ['comp-lzo no', 'mssfix 1300'],
    });
    const client = await s.startClient(1, 'udp', 1194, ['--comp-lzo', 'no']).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nSERVER:\n${srv.tail(60)}`);
    });
    // without the server's framing the client's 0xFA byte would reach the TUN as the IP header
    for (const size of ['56', '1000', '1400']) {
      const r = await s.lab.run(s.clientNs[0], 'ping', [
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        '-s',
        size,
        '10.71.0.1',
      ]);
      assert.match(r.stdout, / 3 received/, `size ${size}: ${r.stdout}\n${srv.tail(30)}\n${client.tail(30)}`);
    }
    const back = await s.ping(s.nsS, '10.71.0.2');
    assert.equal(back.received, 3, back.out);
    const tcp = await measureTcp(s.lab, s.nsS, s.clientNs[0], '10.71.0.1', 2, false);
    assert.ok(tcp.bitsPerSecond > 0, 'TCP data crossed the tunnel');
  });
});
