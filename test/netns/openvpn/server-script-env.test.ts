/**
 * The server-side script environment and auth tokens of src/openvpn/server/ checked against what
 * Debian's OpenVPN 2.6 server really gives its scripts: a stock server (fixture.ts) with tls-verify,
 * auth-user-pass-verify via-env, client-connect and client-disconnect all pointing at one script that
 * dumps its arguments and environment (and `up`/`down`, the server's own), `auth-gen-token` with a
 * secret file, and a stock 2.6 client.
 * Our functions (runTlsVerify, verifyUserPass, runClientConnect, runClientDisconnect, with the env
 * builders) are run for the same client with a recording runner, and what they would hand the script
 * must equal what 2.6 handed it, variable for variable (only the variables of deferred auth and
 * deferred client-connect, which ovpn-ts does not offer, are left out). The token the server
 * generated (from its verb 7 log) must verify with verifyAuthToken under the same secret.
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
import { loadServerConfig } from '../../../src/config/load.js';
import type { ServerOptions } from '../../../src/config/server-options.js';
import {
  parseAuthTokenSecret,
  tokenAccepted,
  verifyAuthToken,
} from '../../../src/openvpn/server/auth-token-gen.js';
import { runTlsVerify } from '../../../src/openvpn/server/client-cert-check.js';
import {
  runClientConnect,
  runClientDisconnect,
  runServerUpDown,
} from '../../../src/openvpn/server/client-scripts.js';
import {
  allowedEnv,
  type ScriptResult,
  type ScriptRunner,
} from '../../../src/openvpn/server/script-runner.js';
import {
  clientConnectEnv,
  clientDisconnectEnv,
  mergeEnv,
  peerInfoEnv,
  serverProcessEnv,
  serverProcessEnvInput,
  timeAscii,
  x509Env,
} from '../../../src/openvpn/server/server-script-env.js';
import { nodeTempFiles } from '../../../src/openvpn/server/temp-file.js';
import {
  newClientAuthState,
  userPassConfig,
  verifyUserPass,
} from '../../../src/openvpn/server/user-pass-verify.js';
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

/** 2.6 variables of features ovpn-ts leaves out (deferred auth, deferred client-connect), and sh's PWD. */
const UNSUPPORTED = [
  'auth_control_file',
  'auth_failed_reason_file',
  'auth_pending_file',
  'client_connect_deferred_file',
  'PWD',
];

/** A runner that records what it was asked to run and accepts. */
class Recorder implements ScriptRunner {
  calls: { argv: string[]; env: Record<string, string> }[] = [];
  async run(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<ScriptResult> {
    this.calls.push({ argv: [...argv], env: { ...env } });
    return { exitCode: 0, signal: undefined, error: undefined };
  }
}

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
  let script: string;
  let options: ServerOptions;

  /** What the test adds to the fixture's server arguments. */
  const serverArgs = () => [
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
    '--up',
    script,
    '--down',
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
  ];

  /** The same server command line (the fixture's arguments, then ours) through our config loader. */
  const loadOptions = async (): Promise<ServerOptions> => {
    const dir = ol?.dir as string;
    const fixtureArgs = [
      '--server',
      '10.98.0.0',
      '255.255.255.0',
      '--topology',
      'subnet',
      '--dev',
      'tun',
      '--proto',
      'udp',
      '--port',
      '1194',
      '--ca',
      join(dir, 'ca.crt'),
      '--cert',
      join(dir, 'server.crt'),
      '--key',
      join(dir, 'server.key'),
      '--dh',
      'none',
      '--data-ciphers',
      'AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305',
      '--verb',
      '4',
      '--keepalive',
      '10',
      '60',
    ];
    const loaded = await loadServerConfig([...fixtureArgs, ...serverArgs()], {
      readFile: (p) => readFileSync(p),
      cwd: work,
      env: {},
    });
    return loaded.options;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'sa-env-'));
    dumps = join(work, 'dumps');
    mkdirSync(dumps);
    mkdirSync(join(work, 'tmp'));
    script = join(work, 'dump.sh');
    // arguments one per line, then a NUL, then the environment NUL-separated
    writeFileSync(
      script,
      `#!/bin/sh\nf="${dumps}/$(date +%s%N)-$$"\nprintf '%s\\n' "$@" > "$f"\nprintf '\\0' >> "$f"\n/usr/bin/env -0 >> "$f"\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    execFileSync('openvpn', ['--genkey', 'auth-token', join(work, 'at.key')], { stdio: 'pipe' });
    ol = await startOpenvpnLab(PREFIX, {
      serverArgs: serverArgs(),
    });
    options = await loadOptions();
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

  /** What is compared: 2.6's variables without those of unsupported features and the shell's PWD. */
  const comparable = (env: Record<string, string>): Record<string, string> => {
    const out = { ...env };
    for (const k of UNSUPPORTED) delete out[k];
    return out;
  };
  const only = (type: string): Dump => {
    const d = readDumps(dumps).get(type) ?? [];
    assert.equal(d.length, 1, `one ${type} run`);
    return d[0];
  };
  const chain = () => [der(ol?.dir as string, 'client.crt'), der(ol?.dir as string, 'ca.crt')];
  const peerInfo = (): Record<string, string> => {
    const lines = (ol?.serverLog ?? []).flatMap((l) => {
      const m = /peer info: (.*)$/.exec(l);
      return m === null ? [] : [m[1]];
    });
    assert.ok(lines.length > 3, 'the server logged the peer info');
    return peerInfoEnv(`${lines.join('\n')}\n`).env;
  };
  const processEnv = (ref: Record<string, string>) =>
    serverProcessEnv(
      serverProcessEnvInput(options, {
        config: undefined,
        daemon: false,
        logRedirect: false,
        startTime: Number(ref.daemon_start_time),
        pid: Number(ref.daemon_pid),
        dev: 'sas0',
      }),
    );
  const tokenKey = () => parseAuthTokenSecret(readFileSync(join(work, 'at.key'), 'utf8'));
  const remote = (env: Record<string, string>) => ({
    address: CLIENT_LINK,
    port: Number(env.untrusted_port ?? env.trusted_port),
  });

  /** Our authentication of the same client, as the shell would run it; returns its verdict and script env. */
  const ourAuth = async () => {
    const upv = only('user-pass-verify').env;
    const rec = new Recorder();
    const st = newClientAuthState();
    const v = await verifyUserPass(
      userPassConfig(options, tokenKey()),
      st,
      {
        username: USER,
        password: PASSWORD,
        credentialsTooLong: false,
        commonName: `${PREFIX}-client`,
        remote: remote(upv),
        env: mergeEnv(processEnv(upv), x509Env(chain()), peerInfo()),
        nowSec: Math.floor(Date.now() / 1000),
      },
      { runner: rec, tmp: nodeTempFiles, log: () => {} },
    );
    assert.equal(v.kind, 'ok');
    // the session id is random: take 2.6's
    const verdictEnv = v.kind === 'ok' ? { ...v.env, session_id: upv.session_id } : {};
    return { rec, verdictEnv, state: st };
  };

  it('tls-verify: runTlsVerify gives the same arguments and environment at each depth', async () => {
    const d = readDumps(dumps).get('tls-verify') ?? [];
    assert.equal(d.length, 2, 'one run per certificate');
    assert.deepEqual(d[0].args, ['1', `CN=${PREFIX}-ca`]);
    assert.deepEqual(d[1].args, ['0', `CN=${PREFIX}-client`]);
    const rec = new Recorder();
    assert.equal(
      await runTlsVerify(
        options.scripts.tlsVerify as string,
        chain(),
        processEnv(d[0].env),
        remote(d[0].env),
        {
          runner: rec,
          log: () => {},
        },
      ),
      true,
    );
    assert.equal(rec.calls.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(rec.calls[i].argv.slice(1), d[i].args);
      assert.deepEqual(allowedEnv(rec.calls[i].env, 2), comparable(d[i].env), `depth ${1 - i}`);
    }
  });

  it('auth-user-pass-verify via-env: verifyUserPass runs the script with the same environment (no password below script-security 3)', async () => {
    const theirs = only('user-pass-verify');
    assert.deepEqual(theirs.args, []);
    assert.equal(theirs.env.password, undefined);
    assert.equal(theirs.env.session_state, 'Initial');
    assert.equal(theirs.env.UV_SA_TEST, 'hello');
    const { rec } = await ourAuth();
    assert.equal(rec.calls.length, 1);
    assert.deepEqual(rec.calls[0].argv, [script]);
    assert.equal(
      rec.calls[0].env.password,
      PASSWORD,
      'given to the runner, which drops it at script-security 2',
    );
    const ours = allowedEnv(rec.calls[0].env, 2);
    assert.match(ours.session_id, /^[A-Za-z0-9+/]{16}$/);
    ours.session_id = theirs.env.session_id;
    assert.deepEqual(ours, comparable(theirs.env));
  });

  it('the token the server generated verifies under the same secret, with the session id the script saw', () => {
    const line = (ol?.serverLog ?? []).find((l) => l.includes('Generated token for client:'));
    assert.ok(line !== undefined, 'verb 7 logs the generated token');
    const token = /Generated token for client: (SESS_ID_AT_\S+)/.exec(line)?.[1] as string;
    const now = Math.floor(Date.now() / 1000);
    const v = verifyAuthToken(tokenKey(), {
      token,
      username: USER,
      nowSec: now,
      renewal: 3600,
      lifetime: 3600,
      initial: undefined,
    });
    assert.ok(tokenAccepted(v), v.notes.join('; '));
    assert.equal(
      verifyAuthToken(tokenKey(), {
        token,
        username: 'someone-else',
        nowSec: now,
        renewal: 3600,
        lifetime: 0,
        initial: undefined,
      }).hmacOk,
      false,
    );
    assert.equal(token.slice(11, 27), only('user-pass-verify').env.session_id);
  });

  it('client-connect: runClientConnect with the client env the shell builds gives the same environment', async () => {
    const theirs = only('client-connect');
    assert.equal(theirs.args.length, 1);
    assert.equal(theirs.env.client_connect_config_file, theirs.args[0]);
    assert.match(theirs.args[0], new RegExp(`^${join(work, 'tmp')}/openvpn_cc_[0-9a-f]{16,32}\\.tmp$`));
    assert.equal(existsSync(theirs.args[0]), false, 'removed afterwards');
    assert.equal(theirs.env.time_ascii, timeAscii(Number(theirs.env.time_unix)));
    const { verdictEnv } = await ourAuth();
    const env = mergeEnv(
      processEnv(theirs.env),
      x509Env(chain()),
      peerInfo(),
      verdictEnv,
      clientConnectEnv({
        commonName: `${PREFIX}-client`,
        remote: remote(theirs.env),
        topology: 'subnet',
        virtual: { ipv4: { local: '10.98.0.2', remoteNetmask: '255.255.255.0' }, ipv6: undefined },
        created: Number(theirs.env.time_unix),
      }),
    );
    const rec = new Recorder();
    const r = await runClientConnect(options.scripts.clientConnect as string, env, options.tmpDir, {
      runner: rec,
      tmp: nodeTempFiles,
      log: () => {},
    });
    assert.equal(r.ok, true);
    const ours = allowedEnv(rec.calls[0].env, 2);
    assert.equal(rec.calls[0].argv.at(-1), ours.client_connect_config_file);
    ours.client_connect_config_file = theirs.env.client_connect_config_file;
    assert.deepEqual(ours, comparable(theirs.env));
  });

  it('client-disconnect: the client env with clientDisconnectEnv on top gives the same environment', async () => {
    const theirs = only('client-disconnect');
    assert.deepEqual(theirs.args, []);
    assert.match(theirs.env.bytes_received, /^[1-9]\d*$/);
    assert.match(theirs.env.bytes_sent, /^[1-9]\d*$/);
    const { verdictEnv } = await ourAuth();
    const created = Number(theirs.env.time_unix);
    const env = mergeEnv(
      processEnv(theirs.env),
      x509Env(chain()),
      peerInfo(),
      verdictEnv,
      clientConnectEnv({
        commonName: `${PREFIX}-client`,
        remote: remote(theirs.env),
        topology: 'subnet',
        virtual: { ipv4: { local: '10.98.0.2', remoteNetmask: '255.255.255.0' }, ipv6: undefined },
        created,
      }),
      clientDisconnectEnv({
        remote: remote(theirs.env),
        bytesReceived: BigInt(theirs.env.bytes_received),
        bytesSent: BigInt(theirs.env.bytes_sent),
        created,
        now: created + Number(theirs.env.time_duration),
      }),
    );
    const rec = new Recorder();
    assert.equal(
      await runClientDisconnect(options.scripts.clientDisconnect as string, env, {
        runner: rec,
        tmp: nodeTempFiles,
        log: () => {},
      }),
      true,
    );
    assert.deepEqual(allowedEnv(rec.calls[0].env, 2), comparable(theirs.env));
  });
  it('up and down (after SIGTERM): runServerUpDown gives the same arguments and environment', async () => {
    const up = only('up');
    assert.deepEqual(up.args, ['sas0', '1500', '0', '10.98.0.1', '255.255.255.0', 'init']);
    await ol?.killServer('SIGTERM');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !readDumps(dumps).has('down')) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const down = only('down');
    assert.equal(down.env.signal, 'sigterm');
    for (const [type, theirs] of [
      ['up', up],
      ['down', down],
    ] as const) {
      const rec = new Recorder();
      const ok = await runServerUpDown(
        type === 'up' ? (options.scripts.up as string) : (options.scripts.down as string),
        type,
        type === 'down' ? 'sigterm' : undefined,
        processEnv(theirs.env),
        { runner: rec, tmp: nodeTempFiles, log: () => {} },
      );
      assert.equal(ok, true);
      assert.deepEqual(rec.calls[0].argv, [script, ...theirs.args], type);
      assert.deepEqual(allowedEnv(rec.calls[0].env, 2), comparable(theirs.env), type);
    }
  });
});
