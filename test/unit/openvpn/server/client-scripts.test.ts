/**
 * client-connect, client-disconnect and learn-address (src/openvpn/server/client-scripts.ts) with a
 * scripted runner, and the whole path with the real runner and real temporary files: tiny shell
 * scripts in a temp dir write a dynamic config, read via-file credentials, dump their environment,
 * fail, die by a signal, or do not exist.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
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
  runClientConnect,
  runClientDisconnect,
  runLearnAddress,
} from '../../../../src/openvpn/server/client-scripts.js';
import {
  allowedEnv,
  failureMessage,
  NOT_ALLOWED,
  scriptsAllowed,
  spawnScriptRunner,
} from '../../../../src/openvpn/server/script-runner.js';
import { nodeTempFiles, tempFileName } from '../../../../src/openvpn/server/temp-file.js';
import { newClientAuthState, verifyUserPass } from '../../../../src/openvpn/server/user-pass-verify.js';
import { FakeRunner, FakeTemp } from './fakes.js';

describe('client scripts with a scripted runner', () => {
  it('client-connect: an empty tmp-dir file, its path last and in client_connect_config_file; its text returned', async () => {
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp, (c) => {
      tmp.files.set(c.argv[c.argv.length - 1], Buffer.from('ifconfig-push 10.8.0.9 255.255.255.0\n'));
      return { exitCode: 0 };
    });
    const r = await runClientConnect("/etc/cc 'a b'", { common_name: 'alice' }, '/tmp/x', {
      runner,
      tmp,
      log: () => {},
    });
    const c = runner.calls[0];
    const path = c.argv[2];
    assert.deepEqual(c.argv.slice(0, 2), ['/etc/cc', 'a b']);
    assert.equal(c.files.get(path), '', 'created empty');
    assert.equal(c.env.client_connect_config_file, path);
    assert.equal(c.env.script_type, 'client-connect');
    assert.equal(c.env.common_name, 'alice');
    assert.equal(c.env.client_connect_deferred_file, undefined, 'deferred client-connect is not offered');
    assert.equal(tmp.created[0].prefix, 'cc');
    assert.deepEqual(r, { ok: true, config: 'ifconfig-push 10.8.0.9 255.255.255.0\n', configPath: path });
    assert.equal(tmp.files.size, 0, 'removed');
  });

  it('client-connect: a non-zero exit refuses the client and still removes the file', async () => {
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp, () => ({ exitCode: 1 }));
    const r = await runClientConnect('/etc/cc', {}, '/tmp', { runner, tmp, log: () => {} });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /--client-connect.*exited with error status: 1/);
    assert.equal(tmp.files.size, 0);
  });

  it('client-disconnect gets script_type; learn-address gets op, address and the CN (UNDEF without one)', async () => {
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp);
    const deps = { runner, tmp, log: () => {} };
    assert.equal(await runClientDisconnect('/etc/cd', { bytes_sent: '5' }, deps), true);
    assert.deepEqual(runner.calls[0].argv, ['/etc/cd']);
    assert.equal(runner.calls[0].env.script_type, 'client-disconnect');
    await runLearnAddress('/etc/la', 'add', '10.8.0.6', { commonName: 'alice' }, {}, deps);
    await runLearnAddress('/etc/la', 'delete', '192.168.5.0/24', { commonName: undefined }, {}, deps);
    await runLearnAddress('/etc/la', 'delete', 'fd00::1000', undefined, {}, deps);
    assert.deepEqual(
      runner.calls.slice(1).map((c) => c.argv),
      [
        ['/etc/la', 'add', '10.8.0.6', 'alice'],
        ['/etc/la', 'delete', '192.168.5.0/24', 'UNDEF'],
        ['/etc/la', 'delete', 'fd00::1000'],
      ],
    );
    assert.equal(runner.calls[1].env.script_type, 'learn-address');
  });
});

describe('script-security and temporary file names', () => {
  it('below 3 no password* variable is passed; below 2 nothing runs', () => {
    const env = { username: 'a', password: 'p', password_x: 'q', my_password: 'r' };
    assert.deepEqual(allowedEnv(env, 2), { username: 'a', my_password: 'r' });
    assert.deepEqual(allowedEnv(env, 3), env);
    assert.equal(scriptsAllowed(1), false);
    assert.equal(scriptsAllowed(2), true);
    assert.equal(
      failureMessage('--x', { exitCode: undefined, signal: undefined, error: NOT_ALLOWED }),
      NOT_ALLOWED,
    );
  });

  it('names as platform_create_temp_file: openvpn_<prefix>_ and two 64-bit hex numbers of at least 8 digits', () => {
    const r = Buffer.alloc(16);
    r[7] = 0x2a;
    r.fill(0xff, 8);
    assert.equal(tempFileName('cc', r), 'openvpn_cc_0000002affffffffffffffff.tmp');
    assert.throws(() => tempFileName('cc', Buffer.alloc(8)));
  });
});

describe('client scripts with real scripts', () => {
  let dir: string;
  const logs: string[] = [];
  const deps = () => ({
    runner: spawnScriptRunner((l) => logs.push(l)),
    tmp: nodeTempFiles,
    log: (l: string) => logs.push(l),
  });
  const script = (name: string, body: string): string => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sa-scripts-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A fresh tmp-dir, to see that nothing is left in it. */
  const tmpd = () => mkdtempSync(join(dir, 'tmp-'));

  it('client-connect writes its dynamic config into $1; the file is gone afterwards', async () => {
    const t = tmpd();
    const cc = script('cc.sh', 'echo "push \\"route 10.9.0.0 255.255.0.0\\"" > "$1"\necho "hello from cc"');
    const r = await runClientConnect(cc, { common_name: 'alice' }, t, deps());
    assert.deepEqual(r.ok && r.config, 'push "route 10.9.0.0 255.255.0.0"\n');
    assert.match(r.ok ? r.configPath : '', /\/openvpn_cc_[0-9a-f]{16,32}\.tmp$/);
    assert.deepEqual(readdirSync(t), []);
    assert.ok(logs.includes('cc.sh: hello from cc'), 'script output is logged');
  });

  it('the script sees exactly the environment it was given (nothing of ours), and its arguments', async () => {
    const t = tmpd();
    const out = join(dir, 'env.out');
    const dump = script('dump.sh', `env > "${out}"\necho "$@" >> "${out}"`);
    const r = await runClientConnect(
      `${dump} one`,
      { common_name: 'alice', untrusted_ip: '1.2.3.4' },
      t,
      deps(),
    );
    assert.equal(r.ok, true);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const argsLine = lines.pop() as string;
    const vars = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    // sh itself may add PWD (and SHLVL); none of our process's variables may leak through
    for (const k of ['PWD', 'SHLVL', '_', 'OLDPWD']) delete vars[k];
    assert.deepEqual(Object.keys(vars).sort(), [
      'client_connect_config_file',
      'common_name',
      'script_type',
      'untrusted_ip',
    ]);
    assert.equal(vars.script_type, 'client-connect');
    assert.match(argsLine, new RegExp(`^one ${t}/openvpn_cc_[0-9a-f]{16,32}\\.tmp$`));
  });

  it('via-file: the script reads username and password from a 0600 file in tmp-dir, removed after', async () => {
    const t = tmpd();
    const out = join(dir, 'up.out');
    const check = script(
      'up.sh',
      `f="$1"; stat -c %a "$f" > "${out}"; cat "$f" >> "${out}"; [ "$(head -n1 "$f")" = alice ] && [ "$(sed -n 2p "$f")" = 'pa ss' ]`,
    );
    const base = {
      script: { command: check, method: 'via-file' as const },
      usernameAsCommonName: false,
      authUserPassOptional: false,
      tokens: undefined,
      tmpDir: t,
    };
    const input = {
      username: 'alice',
      password: 'pa ss',
      credentialsTooLong: false,
      commonName: 'alice',
      remote: { address: '192.0.2.1', port: 1 },
      env: {},
      nowSec: 0,
    };
    const ok = await verifyUserPass(base, newClientAuthState(), input, deps());
    assert.equal(ok.kind, 'ok');
    assert.equal(readFileSync(out, 'utf8'), '600\nalice\npa ss\n');
    assert.deepEqual(readdirSync(t), []);
    const bad = await verifyUserPass(base, newClientAuthState(), { ...input, password: 'wrong' }, deps());
    assert.equal(bad.kind, 'auth-failed');
    assert.deepEqual(readdirSync(t), []);
    assert.ok(!logs.some((l) => l.includes('pa ss')), 'the password is never logged');
  });

  it('the runner reports exit statuses, signals and programs that cannot run', async () => {
    const runner = spawnScriptRunner();
    assert.deepEqual(await runner.run([script('ex3.sh', 'exit 3')], {}), {
      exitCode: 3,
      signal: undefined,
      error: undefined,
    });
    const sig = await runner.run([script('kill.sh', 'kill -TERM $$')], {});
    assert.equal(sig.signal, 'SIGTERM');
    assert.equal(sig.exitCode, undefined);
    const missing = await runner.run([join(dir, 'nope.sh')], {});
    assert.equal(missing.error, 'ENOENT');
    writeFileSync(join(dir, 'noexec.sh'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'noexec.sh'), 0o644);
    assert.equal((await runner.run([join(dir, 'noexec.sh')], {})).error, 'EACCES');
    const out = join(dir, 'pw.out');
    const pw = script('pw.sh', `echo "[$password][$username]" > "${out}"`);
    await spawnScriptRunner(() => {}, 2).run([pw], { username: 'u', password: 'p' });
    assert.equal(readFileSync(out, 'utf8'), '[][u]\n');
    await spawnScriptRunner(() => {}, 3).run([pw], { username: 'u', password: 'p' });
    assert.equal(readFileSync(out, 'utf8'), '[p][u]\n');
    rmSync(out);
    assert.equal((await spawnScriptRunner(() => {}, 1).run([pw], {})).error, NOT_ALLOWED);
    assert.equal(existsSync(out), false, 'script-security 1 runs nothing');
    const d = deps();
    assert.equal(await runClientDisconnect(script('cd.sh', 'exit 1'), {}, d), false);
    assert.ok(
      logs.some(
        (l) =>
          l ===
          'WARNING: Failed running command (--client-disconnect): external program exited with error status: 1',
      ),
    );
  });
});
