/**
 * auth-gen-token tokens (src/openvpn/server/auth-token-gen.ts): the layout re-derived here from the
 * description in auth_token.c, renewal keeping the session id and first timestamp, the renewal
 * window, the lifetime, the empty-username state, a changed session id, the PEM secret (a key made
 * by stock `openvpn --genkey auth-token`), and the session_state / session_id variables.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type AuthTokenKey,
  generateAuthToken,
  isAuthToken,
  parseAuthTokenSecret,
  randomAuthTokenKey,
  SESSION_ID_PREFIX,
  sessionTokenEnv,
  tokenAccepted,
  verifyAuthToken,
} from '../../../../src/openvpn/server/auth-token-gen.js';

const KEY: AuthTokenKey = { hmac: Buffer.alloc(32, 7) };
const SID = Buffer.from('0123456789ab');
const T = 1_800_000_000;

function decode(token: string) {
  const d = Buffer.from(token.slice(SESSION_ID_PREFIX.length), 'base64');
  return {
    sid: d.subarray(0, 12),
    t0: Number(d.readBigUInt64BE(12)),
    t: Number(d.readBigUInt64BE(20)),
    mac: d.subarray(28),
    body: d.subarray(0, 28),
  };
}

const verify = (
  token: string,
  username: string,
  nowSec: number,
  more: { lifetime?: number; initial?: string } = {},
) =>
  verifyAuthToken(KEY, {
    token,
    username,
    nowSec,
    renewal: 3600,
    lifetime: more.lifetime ?? 0,
    initial: more.initial,
  });

describe('auth-gen-token', () => {
  it('makes SESS_ID_AT_ + base64(sid | t0 | t | HMAC-SHA256(user | sid | t0 | t)), 91 characters', () => {
    const tok = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined, sessionId: SID });
    assert.equal(tok.length, 11 + 80);
    assert.ok(tok.startsWith('SESS_ID_AT_'));
    assert.ok(!tok.includes('='), 'no base64 padding');
    assert.ok(isAuthToken(tok));
    const d = decode(tok);
    assert.deepEqual(d.sid, SID);
    assert.equal(d.t0, T);
    assert.equal(d.t, T);
    const want = createHmac('sha256', KEY.hmac).update('alice').update(d.body).digest();
    assert.deepEqual(d.mac, want);
  });

  it('renewal keeps the session id and first timestamp, with a fresh timestamp', () => {
    const first = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const next = generateAuthToken(KEY, { username: 'alice', nowSec: T + 500, initial: first });
    const a = decode(first);
    const b = decode(next);
    assert.deepEqual(b.sid, a.sid);
    assert.equal(b.t0, T);
    assert.equal(b.t, T + 500);
    assert.equal(
      first.slice(0, 11 + 16),
      next.slice(0, 11 + 16),
      'the session id part of the text is the same',
    );
    assert.ok(tokenAccepted(verify(next, 'alice', T + 600, { initial: first })));
  });

  it('is good in [t, t + 2*renewal) for its username only', () => {
    const tok = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    assert.ok(tokenAccepted(verify(tok, 'alice', T)));
    assert.ok(tokenAccepted(verify(tok, 'alice', T + 7199)));
    const late = verify(tok, 'alice', T + 7200);
    assert.equal(late.hmacOk, true);
    assert.equal(late.expired, true);
    assert.equal(late.clientReason, 'SESSION: token expired');
    assert.ok(!tokenAccepted(late));
    assert.equal(verify(tok, 'alice', T - 1).expired, true, 'from the future');
    const bob = verify(tok, 'bob', T);
    assert.equal(bob.hmacOk, false);
    assert.match(bob.notes.join('\n'), /HMAC on token from client failed/);
    assert.equal(
      verifyAuthToken(randomAuthTokenKey(), {
        token: tok,
        username: 'alice',
        nowSec: T,
        renewal: 3600,
        lifetime: 0,
        initial: undefined,
      }).hmacOk,
      false,
      'another key',
    );
  });

  it('expires after the lifetime, counted from the first token', () => {
    const first = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const renewed = generateAuthToken(KEY, { username: 'alice', nowSec: T + 3000, initial: first });
    assert.ok(tokenAccepted(verify(renewed, 'alice', T + 3500, { lifetime: 3500 })));
    assert.equal(verify(renewed, 'alice', T + 3501, { lifetime: 3500 }).expired, true);
  });

  it('a token made for the empty username is valid-empty-user for any username', () => {
    const tok = generateAuthToken(KEY, { username: '', nowSec: T, initial: undefined });
    const v = verify(tok, 'mallory', T);
    assert.equal(v.hmacOk, true);
    assert.equal(v.validEmptyUser, true);
    assert.ok(!tokenAccepted(v));
  });

  it('refuses a token whose session id differs from the session first one', () => {
    const mine = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const other = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const v = verify(other, 'alice', T, { initial: mine });
    assert.equal(v.hmacOk, false);
    assert.match(v.notes.join('\n'), /session id in token changed/);
  });

  it('refuses wrong sizes and bad base64 without throwing', () => {
    const tok = generateAuthToken(KEY, { username: 'a', nowSec: T, initial: undefined });
    for (const bad of [`${tok.slice(0, -4)}!!!!`, tok.slice(0, -4), `${SESSION_ID_PREFIX}x`]) {
      const v = verify(bad, 'a', T);
      assert.equal(v.hmacOk, false);
    }
    assert.equal(isAuthToken(tok.slice(0, -1)), false);
    assert.equal(isAuthToken(`X${tok.slice(1)}`), false);
    const flipped = Buffer.from(tok.slice(11), 'base64');
    flipped[30] ^= 1;
    assert.equal(verify(SESSION_ID_PREFIX + flipped.toString('base64'), 'a', T).hmacOk, false);
  });

  it('reads the HMAC key from a stock `openvpn --genkey auth-token` file (bytes 64..96)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-token-'));
    try {
      execFileSync('openvpn', ['--genkey', 'auth-token', join(dir, 'k.pem')], { stdio: 'pipe' });
      const text = readFileSync(join(dir, 'k.pem'), 'utf8');
      const key = parseAuthTokenSecret(text);
      const raw = Buffer.from(
        text.replace(/-----(BEGIN|END) [^\n]*-----/g, '').replace(/\s+/g, ''),
        'base64',
      );
      assert.equal(raw.length, 128);
      assert.deepEqual(key.hmac, raw.subarray(64, 96));
      assert.throws(() => parseAuthTokenSecret(text.replace('auth-token server key', 'Static key V1')));
      const short = `-----BEGIN OpenVPN auth-token server key-----\n${raw.subarray(0, 96).toString('base64')}\n-----END OpenVPN auth-token server key-----\n`;
      assert.throws(() => parseAuthTokenSecret(short), /not enough data/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('session_state and session_id as add_session_token_env sets them', () => {
    const first = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    const sidText = first.slice(11, 27);
    const fresh = generateAuthToken(KEY, { username: 'alice', nowSec: T, initial: undefined });
    assert.deepEqual(sessionTokenEnv('secret', undefined, fresh), {
      session_state: 'Initial',
      session_id: fresh.slice(11, 27),
    });
    assert.deepEqual(sessionTokenEnv(first, verify(first, 'alice', T), fresh), {
      session_state: 'Authenticated',
      session_id: sidText,
    });
    assert.equal(sessionTokenEnv(first, verify(first, 'alice', T + 9999), fresh).session_state, 'Expired');
    assert.equal(
      sessionTokenEnv(first, verify(first, 'alice', T + 9999), fresh).session_id,
      fresh.slice(11, 27),
    );
    assert.equal(sessionTokenEnv(first, verify(first, 'bob', T), fresh).session_state, 'Invalid');
    const empty = generateAuthToken(KEY, { username: '', nowSec: T, initial: undefined });
    assert.equal(
      sessionTokenEnv(empty, verify(empty, 'x', T), fresh).session_state,
      'AuthenticatedEmptyUser',
    );
    assert.equal(
      sessionTokenEnv(empty, verify(empty, 'x', T + 9999), fresh).session_state,
      'ExpiredEmptyUser',
    );
  });
});
