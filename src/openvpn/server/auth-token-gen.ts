/**
 * `auth-gen-token` tokens as OpenVPN 2.6 makes and checks them (auth_token.c generate_auth_token,
 * verify_auth_token, add_session_token_env, auth_token_init_secret), as pure functions with the
 * time handed in:
 *
 * ```
 *   token = "SESS_ID_AT_" || base64( sid(12) | t0(8, BE) | t(8, BE) | HMAC-SHA256(key, user | sid | t0 | t) )
 * ```
 *
 * `sid` is a random session id fixed for the life of the session, `t0` the time of the first token,
 * `t` the time this one was made. The key is the HMAC half of an `auth-gen-token-secret` PEM file
 * ("OpenVPN auth-token server key": a struct key, 64 cipher bytes then 64 HMAC bytes, of which
 * SHA-256 uses the first 32), or random per process when there is no such file (tokens then do not
 * survive a restart).
 *
 * A token is good while `now` lies in [t, t + 2*renewal) and, with a lifetime, `now <= t0 + lifetime`;
 * the server re-issues it (fresh t, same sid and t0) at each successful authentication and when it
 * renews it mid-session. A token issued when only the empty username was trusted keeps that state.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parsePem } from '../../control/static-key.js';

export const SESSION_ID_PREFIX = 'SESS_ID_AT_';
export const AUTH_TOKEN_PEM = 'OpenVPN auth-token server key';

const SESSION_ID_LEN = 12;
const SESSION_ID_B64_LEN = (SESSION_ID_LEN / 3) * 4;
const HMAC_LEN = 32;
/** sid + t0 + t + HMAC: 60 bytes, 80 in base64 (no padding). */
const TOKEN_DATA_LEN = SESSION_ID_LEN + 8 + 8 + HMAC_LEN;
const TOKEN_LEN = SESSION_ID_PREFIX.length + (TOKEN_DATA_LEN / 3) * 4;
/** sizeof(struct key): 64 cipher bytes, 64 HMAC bytes. */
const STRUCT_KEY_LEN = 128;

/** The HMAC key tokens are made with. */
export interface AuthTokenKey {
  readonly hmac: Buffer;
}

/** The key in an `auth-gen-token-secret` file (auth_token_init_secret). Throws on a bad file. */
export function parseAuthTokenSecret(text: string): AuthTokenKey {
  const raw = parsePem(text, AUTH_TOKEN_PEM, 'auth-gen-token-secret');
  if (raw.length < STRUCT_KEY_LEN) {
    throw new Error('auth-gen-token-secret: not enough data in auth-token secret');
  }
  return { hmac: Buffer.from(raw.subarray(64, 64 + HMAC_LEN)) };
}

/** A random key for this process, as 2.6 makes one without `auth-gen-token-secret`. */
export function randomAuthTokenKey(): AuthTokenKey {
  return { hmac: randomBytes(HMAC_LEN) };
}

/** is_auth_token: the length of a token and its prefix. */
export function isAuthToken(password: string): boolean {
  return password.length === TOKEN_LEN && password.startsWith(SESSION_ID_PREFIX);
}

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(Math.trunc(Number(n)))));
  return b;
}

function mac(key: AuthTokenKey, username: string, body: Buffer): Buffer {
  return createHmac('sha256', key.hmac).update(Buffer.from(username, 'utf8')).update(body).digest();
}

export interface GenerateTokenInput {
  /** The username the token is for ('' when only the empty username was trusted). */
  username: string;
  nowSec: number;
  /**
   * The session's first token (multi->auth_token_initial): its session id and t0 are kept. Undefined
   * for a new session, which gets a fresh session id.
   */
  initial: string | undefined;
  /** For tests: the session id of a new session (default random). */
  sessionId?: Buffer;
}

/**
 * generate_auth_token: a token for `username` at `nowSec`, continuing `initial`'s session when given.
 * Throws when `initial` is not a token (callers keep only tokens they made or verified).
 */
export function generateAuthToken(key: AuthTokenKey, i: GenerateTokenInput): string {
  let sid: Buffer;
  let t0: Buffer;
  const t = u64(i.nowSec);
  if (i.initial !== undefined) {
    if (!isAuthToken(i.initial)) throw new Error('auth-gen-token: the initial token is not a token');
    const data = Buffer.from(i.initial.slice(SESSION_ID_PREFIX.length), 'base64');
    sid = data.subarray(0, SESSION_ID_LEN);
    t0 = data.subarray(SESSION_ID_LEN, SESSION_ID_LEN + 8);
  } else {
    sid = i.sessionId ?? randomBytes(SESSION_ID_LEN);
    if (sid.length !== SESSION_ID_LEN)
      throw new Error(`auth-gen-token: a session id is ${SESSION_ID_LEN} bytes`);
    t0 = t;
  }
  const body = Buffer.concat([sid, t0, t]);
  return SESSION_ID_PREFIX + Buffer.concat([body, mac(key, i.username, body)]).toString('base64');
}

/** What verify_auth_token found (its AUTH_TOKEN_* flags). */
export interface TokenVerdict {
  /** The HMAC matched (for the username, or for the empty username). */
  hmacOk: boolean;
  /** Out of the renewal window, t before t0, or past the lifetime. */
  expired: boolean;
  /** The HMAC matched only the empty username: the client's username is not to be trusted. */
  validEmptyUser: boolean;
  /** Why it failed or what 2.6 would warn about (never the token itself). */
  notes: string[];
  /** The reason sent to the client with AUTH_FAILED, if any ("SESSION: token expired"). */
  clientReason: string | undefined;
}

export interface VerifyTokenInput {
  token: string;
  username: string;
  nowSec: number;
  /** `auth-gen-token` renewal (defaults to reneg-sec): a token is good for 2*renewal seconds. */
  renewal: number;
  /** `auth-gen-token` lifetime: 0 = none. */
  lifetime: number;
  /** The session's first token, if it had one: the session id may not change. */
  initial: string | undefined;
}

/** verify_auth_token. Never throws. */
export function verifyAuthToken(key: AuthTokenKey, i: VerifyTokenInput): TokenVerdict {
  const v: TokenVerdict = {
    hmacOk: false,
    expired: false,
    validEmptyUser: false,
    notes: [],
    clientReason: undefined,
  };
  const b64 = i.token.slice(SESSION_ID_PREFIX.length);
  const data = /^[A-Za-z0-9+/]*={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
  if (data.length !== TOKEN_DATA_LEN) {
    v.notes.push(`ERROR: --auth-token wrong size (${data.length}!=${TOKEN_DATA_LEN})`);
    return v;
  }
  const body = data.subarray(0, TOKEN_DATA_LEN - HMAC_LEN);
  const tag = data.subarray(TOKEN_DATA_LEN - HMAC_LEN);
  const t0 = Number(data.readBigUInt64BE(SESSION_ID_LEN));
  const t = Number(data.readBigUInt64BE(SESSION_ID_LEN + 8));
  if (timingSafeEqual(mac(key, i.username, body), tag)) {
    v.hmacOk = true;
  } else if (timingSafeEqual(mac(key, '', body), tag)) {
    v.hmacOk = true;
    v.validEmptyUser = true;
  } else {
    v.notes.push('--auth-gen-token: HMAC on token from client failed');
    return v;
  }
  if (!(i.nowSec >= t && i.nowSec < t + 2 * i.renewal)) {
    v.notes.push(`Timestamp (${t}) of auth-token is out of the renewal window`);
    v.expired = true;
  }
  if (t < t0) {
    v.notes.push(
      `Initial timestamp (${t0}) in token from client earlier than current timestamp ${t}. Broken/unsynchronised clock?`,
    );
    v.expired = true;
  }
  if (i.lifetime !== 0 && i.nowSec > t0 + i.lifetime) v.expired = true;
  if (v.expired) {
    v.clientReason = 'SESSION: token expired';
    v.notes.push('--auth-gen-token: auth-token from client expired');
  }
  if (i.initial !== undefined) {
    const n = SESSION_ID_PREFIX.length + SESSION_ID_B64_LEN;
    const a = Buffer.from(i.initial.slice(0, n));
    const b = Buffer.from(i.token.slice(0, n));
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      v.notes.push('--auth-gen-token: session id in token changed (Rejecting token.');
      v.hmacOk = false;
      v.expired = false;
      v.validEmptyUser = false;
    }
  }
  return v;
}

/** The token's verdict was a plain success (HMAC good for the username, not expired). */
export function tokenAccepted(v: TokenVerdict): boolean {
  return v.hmacOk && !v.expired && !v.validEmptyUser;
}

/**
 * add_session_token_env: `session_state` (Initial, Authenticated, Expired, AuthenticatedEmptyUser,
 * ExpiredEmptyUser, Invalid) and `session_id` (the session id's 16 base64 characters, from the
 * client's token when it is still good, else from `newSessionToken`, the session's first token).
 */
export function sessionTokenEnv(
  password: string,
  verdict: TokenVerdict | undefined,
  newSessionToken: string,
): Record<string, string> {
  let state: string;
  if (!isAuthToken(password) || verdict === undefined) state = 'Initial';
  else if (!verdict.hmacOk) state = 'Invalid';
  else if (verdict.validEmptyUser) state = verdict.expired ? 'ExpiredEmptyUser' : 'AuthenticatedEmptyUser';
  else state = verdict.expired ? 'Expired' : 'Authenticated';
  const source = verdict?.hmacOk && !verdict.expired && isAuthToken(password) ? password : newSessionToken;
  const start = SESSION_ID_PREFIX.length;
  return { session_state: state, session_id: source.slice(start, start + SESSION_ID_B64_LEN) };
}
