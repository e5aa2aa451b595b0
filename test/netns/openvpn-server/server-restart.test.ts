/**
 * SIGUSR1 and SIGHUP on the ovpn-ts server, as 2.6 takes them: the UDP clients are told RESTART
 * (explicit-exit-notify), the listener and the device are torn down and made again, and the clients
 * reconnect and ping. SIGUSR1 keeps the options it started with; SIGHUP reads the config again (here
 * the file now offers CHACHA20-POLY1305 only, and the clients come back with it). SIGTERM then ends
 * the process with 0 and no device left.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { linkIn, type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: SIGUSR1 and SIGHUP restart it', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sl', 2);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('clients told RESTART reconnect after SIGUSR1 and SIGHUP (config re-read)', async () => {
    const srv = await s.startServer({ net: 75, topology: 'subnet', proto: 'udp', port: 1194, dev: 'sltun0' });
    const clients: LineWatcher[] = [];
    for (let i = 1; i <= 2; i++) clients.push(await s.startClient(i, 'udp', 1194));
    const cycle = async (signal: 'SIGUSR1' | 'SIGHUP', cipher: string) => {
      const marks = clients.map((c) => c.out.length);
      const smark = srv.out.length;
      srv.child.kill(signal);
      await srv.waitFor(
        (l) => l.includes(`${signal}[`) && l.includes('received, process restarting'),
        3000,
        `the server to take ${signal}`,
        smark,
      );
      await srv.waitFor(
        (l) => l.includes('Initialization Sequence Completed'),
        10_000,
        `the server to be up again after ${signal}`,
        smark,
      );
      for (const [i, c] of clients.entries()) {
        await c.waitFor(
          (l) => l.includes('Connection reset command was pushed by server'),
          5000,
          `client ${i + 1} to be told RESTART on ${signal}`,
          marks[i],
        );
        await c.waitFor(
          (l) => l.includes('Initialization Sequence Completed'),
          20_000,
          `client ${i + 1} to reconnect after ${signal}`,
          marks[i],
        );
        // 2.6 logs `Data Channel: cipher '...'` when it negotiates and `Outgoing Data Channel: Cipher '...'`
        // when it installs the key (after a restart it may only do the latter); the first comes after
        // "Initialization Sequence Completed" (init.c do_up), so it is waited for
        const line = await c.waitFor(
          (l) => /Data Channel: [Cc]ipher '/.test(l),
          5000,
          `client ${i + 1}'s cipher line after ${signal}`,
          marks[i],
        );
        assert.ok(
          line.includes(`'${cipher}'`),
          `client ${i + 1} after ${signal} uses ${cipher}: ${line}\n${c.out.slice(marks[i]).join('\n')}`,
        );
      }
      const pings = await Promise.all(s.clientNs.map((ns) => s.ping(ns, '10.75.0.1', 5)));
      for (const [i, p] of pings.entries())
        assert.equal(p.received, 5, `client ${i + 1} after ${signal}: ${p.out}\n${srv.tail(30)}`);
      assert.equal(srv.child.exitCode, null, 'the server process lives on');
    };
    await cycle('SIGUSR1', 'AES-256-GCM');
    const conf = join(s.dir, 'server-udp-1194.conf');
    writeFileSync(
      conf,
      readFileSync(conf, 'utf8').replace(/^data-ciphers .*$/m, 'data-ciphers CHACHA20-POLY1305'),
    );
    await cycle('SIGHUP', 'CHACHA20-POLY1305');
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
    assert.equal(linkIn(s.nsS, 'sltun0'), false, 'the device is gone');
  });

  it('explicit-exit-notify 2: the clients are told RESTART,[N] (move to the next remote)', async () => {
    const srv = await s.startServer({
      net: 74,
      topology: 'subnet',
      proto: 'udp',
      port: 1196,
      dev: 'sltun1',
      extra: ['explicit-exit-notify 2'],
    });
    const c1 = await s.startClient(1, 'udp', 1196);
    const mark = c1.out.length;
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
    await c1.waitFor(
      (l) => l.includes('Connection reset command was pushed by server') && l.includes('[N]'),
      5000,
      'client 1 to be told RESTART,[N]',
      mark,
    );
    c1.child.kill('SIGTERM');
    await c1.waitExit(5000);
  });
});
