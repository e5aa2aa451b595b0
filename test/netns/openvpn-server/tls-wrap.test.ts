/**
 * The control-channel wrappings on the ovpn-ts server against stock 2.6 clients: tls-auth and
 * tls-crypt (the stateless cookie reply wrapped with replay id 1, the session continuing after it),
 * one UDP and one TCP client each; a client with the wrong key gets no answer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: tls-auth and tls-crypt', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sc', 3);
    for (const k of ['ta.key', 'other.key']) execFileSync('openvpn', ['--genkey', 'secret', join(s.dir, k)]);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  for (const mode of ['tls-auth', 'tls-crypt'] as const) {
    it(`${mode}: UDP and TCP clients connect and ping; a wrong key gets nowhere`, async (t) => {
      const ws: LineWatcher[] = [];
      t.after(async () => {
        for (const w of ws)
          if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
        await Promise.all(ws.map((w) => w.waitExit(5000)));
      });
      const key = join(s.dir, 'ta.key');
      const serverLine = mode === 'tls-auth' ? `tls-auth ${key} 0` : `tls-crypt ${key}`;
      const clientArgs = (k: string) => (mode === 'tls-auth' ? ['--tls-auth', k, '1'] : ['--tls-crypt', k]);
      const plan = { topology: 'subnet' as const, extra: [serverLine] };
      const udp = await s.startServer({ ...plan, net: 75, proto: 'udp', port: 1194, dev: 'sctun0' });
      ws.push(udp);
      ws.push(await s.startServer({ ...plan, net: 74, proto: 'tcp', port: 1195, dev: 'sctun1' }));
      ws.push(await s.startClient(1, 'udp', 1194, clientArgs(key)));
      ws.push(await s.startClient(2, 'tcp', 1195, clientArgs(key)));
      for (const [i, dst] of [
        [0, '10.75.0.1'],
        [1, '10.74.0.1'],
      ] as const) {
        const r = await s.ping(s.clientNs[i], dst);
        assert.equal(r.received, 3, r.out);
      }
      const wrong = s.startClient(3, 'udp', 1194, clientArgs(join(s.dir, 'other.key')));
      await assert.rejects(wrong, /timed out/);
      assert.ok(
        !udp.out.some((l) => l.includes('new connection from 10.76.3.')),
        'no session for the wrong key',
      );
    });
  }
});
