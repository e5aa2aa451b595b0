/**
 * Username/password against Debian's OpenVPN 2.6 server (fixture.ts) checking them with
 * `--auth-user-pass-verify <script> via-file` and handing out tokens (`--auth-gen-token`), with a
 * server-started renegotiation every 8 s:
 * - a wrong password: AUTH_FAILED, logged and reported as the JSON error; the client exits 0 (as 2.6
 *   does with auth-retry none) and leaves no device;
 * - the right one (inline, with auth-nocache): the tunnel comes up and pings; the pushed token is
 *   what the renegotiations and a SIGUSR1 reconnection authenticate with (the script runs once); the
 *   password and the token never appear in the client's output.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { namespacePids } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  linkExists,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovaa0';
const USER = 'ovaa-user';
const PASSWORD = 'right horse 7';

describe('auth-user-pass, AUTH_FAILED and auth-token against OpenVPN 2.6 (netns)', {
  skip: openvpnLabSkip(),
  timeout: 120_000,
}, () => {
  let ol: OpenvpnLab;
  let scriptDir: string;
  let calls: string;
  let client: ClientProcess | undefined;

  before(async () => {
    scriptDir = mkdtempSync(join(tmpdir(), 'ovaa-script-'));
    calls = join(scriptDir, 'calls');
    const script = join(scriptDir, 'verify.sh');
    // via-file: $1 holds the username and the password on two lines; exit 0 accepts
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `echo "$(sed -n 1p "$1")" >> '${calls}'`,
        `[ "$(sed -n 1p "$1")" = '${USER}' ] && [ "$(sed -n 2p "$1")" = '${PASSWORD}' ] && exit 0`,
        'exit 1',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    ol = await startOpenvpnLab('ovaa', {
      serverArgs: [
        '--script-security',
        '2',
        '--auth-user-pass-verify',
        script,
        'via-file',
        '--auth-gen-token',
        // auth-gen-token wants its renewal time (reneg-sec) at least twice the hand-window
        '--reneg-sec',
        '8',
        '--hand-window',
        '4',
      ],
    });
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
    if (scriptDir !== undefined) rmSync(scriptDir, { recursive: true, force: true });
  });

  const scriptCalls = () =>
    existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : [];
  const msgs = (c: ClientProcess) =>
    c.out.flatMap((l) => {
      try {
        const ev = JSON.parse(l) as { event?: string; msg?: string };
        return ev.event === 'log' && typeof ev.msg === 'string' ? [ev.msg] : [];
      } catch {
        return [];
      }
    });

  it('a wrong password: AUTH_FAILED, the JSON error, exit 0 as in 2.6, no device left', async () => {
    const upFile = join(ol.dir, 'wrong.txt');
    writeFileSync(upFile, `${USER}\nnot the password\n`, { mode: 0o600 });
    const cfg = ol.writeClientConfig(
      [`dev ${TUN}`, 'dev-type tun', `auth-user-pass ${upFile}`],
      'wrong.ovpn',
    );
    const mark = ol.serverLog.length;
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    const errLine = await c.waitFor((l) => l.includes('"event":"error"'), 20_000, 'the error event');
    assert.match(JSON.parse(errLine).message, /^AUTH_FAILED/);
    assert.equal(await c.waitExit(10_000), 0, c.tail());
    const log = msgs(c);
    assert.ok(
      log.some((m) => /^AUTH: Received control message: AUTH_FAILED/.test(m)),
      c.tail(),
    );
    assert.ok(log.includes('SIGTERM[soft,auth-failure] received, process exiting'), c.tail());
    assert.ok(!c.out.some((l) => l.includes('"event":"up"')), 'never up');
    assert.equal(linkExists(ol.nsC, TUN), false, 'no device left');
    assert.deepEqual(namespacePids(ol.nsC), []);
    await ol.waitServerLog(/Auth Username\/Password verification failed/, 1000, mark);
    assert.deepEqual(scriptCalls(), [USER]);
    client = undefined;
  });

  it('the right password (inline, auth-nocache): up, ping, and the token in renegotiations and a reconnection', async () => {
    const before = scriptCalls().length;
    const cfg = ol.writeClientConfig(
      [
        `dev ${TUN}`,
        'dev-type tun',
        'verb 4',
        'auth-nocache',
        '<auth-user-pass>',
        USER,
        PASSWORD,
        '</auth-user-pass>',
      ],
      'right.ovpn',
    );
    const mark = ol.serverLog.length;
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    await c.waitEvent('up', 25_000);
    await ol.waitServerLog(
      new RegExp(`Username/Password authentication succeeded for username '${USER}'`),
      1000,
      mark,
    );
    const ping = await ol.lab.run(ol.nsC, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(ping.stdout, /3 packets transmitted, 3 received/, `${ping.stdout}\n${c.tail()}`);

    // the server renegotiates every 8 s: the client answers with the pushed token
    await ol.waitServerLog(
      new RegExp(`Username/auth-token authentication succeeded for username '${USER}'`),
      20_000,
      mark,
    );
    assert.ok(
      msgs(c).some((m) => m.startsWith('TLS: soft reset')),
      c.tail(),
    );
    assert.ok(msgs(c).includes('auth-token received: later authentications use it instead of the password'));

    // a reconnection keeps the token (2.6 keeps it across SIGUSR1): no new password check
    const mark2 = ol.serverLog.length;
    const from = c.out.length;
    process.kill(c.child.pid ?? 0, 'SIGUSR1');
    await c.waitEvent('up', 25_000, from);
    await ol.waitServerLog(/Peer Connection Initiated/, 5000, mark2);
    assert.ok(
      ol.serverLog
        .slice(mark2)
        .some((l) => l.includes(`Username/auth-token authentication succeeded for username '${USER}'`)),
      ol.serverLog.slice(mark2).join('\n'),
    );
    const again = await ol.lab.run(ol.nsC, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(again.stdout, /3 packets transmitted, 3 received/, `${again.stdout}\n${c.tail()}`);
    assert.equal(scriptCalls().length, before + 1, 'the verify script ran once: tokens did the rest');

    await stopClient(c);
    assert.equal(c.child.exitCode, 0, c.tail());
    client = undefined;
    // the secrets never show, not in the log nor in the JSON events (the pushed options are redacted)
    const all = [...c.out, ...c.err].join('\n');
    assert.ok(!all.includes(PASSWORD), 'the password is not in the output');
    assert.ok(!all.includes('SESS_ID_AT_'), 'the token is not in the output');
    assert.ok(all.includes('auth-token'), 'the PUSH_REPLY is logged, redacted');
  });
});
