/**
 * Authentication on the ovpn-ts server against stock OpenVPN 2.6 clients:
 *
 * - crl-verify: a revoked client is refused at its TLS handshake (the server logs 2.6's VERIFY ERROR;
 *   the stock client, as against a 2.6 server, hears nothing more and fails its handshake after its
 *   hand-window, then restarts); the CRL rewritten on disk is read again, so a client revoked later is
 *   refused without restarting the server;
 * - auth-user-pass-verify via-file and via-env: a wrong password gets AUTH_FAILED (the client says so
 *   and exits, as 2.6 makes it), the right one connects; with auth-gen-token the client is pushed a
 *   token and its renegotiations authenticate with it without running the script again;
 * - a slow script holds back only its own client (scripts run asynchronously);
 * - auth-gen-token with a renewal shorter than reneg-sec: fresh tokens on the server's timer.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCrl } from '../../support/pki.js';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';
import { fileLines, stopAll, writeScript } from './script-helpers.js';

describe('ovpn-ts server: crl-verify and auth-user-pass-verify', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sw', 3);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('crl-verify: a revoked client is refused, a CRL rewritten on disk applies to the next handshake', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const crl = join(s.dir, 'crl.pem');
    makeCrl(s.dir, 'crl.pem', ['c2']);
    const srv = await s.startServer({
      net: 73,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'swtun0',
      extra: [`crl-verify ${crl}`],
    });
    ws.push(srv);
    const c1 = await s.startClient(1, 'udp', 1194);
    ws.push(c1);
    assert.equal((await s.ping(s.clientNs[0], '10.73.0.1')).received, 3);

    // revoked: the server refuses it at the handshake, the client times out its handshake and restarts
    const c2 = s.spawnClient(2, 'udp', 1194, ['--hand-window', '4']);
    ws.push(c2);
    const verify = await srv.waitFor(
      (l) => l.includes('VERIFY ERROR') && l.includes('sw-c2'),
      15_000,
      'the server to refuse client 2',
      0,
    );
    assert.match(verify, /VERIFY ERROR: depth=0, error=certificate revoked: CN=sw-c2, serial=\d+/);
    await c2.waitFor((l) => l.includes('TLS Error: TLS handshake failed'), 15_000, 'client 2 to fail', 0);
    await c2.waitFor((l) => /SIGUSR1\[soft,tls-error\] received/.test(l), 5000, 'client 2 to restart', 0);
    assert.ok(
      c2.out.some((l) => l.includes('TLS key negotiation failed to occur within 4 seconds')),
      c2.tail(20),
    );
    assert.ok(!c2.out.some((l) => l.includes('Initialization Sequence Completed')), c2.tail(20));
    c2.child.kill('SIGTERM');

    // client 1 goes; the CRL now revokes it too; its next handshake is refused
    c1.child.kill('SIGTERM');
    await c1.waitExit(8000);
    makeCrl(s.dir, 'crl.pem', ['c1', 'c2']);
    const again = s.spawnClient(1, 'udp', 1194, ['--hand-window', '4']);
    ws.push(again);
    await srv.waitFor(
      (l) => /VERIFY ERROR: depth=0, error=certificate revoked: CN=sw-c1, serial=\d+/.test(l),
      15_000,
      'the server to refuse client 1 under the new CRL',
    );
    await again.waitFor((l) => l.includes('TLS Error: TLS handshake failed'), 15_000, 'client 1 to fail', 0);
    again.child.kill('SIGTERM');
    // a client the CRL does not name still connects to the same server process
    const c3 = await s.startClient(3, 'udp', 1194);
    ws.push(c3);
    assert.equal((await s.ping(s.clientNs[2], '10.73.0.1')).received, 3);
    assert.equal(srv.child.exitCode, null, 'the server was not restarted');
  });

  for (const method of ['via-file', 'via-env'] as const) {
    it(`auth-user-pass-verify ${method}: AUTH_FAILED for a wrong password, the right one connects; auth-gen-token renegotiations skip the script`, async (t) => {
      const ws: LineWatcher[] = [];
      t.after(() => stopAll(ws));
      const calls = join(s.dir, `upv-${method}.log`);
      const script = writeScript(join(s.dir, `upv-${method}.sh`), [
        method === 'via-file' ? '{ read -r u; read -r p; } < "$1"' : 'u="$username"; p="$password"',
        `echo "$script_type $u $common_name" >> ${calls}`,
        '[ "$u" = alice ] && [ "$p" = "s3cret pass" ] && exit 0',
        'exit 1',
      ]);
      const good = join(s.dir, 'good.pass');
      const bad = join(s.dir, 'bad.pass');
      writeFileSync(good, 'alice\ns3cret pass\n');
      writeFileSync(bad, 'alice\nwrong\n');
      const port = method === 'via-file' ? 1195 : 1196;
      const srv = await s.startServer({
        net: method === 'via-file' ? 72 : 71,
        topology: 'subnet',
        proto: 'udp',
        port,
        dev: method === 'via-file' ? 'swtun1' : 'swtun2',
        renegSec: 3600,
        extra: [
          // via-env hands the password in the environment: 2.6 wants script-security 3 for that
          `script-security ${method === 'via-env' ? 3 : 2}`,
          `auth-user-pass-verify ${script} ${method}`,
          'auth-gen-token',
        ],
      });
      ws.push(srv);

      const wrong = s.spawnClient(1, 'udp', port, ['--auth-user-pass', bad]);
      ws.push(wrong);
      await wrong.waitFor(
        (l) => l.includes('AUTH: Received control message: AUTH_FAILED'),
        15_000,
        'AUTH_FAILED',
        0,
      );
      // 2.6 without auth-retry: the client gives up
      assert.notEqual(await wrong.waitExit(8000), undefined, `the client exits:\n${wrong.tail(10)}`);
      assert.ok(
        wrong.out.some((l) => l.includes('SIGTERM[soft,auth-failure] received, process exiting')),
        wrong.tail(10),
      );
      assert.ok(
        srv.out.some((l) => l.includes("SENT CONTROL: 'AUTH_FAILED'")),
        `the server sent AUTH_FAILED:\n${srv.tail(30)}`,
      );
      assert.deepEqual(fileLines(calls), ['user-pass-verify alice sw-c1']);

      // the right password; the client renegotiates every 4 s or so (2.6 draws 70-100 % of reneg-sec)
      const ok = await s.startClient(1, 'udp', port, ['--auth-user-pass', good, '--reneg-sec', '4']);
      ws.push(ok);
      const net = method === 'via-file' ? 72 : 71;
      assert.equal((await s.ping(s.clientNs[0], `10.${net}.0.1`)).received, 3);
      assert.deepEqual(fileLines(calls), ['user-pass-verify alice sw-c1', 'user-pass-verify alice sw-c1']);
      assert.ok(
        srv.out.some((l) => /SENT CONTROL: 'PUSH_REPLY.*auth-token \[REDACTED\]/.test(l)),
        `the token is pushed, not logged:\n${srv.tail(20)}`,
      );
      assert.ok(!srv.out.some((l) => l.includes('SESS_ID_AT_')), 'no token in the server log');
      // two renegotiations authenticated by the token, not the script
      const from = 0;
      for (let n = 1; n <= 2; n++) {
        await srv.waitFor(
          () =>
            srv.out.filter((l) =>
              l.includes("TLS: Username/auth-token authentication succeeded for username 'alice'"),
            ).length >= n,
          20_000,
          `token renegotiation ${n}`,
          from,
        );
      }
      assert.deepEqual(
        fileLines(calls),
        ['user-pass-verify alice sw-c1', 'user-pass-verify alice sw-c1'],
        'the script did not run for the renegotiations',
      );
      assert.equal((await s.ping(s.clientNs[0], `10.${net}.0.1`)).received, 3, ok.tail(20));
      assert.ok(!ok.out.some((l) => l.includes('AUTH_FAILED')), ok.tail(20));
      assert.ok(!srv.out.some((l) => /removed:/.test(l) && l.includes('alice')), srv.tail(30));
    });
  }

  it('a slow auth-user-pass-verify holds back only its own client', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const script = writeScript(join(s.dir, 'upv-slow.sh'), [
      '{ read -r u; read -r p; } < "$1"',
      '[ "$u" = slow ] && /bin/sleep 8',
      '[ "$p" = ok ] && exit 0',
      'exit 1',
    ]);
    writeFileSync(join(s.dir, 'slow.pass'), 'slow\nok\n');
    writeFileSync(join(s.dir, 'quick.pass'), 'quick\nok\n');
    const srv = await s.startServer({
      net: 66,
      topology: 'subnet',
      proto: 'udp',
      port: 1197,
      dev: 'swtun7',
      extra: ['script-security 2', `auth-user-pass-verify ${script} via-file`],
    });
    ws.push(srv);
    const slow = s.spawnClient(1, 'udp', 1197, ['--auth-user-pass', join(s.dir, 'slow.pass')]);
    ws.push(slow);
    await srv.waitFor(
      (l) => l.includes('new connection from') && l.includes('10.76.1.2'),
      10_000,
      'client 1',
      0,
    );
    const started = Date.now();
    const quick = await s.startClient(2, 'udp', 1197, ['--auth-user-pass', join(s.dir, 'quick.pass')]);
    ws.push(quick);
    assert.ok(Date.now() - started < 6000, 'client 2 was not held up by client 1 script');
    assert.ok(
      !slow.out.some((l) => l.includes('Initialization Sequence Completed')),
      'client 1 is still waiting',
    );
    assert.equal((await s.ping(s.clientNs[1], '10.66.0.1')).received, 3);
    // and client 1 gets in once its script answers
    await slow.waitFor(
      (l) => l.includes('Initialization Sequence Completed'),
      20_000,
      'client 1 to connect',
      0,
    );
    assert.equal((await s.ping(s.clientNs[0], '10.66.0.1')).received, 3);
  });

  it('auth-gen-token renewal shorter than reneg-sec: the server sends the client a fresh token on its timer', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const calls = join(s.dir, 'upv-renew.log');
    const script = writeScript(join(s.dir, 'upv-renew.sh'), [
      '{ read -r u; read -r p; } < "$1"',
      `echo "$u" >> ${calls}`,
      '[ "$p" = ok ] && exit 0',
      'exit 1',
    ]);
    writeFileSync(join(s.dir, 'renew.pass'), 'carol\nok\n');
    const srv = await s.startServer({
      net: 65,
      topology: 'subnet',
      proto: 'udp',
      port: 1198,
      dev: 'swtun8',
      renegSec: 3600,
      extra: ['script-security 2', `auth-user-pass-verify ${script} via-file`, 'auth-gen-token 0 3'],
    });
    ws.push(srv);
    const c = await s.startClient(1, 'udp', 1198, ['--auth-user-pass', join(s.dir, 'renew.pass')]);
    ws.push(c);
    const first = c.out.findIndex((l) => l.includes('PUSH: Received control message'));
    for (let n = 1; n <= 2; n++) {
      await c.waitFor(
        () =>
          c.out.filter((l) => /PUSH: Received control message: 'PUSH_REPLY,auth-token/.test(l)).length >= n,
        10_000,
        `token update ${n}`,
        first + 1,
      );
    }
    assert.deepEqual(fileLines(calls), ['carol'], 'the script ran once');
    assert.equal((await s.ping(s.clientNs[0], '10.65.0.1')).received, 3);
  });
});
