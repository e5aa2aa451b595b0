/**
 * tls-crypt-v2 on the ovpn-ts server with stock 2.6 clients (keys from `openvpn --genkey`): UDP (the
 * early-negotiation cookie exchange with the WKc resent) and TCP clients connect and ping;
 * `tls-crypt-v2-verify` sees each client key's metadata and refuses the client whose metadata it does
 * not like (the server goes no further with it; the client's handshake times out, as against 2.6).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';
import { fileLines, stopAll, writeScript } from './script-helpers.js';

describe('ovpn-ts server: tls-crypt-v2 and tls-crypt-v2-verify', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sw', 3);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('UDP and TCP clients with accepted metadata connect; one with refused metadata gets no session', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const serverKey = join(s.dir, 'v2-server.key');
    execFileSync('openvpn', ['--genkey', 'tls-crypt-v2-server', serverKey]);
    const clientKey = (name: string, metadata: string) => {
      const path = join(s.dir, `v2-${name}.key`);
      execFileSync('openvpn', [
        '--tls-crypt-v2',
        serverKey,
        '--genkey',
        'tls-crypt-v2-client',
        path,
        Buffer.from(metadata).toString('base64'),
      ]);
      return path;
    };
    const good = clientKey('good', 'team-a');
    const evil = clientKey('evil', 'team-x');
    const seen = join(s.dir, 'v2-verify.log');
    const verify = writeScript(join(s.dir, 'v2-verify.sh'), [
      'read -r m < "$metadata_file"',
      `echo "$script_type $metadata_type $m" >> ${seen}`,
      '[ "$m" = team-a ] && exit 0',
      'exit 1',
    ]);
    const extra = [`tls-crypt-v2 ${serverKey}`, 'script-security 2', `tls-crypt-v2-verify ${verify}`];
    const udp = await s.startServer({
      net: 68,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'swtun5',
      extra,
    });
    ws.push(udp);
    const tcp = await s.startServer({
      net: 67,
      topology: 'subnet',
      proto: 'tcp',
      port: 1195,
      dev: 'swtun6',
      extra,
    });
    ws.push(tcp);

    ws.push(
      await s.startClient(1, 'udp', 1194, ['--tls-crypt-v2', good]).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\nSERVER:\n${udp.tail(40)}`);
      }),
    );
    assert.equal((await s.ping(s.clientNs[0], '10.68.0.1')).received, 3);
    ws.push(
      await s.startClient(3, 'tcp', 1195, ['--tls-crypt-v2', good]).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\nSERVER:\n${tcp.tail(40)}`);
      }),
    );
    assert.equal((await s.ping(s.clientNs[2], '10.67.0.1')).received, 3);

    const refused = s.spawnClient(2, 'udp', 1194, ['--tls-crypt-v2', evil, '--hand-window', '4']);
    ws.push(refused);
    await udp.waitFor(
      (l) => l.includes('TLS CRYPT V2 VERIFY SCRIPT ERROR'),
      15_000,
      'the script to refuse',
      0,
    );
    await refused.waitFor(
      (l) => l.includes('TLS Error: TLS handshake failed'),
      15_000,
      'client 2 to fail',
      0,
    );
    assert.ok(!refused.out.some((l) => l.includes('Initialization Sequence Completed')), refused.tail(20));
    assert.ok(
      udp.out.some(
        (l) => l.includes('10.76.2.2') && l.includes('tls-crypt-v2-verify refused the client key'),
      ),
      udp.tail(30),
    );
    const lines = fileLines(seen);
    assert.ok(lines.includes('tls-crypt-v2-verify 0 team-a'), lines.join('\n'));
    assert.ok(lines.includes('tls-crypt-v2-verify 0 team-x'), lines.join('\n'));
    assert.equal(lines.filter((l) => l.endsWith('team-a')).length, 2, 'one run per accepted client session');
  });
});
