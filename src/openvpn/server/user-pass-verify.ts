/**
 * The server's username/password authentication of one key-method 2 message, as OpenVPN 2.6 does it
 * (ssl.c key_method_2_read, ssl_verify.c verify_user_pass, verify_user_pass_script,
 * set_verify_user_pass_env, tls_lock_username, verify_final_auth_checks):
 *
 * 1. a username or password over 127 bytes fails with "Username or password is too long...";
 * 2. without `auth-user-pass-verify` the credentials are ignored (the certificate decides);
 * 3. an empty username or password is a TLS error (the session dies, no AUTH_FAILED) unless
 *    `auth-user-pass-optional`, which verifies an empty pair;
 * 4. both are remapped (control characters to `_`);
 * 5. with `auth-gen-token`, a password that looks like a token is checked here: a good one skips the
 *    script; a bad or expired one fails at once (no script). (`external-auth` tokens go to the script
 *    with session_state set.)
 * 6. otherwise `auth-user-pass-verify cmd via-env|via-file` runs: via-env puts `username`/`password`
 *    in its environment; via-file writes `username\npassword\n` to a 0600 file in tmp-dir and passes
 *    its path as the last argument, removing it afterwards. Exit 0 accepts.
 * 7. `username-as-common-name`: a username over 64 bytes fails; on success it becomes the CN;
 * 8. the username may not change within a session (tls_lock_username), nor the CN (locked_cn);
 * 9. with `auth-gen-token`, a token is (re)generated on success, to be pushed as `auth-token`.
 *
 * Deferred authentication (exit status 2 with auth_control_file / auth_pending_file) is not
 * supported: a 2 is a failure here. The password is never logged and never kept.
 */
import type { ServerOptions } from '../../config/server-options.js';
import type { AuthTokenKey, TokenVerdict } from './auth-token-gen.js';
import {
  generateAuthToken,
  isAuthToken,
  sessionTokenEnv,
  tokenAccepted,
  verifyAuthToken,
} from './auth-token-gen.js';
import { commandWords, failureMessage, type ScriptRunner } from './script-runner.js';
import { type Env, linkEnv, mergeEnv, remapName, SCRIPT_TYPE, setenv } from './server-script-env.js';
import type { TempFiles } from './temp-file.js';

/** ssl_verify.c TLS_USERNAME_LEN. */
export const TLS_USERNAME_LEN = 64;

export interface UserPassConfig {
  /** `auth-user-pass-verify cmd method`. */
  script: { command: string; method: 'via-file' | 'via-env' } | undefined;
  usernameAsCommonName: boolean;
  authUserPassOptional: boolean;
  /** `auth-gen-token` with its key; renewal already defaulted to reneg-sec. */
  tokens: { key: AuthTokenKey; lifetime: number; renewal: number; externalAuth: boolean } | undefined;
  /** `tmp-dir`. */
  tmpDir: string;
}

/**
 * The authentication settings of a server config. `tokenKey` is the `auth-gen-token-secret` key
 * (parseAuthTokenSecret of the file's text) or, without one, randomAuthTokenKey() made once per
 * process; it is only used with `auth-gen-token`. The renewal defaults to reneg-sec, as 2.6's
 * options_postprocess does.
 */
export function userPassConfig(o: ServerOptions, tokenKey: AuthTokenKey | undefined): UserPassConfig {
  const g = o.authGenToken;
  if (g !== undefined && tokenKey === undefined) throw new Error('auth-gen-token: no token key');
  return {
    script:
      o.authUserPassVerify === undefined
        ? undefined
        : { command: o.authUserPassVerify.command, method: o.authUserPassVerify.method },
    usernameAsCommonName: o.usernameAsCommonName,
    authUserPassOptional: o.authUserPassOptional,
    tokens:
      g === undefined || tokenKey === undefined
        ? undefined
        : {
            key: tokenKey,
            lifetime: g.lifetime,
            renewal: g.renewal ?? o.renegSec,
            externalAuth: g.externalAuth,
          },
    tmpDir: o.tmpDir,
  };
}

/** What one client (2.6's tls_multi) remembers across its key-method 2 exchanges. */
export interface ClientAuthState {
  lockedUsername: string | undefined;
  lockedCommonName: string | undefined;
  /** The session's first token (auth_token_initial): its session id and t0 carry over. */
  tokenInitial: string | undefined;
  /** The token to push (`auth-token`), the newest one. */
  token: string | undefined;
  /** The last authentication trusted only the empty username (its tokens are made for ''). */
  tokenEmptyUser: boolean;
}

export function newClientAuthState(): ClientAuthState {
  return {
    lockedUsername: undefined,
    lockedCommonName: undefined,
    tokenInitial: undefined,
    token: undefined,
    tokenEmptyUser: false,
  };
}

/** Forgets the session's tokens (wipe_auth_token): after a failure, a new login is needed. */
export function wipeTokens(s: ClientAuthState): void {
  s.token = undefined;
  s.tokenInitial = undefined;
}

export interface UserPassInput {
  /** From key-method 2 (decodeKeyMethod2); undefined = absent. */
  username: string | undefined;
  password: string | undefined;
  credentialsTooLong: boolean;
  /** The certificate's common name (undefined with `verify-client-cert none`/optional and no cert). */
  commonName: string | undefined;
  /** The client's real address. */
  remote: { address: string; port: number };
  /** The environment so far (process, certificate, peer-info). */
  env: Env;
  nowSec: number;
}

export type UserPassVerdict =
  | {
      kind: 'ok';
      /** The session's common name now (the username with username-as-common-name). */
      commonName: string;
      /** The username, locked for the session ('' when none). */
      username: string;
      /** Variables to keep in the client's environment (username, common_name, untrusted_*, session_*). */
      env: Env;
      /** Whether the credentials were checked at all (false: no auth-user-pass-verify). */
      checked: boolean;
    }
  | {
      /** Send AUTH_FAILED (with `clientReason` if set) and drop the client after a moment. */
      kind: 'auth-failed';
      clientReason: string | undefined;
      log: string;
    }
  | {
      /** The TLS session fails outright (2.6 `goto error` in key_method_2_read). */
      kind: 'tls-error';
      log: string;
    };

export interface UserPassDeps {
  runner: ScriptRunner;
  tmp: TempFiles;
  log: (line: string) => void;
}

/**
 * Authenticates one key-method 2 message: call it after the client's key-method 2 was decoded, before
 * the server's key-method 2 reply is made final (2.6 decides `authenticated` right there and sends
 * AUTH_FAILED instead of PUSH_REPLY later). Updates `state`. Never throws.
 */
export async function verifyUserPass(
  cfg: UserPassConfig,
  state: ClientAuthState,
  i: UserPassInput,
  deps: UserPassDeps,
): Promise<UserPassVerdict> {
  const cn = i.commonName ?? '';
  if (i.credentialsTooLong) {
    return {
      kind: 'auth-failed',
      clientReason: 'Username or password is too long. Maximum length is 128 bytes',
      log: 'TLS Error: Username or password too long',
    };
  }
  if (cfg.script === undefined) {
    return finalChecks(state, { kind: 'ok', commonName: cn, username: '', env: {}, checked: false });
  }
  let username = i.username ?? '';
  let password = i.password ?? '';
  if (username === '' || password === '') {
    if (!cfg.authUserPassOptional) {
      return { kind: 'tls-error', log: 'TLS Error: Auth Username/Password was not provided by peer' };
    }
    username = '';
    password = '';
  }
  username = remapName(username);
  password = remapName(password);

  let skipScript = false;
  let verdict: TokenVerdict | undefined;
  if (cfg.tokens !== undefined && isAuthToken(password)) {
    verdict = verifyAuthToken(cfg.tokens.key, {
      token: password,
      username,
      nowSec: i.nowSec,
      renewal: cfg.tokens.renewal,
      lifetime: cfg.tokens.lifetime,
      initial: state.tokenInitial,
    });
    for (const n of verdict.notes) deps.log(n);
    if (verdict.validEmptyUser) username = '';
    if (state.tokenInitial === undefined && verdict.hmacOk) state.tokenInitial = password;
    if (cfg.tokens.externalAuth) {
      // the script decides, seeing session_state
    } else if (tokenAccepted(verdict)) {
      deps.log(`TLS: Username/auth-token authentication succeeded for username '${username}'`);
      skipScript = true;
    } else {
      wipeTokens(state);
      return {
        kind: 'auth-failed',
        clientReason: verdict.clientReason,
        log: `TLS: Username/auth-token authentication failed for username '${username}'`,
      };
    }
  }

  // set_verify_user_pass_env
  const env: Env = {};
  if (!cfg.authUserPassOptional && username === '') {
    return {
      kind: 'auth-failed',
      clientReason: undefined,
      log: 'TLS Auth Error: peer provided a blank username',
    };
  }
  setenv(env, 'username', username);
  // setenv_str with no common name (verify-client-cert none/optional) leaves it unset
  setenv(env, 'common_name', i.commonName);
  Object.assign(env, linkEnv('untrusted', i.remote.address, i.remote.port));
  if (cfg.tokens !== undefined) {
    const stillGood = verdict?.hmacOk === true && !verdict.expired;
    if (!stillGood && state.tokenInitial === undefined) {
      // add_session_token_env: a new session gets its first token now, so session_id can be shown
      state.tokenInitial = generateAuthToken(cfg.tokens.key, {
        username,
        nowSec: i.nowSec,
        initial: undefined,
      });
      state.token = state.tokenInitial;
    }
    Object.assign(env, sessionTokenEnv(password, verdict, state.tokenInitial ?? password));
  }

  let ok = true;
  if (!skipScript) {
    ok = await runUserPassScript(cfg, cfg.script, username, password, mergeEnv(i.env, env), deps);
  }
  if (cfg.usernameAsCommonName && Buffer.byteLength(username, 'utf8') > TLS_USERNAME_LEN) {
    deps.log(
      `TLS Auth Error: --username-as-common name specified and username is longer than the maximum permitted Common Name length of ${TLS_USERNAME_LEN} characters`,
    );
    ok = false;
  }
  if (ok && state.lockedUsername !== undefined && state.lockedUsername !== username) {
    deps.log(
      `TLS Auth Error: username attempted to change from '${state.lockedUsername}' to '${username}' -- tunnel disabled`,
    );
    wipeTokens(state);
    return { kind: 'auth-failed', clientReason: undefined, log: 'TLS Auth Error: username changed' };
  }
  if (!ok) {
    return {
      kind: 'auth-failed',
      clientReason: undefined,
      log: 'TLS Auth Error: Auth Username/Password verification failed for peer',
    };
  }
  state.lockedUsername = username;
  const commonName = cfg.usernameAsCommonName ? username : cn;
  if (cfg.usernameAsCommonName) setenv(env, 'common_name', username);
  if (cfg.tokens !== undefined) {
    state.tokenEmptyUser = verdict?.validEmptyUser === true;
    state.token = generateAuthToken(cfg.tokens.key, {
      username: state.tokenEmptyUser ? '' : username,
      nowSec: i.nowSec,
      initial: state.tokenInitial,
    });
  }
  deps.log(
    `TLS: Username/Password authentication succeeded for username '${username}' ${cfg.usernameAsCommonName ? '[CN SET]' : ''}`,
  );
  return finalChecks(state, { kind: 'ok', commonName, username, env, checked: true });
}

/** verify_final_auth_checks: the common name may not change within a session. */
function finalChecks(state: ClientAuthState, v: UserPassVerdict & { kind: 'ok' }): UserPassVerdict {
  if (state.lockedCommonName !== undefined && state.lockedCommonName !== v.commonName) {
    wipeTokens(state);
    return {
      kind: 'auth-failed',
      clientReason: undefined,
      log: `TLS Auth Error: TLS object CN attempted to change from '${state.lockedCommonName}' to '${v.commonName}' -- tunnel disabled`,
    };
  }
  return v;
}

/**
 * Locks the session's common name once the client is connected (tls_lock_common_name, called by
 * multi.c when the client instance is set up): later renegotiations may not change it.
 */
export function lockCommonName(state: ClientAuthState, commonName: string): void {
  if (state.lockedCommonName === undefined && commonName !== '') state.lockedCommonName = commonName;
}

/** verify_user_pass_script: true when the script accepted. */
async function runUserPassScript(
  cfg: UserPassConfig,
  script: NonNullable<UserPassConfig['script']>,
  username: string,
  password: string,
  baseEnv: Env,
  deps: UserPassDeps,
): Promise<boolean> {
  const what = '--auth-user-pass-verify';
  let argv: string[];
  try {
    argv = commandWords(script.command, 'auth-user-pass-verify');
  } catch (e) {
    deps.log(`TLS Auth Error: ${(e as Error).message}`);
    return false;
  }
  const env = { ...baseEnv };
  setenv(env, 'script_type', SCRIPT_TYPE.userPassVerify);
  let tmpPath: string | undefined;
  if (script.method === 'via-file') {
    try {
      tmpPath = await deps.tmp.create(cfg.tmpDir, 'up', `${username}\n${password}\n`);
    } catch (e) {
      deps.log(`TLS Auth Error: could not write username/password to file: ${(e as Error).message}`);
      return false;
    }
    argv.push(tmpPath);
  } else {
    setenv(env, 'username', username);
    setenv(env, 'password', password);
  }
  try {
    const r = await deps.runner.run(argv, env);
    if (r.exitCode === 2) {
      deps.log(`${what}: exit status 2 (deferred authentication) is not supported; refusing`);
      return false;
    }
    if (r.exitCode !== 0) {
      deps.log(failureMessage(what, r));
      return false;
    }
    return true;
  } finally {
    if ('password' in env) env.password = '';
    if (tmpPath !== undefined) await deps.tmp.remove(tmpPath).catch(() => {});
  }
}

/**
 * The `auth-token` option for the client's PUSH_REPLY (prepare_auth_token_push_reply), or undefined
 * when there is no token (no auth-gen-token, or the credentials were not checked).
 */
export function authTokenPushOption(state: ClientAuthState): string | undefined {
  return state.token === undefined ? undefined : `auth-token ${state.token}`;
}

/**
 * The control message that updates the client's token outside the first PUSH_REPLY
 * (send_push_reply_auth_token): `PUSH_REPLY,auth-token <token>`. The shell sends it after every
 * renegotiation that authenticated (key id != 0; verifyUserPass has already renewed the token), and
 * from the renewal timer (renewAuthToken).
 */
export function authTokenUpdateMessage(state: ClientAuthState): string | undefined {
  const o = authTokenPushOption(state);
  return o === undefined ? undefined : `PUSH_REPLY,${o}`;
}

/**
 * How often the renewal timer runs (init.c: only when the renewal is shorter than reneg-sec;
 * otherwise the token is renewed by the renegotiations themselves): seconds, or undefined.
 */
export function authTokenRenewalInterval(renewal: number, renegSec: number): number | undefined {
  return renewal < renegSec ? renewal : undefined;
}

/**
 * check_send_auth_token, at each renewal tick while the client's current key is authenticated: a
 * fresh token (same session id and first time) for the locked username, and the message carrying
 * it; undefined when there is nothing to renew (no first token yet, or no locked username).
 */
export function renewAuthToken(
  tokens: NonNullable<UserPassConfig['tokens']>,
  state: ClientAuthState,
  nowSec: number,
): string | undefined {
  if (state.tokenInitial === undefined || state.lockedUsername === undefined) return undefined;
  state.token = generateAuthToken(tokens.key, {
    username: state.tokenEmptyUser ? '' : state.lockedUsername,
    nowSec,
    initial: state.tokenInitial,
  });
  return authTokenUpdateMessage(state);
}
