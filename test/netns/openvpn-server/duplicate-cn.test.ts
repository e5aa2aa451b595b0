/**
 * One certificate, two clients. Without `duplicate-cn` a second session with a common name already
 * connected drops the first, as 2.6's multi_delete_dup does (with its log line); with `duplicate-cn`
 * both stay, each with its own address.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: one common name, two clients', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sdup', 2);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });
  /** Client 2 with client 1's certificate. */
  const asClient1 = () => ['--cert', join(s.dir, 'c1.crt'), '--key', join(s.dir, 'c1.key')];

  it('without duplicate-cn the newer session drops the older one', async () => {
    const srv = await s.startServer({
      net: 73,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sduptun0',
    });
    const first = await s.startClient(1, 'udp', 1194, ['--ping-restart', '0']);
    const second = await s.startClient(2, 'udp', 1194, asClient1());
    await srv.waitFor(
      (l) => l.includes('will cause previous active sessions by this client to be dropped'),
      5000,
      'the drop',
      0,
    );
    // the second session has the address the name held; the first is gone from the server
    const r2 = await s.ping(s.clientNs[1], '10.73.0.1');
    assert.equal(r2.received, 3, r2.out);
    const r1 = await s.ping(s.clientNs[0], '10.73.0.1');
    assert.equal(r1.received, 0, `the dropped session no longer reaches the server:\n${srv.tail(20)}`);
    for (const w of [first, second, srv]) w.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
    await Promise.all([first.waitExit(8000), second.waitExit(8000)]);
  });

  it('with duplicate-cn both sessions stay, each with its own address', async () => {
    const srv = await s.startServer({
      net: 74,
      topology: 'subnet',
      proto: 'udp',
      port: 1195,
      dev: 'sduptun1',
      extra: ['duplicate-cn'],
    });
    const c1 = await s.startClient(1, 'udp', 1195);
    const c2 = await s.startClient(2, 'udp', 1195, asClient1());
    const [a, b] = await Promise.all([
      s.ping(s.clientNs[0], '10.74.0.1'),
      s.ping(s.clientNs[1], '10.74.0.1'),
    ]);
    assert.equal(a.received, 3, `${a.out}\n${c1.tail(10)}`);
    assert.equal(b.received, 3, `${b.out}\n${c2.tail(10)}`);
    assert.ok(!srv.out.some((l) => l.includes('previous active sessions')), srv.tail(20));
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(8000), 0, srv.tail(20));
  });
});
