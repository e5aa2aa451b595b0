/**
 * The server-side script environment and auth tokens of src/openvpn/server/ checked against what
 * Debian's OpenVPN 2.6 server really gives its scripts: a stock server (fixture.ts) with tls-verify,
 * auth-user-pass-verify via-env, client-connect and client-disconnect all pointing at one script that
 * dumps its arguments and environment, `auth-gen-token` with a secret file, and a stock 2.6 client.
 * Each dump is compared with the builders (x509Env, linkEnv, peerInfoEnv, clientConnectEnv,
 * serverProcessEnv, clientDisconnectEnv, sessionTokenEnv), and the token the server generated (from
 * its verb 7 log) must verify with verifyAuthToken under the same secret.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  parseAuthTokenSecret,
  tokenAccepted,
  verifyAuthToken,
} from '../../../src/openvpn/server/auth-token-gen.js';
import {
  clientConnectEnv,
  linkEnv,
  peerInfoEnv,
  serverProcessEnv,
  timeAscii,
  x509Env,
} from '../../../src/openvpn/server/server-script-env.js';
import {
  CLIENT_LINK,
  type ClientProcess,
  type OpenvpnLab,
  openvpnLabSkip,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const PREFIX = 'sa';
const USER = 'sa-alice';
const PASSWORD = 'pw of sa';

type Dump = { args: string[]; env: Record<string, string> };

function readDumps(dir: string): Map<string, Dump[]> {
  const out = new Map<string, Dump[]>();
  for (const f of readdirSync(dir).sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    const [argLine, ...lines] = text.split('\0');
    const env: Record<string, string> = {};
    for (const l of lines) {
      const eq = l.indexOf('=');
      if (eq > 0) env[l.slice(0, eq)] = l.slice(eq + 1);
    }
    const type = env.script_type ?? 'unknown';
    out.set(type, [...(out.get(type) ?? []), { args: argLine.split('\n').filter((a) => a !== ''), env }]);
  }
  return out;
}

function der(dir: string, file: string): Buffer {
  return execFileSync('openssl', ['x509', '-in', join(dir, file), '-outform', 'DER']);
}

describe('server script environment and auth-gen-token against OpenVPN 2.6 (netns)', {
  skip: openvpnLabSkip(),
  timeout: 120_000,
}, () => {
  let ol: OpenvpnLab | undefined;
  let work: string;
  let dumps: string;
  let client: ClientProcess | undefined;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'sa-env-'));
    dumps = join(work, 'dumps');
    mkdirSync(dumps);
    mkdirSync(join(work, 'tmp'));
    const script = join(work, 'dump.sh');
    // arguments one per line, then a NUL, then the environment NUL-separated
    writeFileSync(
      script,
      `#!/bin/sh\nf="${dumps}/$(date +%s%N)-$$"\nprintf '%s\\n' "$@" > "$f"\nprintf '\\0' >> "$f"\n/usr/bin/env -0 >> "$f"\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    execFileSync('openvpn', ['--genkey', 'auth-token', join(work, 'at.key')], { stdio: 'pipe' });
    ol = await startOpenvpnLab(PREFIX, {
      serverArgs: [
        '--dev',
        'sas0',
        '--dev-type',
        'tun',
        '--script-security',
        '2',
        '--tls-verify',
        script,
        '--auth-user-pass-verify',
        script,
        'via-env',
        '--client-connect',
        script,
        '--client-disconnect',
        script,
        '--auth-gen-token',
        '3600',
        '--auth-gen-token-secret',
        join(work, 'at.key'),
        '--tmp-dir',
        join(work, 'tmp'),
        '--setenv',
        'SA_SITE',
        'lab',
        '--verb',
        '7',
      ],
    });
    writeFileSync(join(work, 'up.txt'), `${USER}\n${PASSWORD}\n`);
    const cfg = ol.writeClientConfig([
      'dev sac0',
      'dev-type tun',
      `auth-user-pass ${join(work, 'up.txt')}`,
      'setenv UV_SA_TEST hello',
      'push-peer-info',
      'explicit-exit-notify 1',
      'verb 3',
    ]);
    client = ol.spawnClient(['--config', cfg], 'openvpn');
    await ol.waitServerLog(/MULTI: Learn: /, 20_000, 0);
    await stopClient(client);
    // the client's explicit-exit-notify makes the server drop it and run client-disconnect
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !readDumps(dumps).has('client-disconnect')) {
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (client !== undefined) await stopClient(client).catch(() => {});
    if (ol !== undefined) assert.deepEqual(await ol.cleanup(), []);
    rmSync(work, { recursive: true, force: true });
  });

  it('tls-verify: `depth subject` root first, with X509_*, tls_* and untrusted_* as x509Env/linkEnv build them', () => {
    const d = readDumps(dumps).get('tls-verify') ?? [];
    assert.equal(d.length, 2, 'one run per certificate');
    const dir = ol?.dir as string;
    const chain = [der(dir, 'client.crt'), der(dir, 'ca.crt')];
    assert.deepEqual(d[0].args, ['1', `CN=${PREFIX}-ca`]);
    assert.deepEqual(d[1].args, ['0', `CN=${PREFIX}-client`]);
    for (const [i, depth] of [
      [0, 1],
      [1, 0],
    ]) {
      const theirs = Object.fromEntries(Object.entries(d[i].env).filter(([k]) => /^(X509_|tls_)/.test(k)));
      assert.deepEqual(theirs, x509Env(chain, depth), `depth ${depth}`);
    }
    const link = Object.fromEntries(Object.entries(d[1].env).filter(([k]) => k.startsWith('untrusted_')));
    assert.deepEqual(link, linkEnv('untrusted', CLIENT_LINK, Number(link.untrusted_port)));
  });

  it('auth-user-pass-verify via-env: username (no password below script-security 3), common_name, session_state Initial, peer info as peerInfoEnv reads it', () => {
    const d = readDumps(dumps).get('user-pass-verify') ?? [];
    assert.equal(d.length, 1);
    const env = d[0].env;
    assert.deepEqual(d[0].args, []);
    assert.equal(env.username, USER);
    assert.equal(env.password, undefined, 'script-security 2: no password variable (env_allowed)');
    assert.equal(env.common_name, `${PREFIX}-client`);
    assert.equal(env.session_state, 'Initial');
    assert.match(env.session_id, /^[A-Za-z0-9+/]{16}$/);
    // the peer info the server logged, read by peerInfoEnv, gives exactly the IV_/UV_ variables it set
    const lines = (ol?.serverLog ?? []).flatMap((l) => {
      const m = /peer info: (.*)$/.exec(l);
      return m === null ? [] : [m[1]];
    });
    assert.ok(lines.length > 3, 'the server logged the peer info');
    const ours = peerInfoEnv(`${lines.join('\n')}\n`).env;
    const theirs = Object.fromEntries(Object.entries(env).filter(([k]) => /^(IV|UV)_/.test(k)));
    assert.deepEqual(theirs, ours);
    assert.equal(theirs.UV_SA_TEST, 'hello');
  });

  it('the token the server generated verifies under the same secret, with the session id the script saw', () => {
    const line = (ol?.serverLog ?? []).find((l) => l.includes('Generated token for client:'));
    assert.ok(line !== undefined, 'verb 7 logs the generated token');
    const token = /Generated token for client: (SESS_ID_AT_\S+)/.exec(line)?.[1] as string;
    const key = parseAuthTokenSecret(readFileSync(join(work, 'at.key'), 'utf8'));
    const now = Math.floor(Date.now() / 1000);
    const v = verifyAuthToken(key, {
      token,
      username: USER,
      nowSec: now,
      renewal: 3600,
      lifetime: 3600,
      initial: undefined,
    });
    assert.ok(tokenAccepted(v), v.notes.join('; '));
    assert.equal(
      verifyAuthToken(key, {
        token,
        username: 'someone-else',
        nowSec: now,
        renewal: 3600,
        lifetime: 0,
        initial: undefined,
      }).hmacOk,
      false,
    );
    const upv = readDumps(dumps).get('user-pass-verify')?.[0];
    assert.equal(token.slice(11, 27), upv?.env.session_id);
  });

  it('client-connect: the config file argument, trusted address, pool, times and the process variables', () => {
    const d = readDumps(dumps).get('client-connect') ?? [];
    assert.equal(d.length, 1);
    const env = d[0].env;
    assert.equal(d[0].args.length, 1);
    assert.equal(env.client_connect_config_file, d[0].args[0]);
    assert.match(d[0].args[0], new RegExp(`^${join(work, 'tmp')}/openvpn_cc_[0-9a-f]{16,32}\\.tmp$`));
    assert.equal(existsSync(d[0].args[0]), false, 'removed afterwards');
    const created = Number(env.time_unix);
    const expect = clientConnectEnv({
      commonName: `${PREFIX}-client`,
      remote: { address: CLIENT_LINK, port: Number(env.trusted_port) },
      topology: 'subnet',
      virtual: { ipv4: { local: '10.98.0.2', remoteNetmask: '255.255.255.0' }, ipv6: undefined },
      created,
    });
    for (const [k, v] of Object.entries(expect)) {
      if (k === 'time_ascii') continue;
      assert.equal(env[k], v, k);
    }
    assert.equal(env.time_ascii, timeAscii(created));
    const proc = serverProcessEnv({
      config: undefined,
      verb: 7,
      daemon: false,
      logRedirect: false,
      startTime: Number(env.daemon_start_time),
      pid: Number(env.daemon_pid),
      listen: { proto: 'udp', family: 'dual', local: undefined, port: 1194 },
      setenv: new Map([['SA_SITE', 'lab']]),
      dev: 'sas0',
      tunMtu: 1500,
      topology: 'subnet',
      ifconfig: { local: '10.98.0.1', remoteNetmask: '255.255.255.0' },
      ifconfigIpv6: undefined,
    });
    for (const [k, v] of Object.entries(proc)) assert.equal(env[k], v, k);
    // every variable 2.6 set is built by one of the steps, except the deferred-auth and deferred
    // client-connect files (not supported) and PWD (added by the shell running the script)
    const dir = ol?.dir as string;
    const upv = readDumps(dumps).get('user-pass-verify')?.[0].env ?? {};
    const ours = new Set([
      ...Object.keys(proc),
      ...Object.keys(expect),
      ...Object.keys(x509Env([der(dir, 'client.crt'), der(dir, 'ca.crt')])),
      ...Object.keys(upv).filter((k) => /^(IV|UV)_/.test(k)),
      // the user-pass verdict's env (username, common_name, untrusted_*, session_*), then this script's
      'username',
      'untrusted_ip',
      'untrusted_port',
      'session_state',
      'session_id',
      'script_type',
      'client_connect_config_file',
    ]);
    const unsupported = [
      'auth_control_file',
      'auth_failed_reason_file',
      'auth_pending_file',
      'client_connect_deferred_file',
      'PWD',
    ];
    const theirs = Object.keys(env).filter((k) => !unsupported.includes(k));
    assert.deepEqual(theirs.sort(), [...ours].sort());
  });

  it('client-disconnect: bytes_received, bytes_sent and time_duration on top', () => {
    const d = readDumps(dumps).get('client-disconnect') ?? [];
    assert.equal(d.length, 1);
    const env = d[0].env;
    assert.match(env.bytes_received, /^[1-9]\d*$/);
    assert.match(env.bytes_sent, /^[1-9]\d*$/);
    assert.match(env.time_duration, /^\d+$/);
    assert.equal(env.common_name, `${PREFIX}-client`);
    assert.equal(env.trusted_ip, CLIENT_LINK);
  });
});
