/**
 * A client that dies without a word (SIGKILL) on the ovpn-ts server, and the pool around it, with
 * stock 2.6 clients: `keepalive 1 3` (the server drops a client silent for 6 s), a pool of two
 * addresses, `ifconfig-pool-persist` and a status file.
 *
 * - the data plane's keepalive timeout removes the client: its pool entry is released, its iroute
 *   route goes, its status rows go (and not before the timeout);
 * - the same common name comes back to its old address; a third name is refused while the pool is
 *   full and gets the dead client's address once it is freed;
 * - the persist file is read at start-up and written at exit (its interval here is 60 s, so the only
 *   write with clients in it is the one at exit, as 2.6 does it): after a restart a returning name
 *   gets its old address though another one is free before it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab, type TunnelPlan } from './fixture.js';
import { readStatus, waitStatus } from './status-read.js';

function ifconfigOf(w: LineWatcher): string | undefined {
  const line = w.out.find((l) => l.includes('PUSH_REPLY'));
  return line === undefined ? undefined : /ifconfig (\d+\.\d+\.\d+\.\d+) /.exec(line)?.[1];
}

describe('ovpn-ts server: keepalive expiry, pool reuse, ifconfig-pool-persist', {
  skip: serverLabSkip(),
}, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sx', 3);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('a SIGKILLed client is removed after the keepalive timeout; its address goes to its name, then to another', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(async () => {
      for (const w of ws)
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await Promise.all(ws.map((w) => w.waitExit(5000)));
    });
    const ccd = join(s.dir, 'ccd-ka');
    mkdirSync(ccd);
    writeFileSync(join(ccd, 'sx-c1'), 'iroute 192.168.78.0 255.255.255.0\n');
    const ipp = join(s.dir, 'ipp.txt');
    const statusPath = join(s.dir, 'status-ka.txt');
    const plan: TunnelPlan = {
      net: 72,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sxtun1',
      keepalive: [1, 3],
      serverFlags: 'nopool',
      ipv6: false,
      extra: [
        'ifconfig-pool 10.72.0.2 10.72.0.3 255.255.255.0',
        `ifconfig-pool-persist ${ipp} 60`,
        `client-config-dir ${ccd}`,
        'route 192.168.78.0 255.255.255.0',
        `status ${statusPath} 1`,
        'status-version 2',
      ],
    };
    let server = await s.startServer(plan);
    ws.push(server);
    let c1 = await s.startClient(1, 'udp', 1194);
    ws.push(c1);
    const c2 = await s.startClient(2, 'udp', 1194);
    ws.push(c2);
    assert.equal(ifconfigOf(c1), '10.72.0.2');
    assert.equal(ifconfigOf(c2), '10.72.0.3');
    const routes = () =>
      execFileSync('ip', ['-n', s.nsS, 'route', 'show', 'dev', 'sxtun1'], { encoding: 'utf8' });
    assert.match(routes(), /192\.168\.78\.0\/24 via 10\.72\.0\.2 .*metric 100/);
    const read = () => readStatus(statusPath, 2);
    await waitStatus(read, (x) => x.clients.length === 2, 5000, 'two clients in the status');

    // the pool is full: a third name is refused
    const mark = server.out.length;
    const c3a = s.spawnClient(3, 'udp', 1194);
    ws.push(c3a);
    await server.waitFor(
      (l) => l.includes('MULTI: no free --ifconfig-pool addresses are available'),
      15_000,
      'sx-c3 to find the pool full',
      mark,
    );
    c3a.child.kill('SIGKILL');
    await c3a.waitExit(5000);

    // SIGKILL: nothing is said; the keepalive timeout (2 x 3 s) removes it
    const kill = async (w: LineWatcher) => {
      const from = server.out.length;
      const t0 = Date.now();
      w.child.kill('SIGKILL');
      await w.waitExit(5000);
      await server.waitFor((l) => /sx-c1\/.* removed: peer gone/.test(l), 20_000, 'sx-c1 to time out', from);
      return Date.now() - t0;
    };
    const took = await kill(c1);
    assert.ok(took >= 4000 && took <= 12_000, `removed after ${took} ms (keepalive timeout 6 s)`);
    assert.doesNotMatch(routes(), /via 10\.72\.0\.2/);
    const st = await waitStatus(read, (x) => x.clients.length === 1, 5000, 'sx-c1 gone from the status');
    assert.equal(st.clients[0].cn, 'sx-c2');
    assert.ok(!st.routes.some((r) => r.cn === 'sx-c1'), st.text);

    // the same name comes back to its address
    c1 = await s.startClient(1, 'udp', 1194);
    ws.push(c1);
    assert.equal(ifconfigOf(c1), '10.72.0.2');
    assert.match(routes(), /192\.168\.78\.0\/24 via 10\.72\.0\.2 .*metric 100/);
    await kill(c1);

    // another name gets the freed address (the only free one)
    const c3 = await s.startClient(3, 'udp', 1194);
    ws.push(c3);
    assert.equal(ifconfigOf(c3), '10.72.0.2');
    const p = await s.ping(s.nsS, '10.72.0.2');
    assert.equal(p.received, 3, p.out);

    // the persist file: written at exit with the names then connected
    const before = readFileSync(ipp, 'utf8');
    assert.ok(!before.includes('sx-c3'), `only the first tick's write so far:\n${before}`);
    server.child.kill('SIGTERM');
    assert.equal(await server.waitExit(8000), 0, server.tail(20));
    const saved = readFileSync(ipp, 'utf8');
    assert.match(saved, /^sx-c3,10\.72\.0\.2,$/m, saved);
    assert.match(saved, /^sx-c2,10\.72\.0\.3,$/m, saved);
    for (const w of [c2, c3]) {
      w.child.kill('SIGKILL');
      await w.waitExit(5000);
    }

    // restarted: sx-c2 comes first and still gets its address, not the free one before it
    server = await s.startServer(plan);
    ws.push(server);
    assert.ok(
      server.out.some((l) => l.includes("ifconfig_pool_read(), in='sx-c2,10.72.0.3,'")),
      server.tail(30),
    );
    const c2b = await s.startClient(2, 'udp', 1194);
    ws.push(c2b);
    assert.equal(ifconfigOf(c2b), '10.72.0.3');
  });
});
