/**
 * client-config-dir on the ovpn-ts server: a client's file gives it a fixed address (`ifconfig-push`)
 * and an extra pushed route; a file with `disable` gets the client AUTH_FAILED.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

describe('ovpn-ts server: client-config-dir', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sc', 2);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('ifconfig-push and push from the ccd file; disable refuses with AUTH_FAILED', async () => {
    const ccd = join(s.dir, 'ccd');
    mkdirSync(ccd);
    writeFileSync(
      join(ccd, 'sc-c1'),
      'ifconfig-push 10.75.0.50 255.255.255.0\npush "route 192.0.2.0 255.255.255.0"\n',
    );
    writeFileSync(join(ccd, 'sc-c2'), 'disable\n');
    await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sctun0',
      extra: [`client-config-dir ${ccd}`],
    });
    const c1 = await s.startClient(1, 'udp', 1194);
    const reply = c1.out.find((l) => l.includes('PUSH_REPLY')) ?? '';
    assert.match(reply, /ifconfig 10\.75\.0\.50 255\.255\.255\.0/);
    assert.match(reply, /route 192\.0\.2\.0 255\.255\.255\.0/);
    const r = await s.ping(s.nsS, '10.75.0.50');
    assert.equal(r.received, 3, r.out);
    const c2 = s.startClient(2, 'udp', 1194);
    await assert.rejects(c2, /AUTH_FAILED/);
  });
});
