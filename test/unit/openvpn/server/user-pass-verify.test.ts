/**
 * The server's username/password authentication (src/openvpn/server/user-pass-verify.ts) with a
 * scripted runner: via-env and via-file as verify_user_pass_script passes the credentials, exit
 * statuses, the key_method_2_read preconditions, remapping, username-as-common-name, the username
 * and CN locks, and auth-gen-token (issue, accept instead of the script, expiry, external-auth).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateAuthToken,
  isAuthToken,
  tokenAccepted,
  verifyAuthToken,
} from '../../../../src/openvpn/server/auth-token-gen.js';
import {
  authTokenPushOption,
  authTokenRenewalInterval,
  authTokenUpdateMessage,
  type ClientAuthState,
  lockCommonName,
  newClientAuthState,
  renewAuthToken,
  type UserPassConfig,
  type UserPassInput,
  verifyUserPass,
} from '../../../../src/openvpn/server/user-pass-verify.js';
import { FakeRunner, FakeTemp } from './fakes.js';

const KEY = { hmac: Buffer.alloc(32, 3) };
const T = 1_800_000_000;

function cfg(over: Partial<UserPassConfig> = {}): UserPassConfig {
  return {
    script: { command: '/etc/openvpn/check "with space"', method: 'via-env' },
    usernameAsCommonName: false,
    authUserPassOptional: false,
    tokens: undefined,
    tmpDir: '/var/tmp/ovpn',
    ...over,
  };
}

function input(over: Partial<UserPassInput> = {}): UserPassInput {
  return {
    username: 'alice',
    password: 's3cret',
    credentialsTooLong: false,
    commonName: 'alice-laptop',
    remote: { address: '::ffff:198.51.100.4', port: 40000 },
    env: { verb: '3', IV_VER: '2.6.12', X509_0_CN: 'alice-laptop' },
    nowSec: T,
    ...over,
  };
}

function setup(answer?: ConstructorParameters<typeof FakeRunner>[1]) {
  const tmp = new FakeTemp();
  const runner = new FakeRunner(tmp, answer);
  const logs: string[] = [];
  return { tmp, runner, logs, deps: { runner, tmp, log: (l: string) => logs.push(l) } };
}

describe('auth-user-pass-verify', () => {
  it('via-env: username and password in the env with script_type, the client env, untrusted address', async () => {
    const s = setup();
    const v = await verifyUserPass(cfg(), newClientAuthState(), input(), s.deps);
    assert.equal(v.kind, 'ok');
    assert.equal(s.runner.calls.length, 1);
    const c = s.runner.calls[0];
    assert.deepEqual(c.argv, ['/etc/openvpn/check', 'with space']);
    assert.equal(c.env.script_type, 'user-pass-verify');
    assert.equal(c.env.username, 'alice');
    assert.equal(c.env.password, 's3cret');
    assert.equal(c.env.common_name, 'alice-laptop');
    assert.equal(c.env.untrusted_ip, '198.51.100.4');
    assert.equal(c.env.untrusted_port, '40000');
    assert.equal(c.env.IV_VER, '2.6.12');
    assert.equal(c.env.X509_0_CN, 'alice-laptop');
    if (v.kind === 'ok') {
      assert.equal(v.username, 'alice');
      assert.equal(v.commonName, 'alice-laptop');
      assert.equal(v.env.password, undefined, 'the password is not kept in the client env');
      assert.equal(v.env.username, 'alice');
    }
    assert.ok(!s.logs.join('\n').includes('s3cret'), 'the password is never logged');
  });

  it('via-file: username\\npassword\\n in a tmp-dir file passed last, removed afterwards, not in the env', async () => {
    const s = setup();
    const v = await verifyUserPass(
      cfg({ script: { command: '/bin/check', method: 'via-file' } }),
      newClientAuthState(),
      input(),
      s.deps,
    );
    assert.equal(v.kind, 'ok');
    const c = s.runner.calls[0];
    const path = c.argv[1];
    assert.equal(c.argv.length, 2);
    assert.equal(s.tmp.created[0].dir, '/var/tmp/ovpn');
    assert.equal(s.tmp.created[0].prefix, 'up');
    assert.equal(c.files.get(path), 'alice\ns3cret\n');
    assert.equal(c.env.password, undefined);
    assert.equal(c.env.username, 'alice', 'set_verify_user_pass_env sets the username anyway');
    assert.equal(s.tmp.files.size, 0, 'removed');
  });

  it('via-file: a file that cannot be written fails the authentication without running the script', async () => {
    const s = setup();
    s.tmp.failCreate = true;
    const v = await verifyUserPass(
      cfg({ script: { command: '/bin/check', method: 'via-file' } }),
      newClientAuthState(),
      input(),
      s.deps,
    );
    assert.equal(v.kind, 'auth-failed');
    assert.equal(s.runner.calls.length, 0);
  });

  it('a non-zero exit (and the deferred 2, unsupported) fails with AUTH_FAILED; the file is removed', async () => {
    for (const code of [1, 2, 255]) {
      const s = setup(() => ({ exitCode: code }));
      const v = await verifyUserPass(
        cfg({ script: { command: '/bin/check', method: 'via-file' } }),
        newClientAuthState(),
        input(),
        s.deps,
      );
      assert.equal(v.kind, 'auth-failed', `exit ${code}`);
      assert.equal(s.tmp.files.size, 0);
    }
    const s = setup(() => ({ error: 'ENOENT' }));
    assert.equal((await verifyUserPass(cfg(), newClientAuthState(), input(), s.deps)).kind, 'auth-failed');
    assert.match(s.logs.join('\n'), /could not execute external program \(ENOENT\)/);
  });

  it('key_method_2_read: too long credentials fail with the reason; empty ones are a TLS error unless optional', async () => {
    let s = setup();
    const long = await verifyUserPass(
      cfg(),
      newClientAuthState(),
      input({ credentialsTooLong: true }),
      s.deps,
    );
    assert.deepEqual(
      long.kind === 'auth-failed' && long.clientReason,
      'Username or password is too long. Maximum length is 128 bytes',
    );
    assert.equal(s.runner.calls.length, 0);
    for (const [u, p] of [
      [undefined, undefined],
      ['alice', undefined],
      [undefined, 'pw'],
      ['', 'pw'],
    ] as const) {
      s = setup();
      const v = await verifyUserPass(
        cfg(),
        newClientAuthState(),
        input({ username: u, password: p }),
        s.deps,
      );
      assert.equal(v.kind, 'tls-error');
      assert.equal(s.runner.calls.length, 0);
    }
    s = setup();
    const opt = await verifyUserPass(
      cfg({ authUserPassOptional: true }),
      newClientAuthState(),
      input({ username: 'x', password: undefined }),
      s.deps,
    );
    assert.equal(opt.kind, 'ok');
    assert.equal(s.runner.calls[0].env.username, '', 'both are cleared, the script still decides');
    assert.equal(s.runner.calls[0].env.password, '');
  });

  it('without auth-user-pass-verify the credentials are ignored', async () => {
    const s = setup();
    const v = await verifyUserPass(
      cfg({ script: undefined }),
      newClientAuthState(),
      input({ username: undefined, password: undefined }),
      s.deps,
    );
    assert.equal(v.kind, 'ok');
    assert.equal(v.kind === 'ok' && v.checked, false);
    assert.equal(s.runner.calls.length, 0);
  });

  it('control characters in the username and password become _', async () => {
    const s = setup();
    await verifyUserPass(
      cfg(),
      newClientAuthState(),
      input({ username: 'al\x01ice\n', password: 'p\rw\x7f' }),
      s.deps,
    );
    assert.equal(s.runner.calls[0].env.username, 'al_ice_');
    assert.equal(s.runner.calls[0].env.password, 'p_w_');
  });

  it('username-as-common-name: the username becomes the CN; over 64 bytes fails', async () => {
    let s = setup();
    const v = await verifyUserPass(
      cfg({ usernameAsCommonName: true }),
      newClientAuthState(),
      input({ commonName: undefined }),
      s.deps,
    );
    assert.equal(v.kind === 'ok' && v.commonName, 'alice');
    assert.equal(v.kind === 'ok' && v.env.common_name, 'alice');
    assert.equal(
      s.runner.calls[0].env.common_name,
      undefined,
      'no certificate: no common_name for the script',
    );
    s = setup();
    const long = await verifyUserPass(
      cfg({ usernameAsCommonName: true }),
      newClientAuthState(),
      input({ username: 'u'.repeat(65) }),
      s.deps,
    );
    assert.equal(long.kind, 'auth-failed');
    s = setup();
    const max = await verifyUserPass(
      cfg({ usernameAsCommonName: true }),
      newClientAuthState(),
      input({ username: 'u'.repeat(64) }),
      s.deps,
    );
    assert.equal(max.kind, 'ok');
  });

  it('the username and the common name may not change within a session', async () => {
    const s = setup();
    const st = newClientAuthState();
    assert.equal((await verifyUserPass(cfg(), st, input(), s.deps)).kind, 'ok');
    lockCommonName(st, 'alice-laptop');
    assert.equal((await verifyUserPass(cfg(), st, input(), s.deps)).kind, 'ok', 'renegotiation, same user');
    const other = await verifyUserPass(cfg(), st, input({ username: 'bob' }), s.deps);
    assert.equal(other.kind, 'auth-failed');
    assert.match(s.logs.join('\n'), /username attempted to change from 'alice' to 'bob'/);
    const cn = await verifyUserPass(cfg(), st, input({ commonName: 'mallory' }), s.deps);
    assert.equal(cn.kind, 'auth-failed');
    assert.match(cn.kind === 'auth-failed' ? cn.log : '', /CN attempted to change/);
  });
});

describe('auth-gen-token in the authentication', () => {
  const tokens = { key: KEY, lifetime: 0, renewal: 3600, externalAuth: false };

  it('a first login runs the script, sets session_state Initial and session_id, and issues a token', async () => {
    const s = setup();
    const st = newClientAuthState();
    const v = await verifyUserPass(cfg({ tokens }), st, input(), s.deps);
    assert.equal(v.kind, 'ok');
    const env = s.runner.calls[0].env;
    assert.equal(env.session_state, 'Initial');
    assert.equal(env.session_id.length, 16);
    assert.ok(st.token !== undefined && isAuthToken(st.token));
    assert.equal(st.token.slice(11, 27), env.session_id, 'the pushed token carries that session id');
  });

  it('the token as password skips the script and is renewed with the same session id', async () => {
    const s = setup();
    const st = newClientAuthState();
    await verifyUserPass(cfg({ tokens }), st, input(), s.deps);
    const issued = st.token as string;
    const v = await verifyUserPass(cfg({ tokens }), st, input({ password: issued, nowSec: T + 100 }), s.deps);
    assert.equal(v.kind, 'ok');
    assert.equal(s.runner.calls.length, 1, 'no second script run');
    assert.notEqual(st.token, issued);
    assert.equal(st.token?.slice(0, 27), issued.slice(0, 27));
  });

  it('a token on a new connection (fresh state) is accepted and continues its session', async () => {
    const s = setup();
    const tok = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const st = newClientAuthState();
    const v = await verifyUserPass(cfg({ tokens }), st, input({ password: tok, nowSec: T + 10 }), s.deps);
    assert.equal(v.kind, 'ok');
    assert.equal(s.runner.calls.length, 0);
    assert.equal(st.token?.slice(0, 27), tok.slice(0, 27));
  });

  it('an expired token or one for another user fails without the script, and wipes the tokens', async () => {
    const tok = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    let s = setup();
    let st: ClientAuthState = newClientAuthState();
    const late = await verifyUserPass(
      cfg({ tokens }),
      st,
      input({ password: tok, nowSec: T + 7200 }),
      s.deps,
    );
    assert.deepEqual(late.kind === 'auth-failed' && late.clientReason, 'SESSION: token expired');
    assert.equal(s.runner.calls.length, 0);
    assert.equal(st.token, undefined);
    assert.equal(st.tokenInitial, undefined);
    s = setup();
    st = newClientAuthState();
    const bob = await verifyUserPass(cfg({ tokens }), st, input({ username: 'bob', password: tok }), s.deps);
    assert.equal(bob.kind, 'auth-failed');
    assert.equal(s.runner.calls.length, 0);
  });

  it('external-auth: the script decides, seeing session_state', async () => {
    const tok = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const s = setup();
    const v = await verifyUserPass(
      cfg({ tokens: { ...tokens, externalAuth: true } }),
      newClientAuthState(),
      input({ password: tok, nowSec: T + 7200 }),
      s.deps,
    );
    assert.equal(v.kind, 'ok');
    assert.equal(s.runner.calls[0].env.session_state, 'Expired');
  });

  it('renewal: a fresh token for the locked username, pushed as PUSH_REPLY,auth-token', async () => {
    const s = setup();
    const st = newClientAuthState();
    assert.equal(renewAuthToken(tokens, st, T), undefined, 'nothing to renew before a login');
    assert.equal(authTokenPushOption(st), undefined);
    await verifyUserPass(cfg({ tokens }), st, input(), s.deps);
    const first = st.token as string;
    assert.equal(authTokenPushOption(st), `auth-token ${first}`);
    const msg = renewAuthToken(tokens, st, T + 1800);
    assert.equal(msg, `PUSH_REPLY,auth-token ${st.token}`);
    assert.equal(authTokenUpdateMessage(st), msg);
    assert.notEqual(st.token, first);
    assert.equal(st.token?.slice(0, 27), first.slice(0, 27));
    const v = verifyAuthToken(KEY, {
      token: st.token as string,
      username: 'alice',
      nowSec: T + 8000,
      renewal: 3600,
      lifetime: 0,
      initial: first,
    });
    assert.ok(tokenAccepted(v), 'good for 2*renewal from the renewal, not from the first token');
    assert.equal(authTokenRenewalInterval(600, 3600), 600);
    assert.equal(authTokenRenewalInterval(3600, 3600), undefined);
  });
});
