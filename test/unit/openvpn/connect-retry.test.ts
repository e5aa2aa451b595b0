import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/tokenize.js';
import {
  ConnectError,
  ConnectionCursor,
  connectionOrder,
  effectiveKeepalive,
  failureHints,
  fatalError,
  peerGoneError,
  pushedDigest,
  resolveTries,
  restartPauseSeconds,
} from '../../../src/openvpn/connect-retry.js';

const ce = { connectRetry: 1, connectRetryMax: 300, connectTimeout: 120 };

describe('connect-retry', () => {
  it('the cursor walks the list, stays on the entry after success, and stops after connect-retry-max rounds', () => {
    const c = new ConnectionCursor(3, 1);
    assert.deepEqual([c.next(), c.next(), c.next()], [0, 1, 2]);
    assert.equal(c.attempts, 3);
    assert.equal(c.next(), undefined);
    const s = new ConnectionCursor(2, 0);
    s.next();
    s.next();
    s.succeeded();
    assert.equal(s.attempts, 0);
    assert.equal(s.next(), 1); // same entry after success
    assert.equal(s.attempts, 0);
    assert.equal(s.next(), 0); // then on
    s.stay();
    assert.equal(s.next(), 0);
    s.succeeded();
    s.advance();
    assert.equal(s.next(), 1);
    assert.throws(() => new ConnectionCursor(0, 0), /no connection entry/);
  });

  it('the pause: connect-retry, back-off per round beyond the fifth, cap, auth-retry nointeract, requested', () => {
    const p = (attempts: number, extra: Partial<Parameters<typeof restartPauseSeconds>[0]> = {}) =>
      restartPauseSeconds({ entry: ce, attempts, listLength: 1, ...extra });
    assert.equal(p(4), 1);
    assert.equal(p(5), 2);
    assert.equal(p(12), 256);
    assert.equal(p(13), 300);
    assert.equal(p(100), 300);
    assert.equal(p(1, { entry: { ...ce, connectRetry: 0 } }), 0);
    assert.equal(p(5, { entry: { ...ce, connectRetry: 0 } }), 2); // at least 1 s before doubling
    assert.equal(p(1, { authRetryNointeract: true }), 10);
    assert.equal(p(9, { requested: 0 }), 0);
    assert.equal(p(1, { requested: 30 }), 30);
    assert.equal(p(9, { requested: 3 }), 32);
  });

  it('resolv-retry: tries per attempt', () => {
    assert.equal(resolveTries(Number.POSITIVE_INFINITY), 1);
    assert.equal(resolveTries(0), 0);
    assert.equal(resolveTries(1), 1);
    assert.equal(resolveTries(5), 1);
    assert.equal(resolveTries(6), 2);
    assert.equal(resolveTries(30), 6);
  });

  it('failure hints from ConnectError, fatalError, or a flag on any Error', () => {
    assert.deepEqual(failureHints(new Error('x')), {});
    assert.deepEqual(failureHints(new ConfigError({ file: '/x/ca.crt', line: 0 }, 'cannot read', 'ca')), {
      fatal: true,
    });
    assert.deepEqual(failureHints('x'), {});
    assert.deepEqual(failureHints(Object.assign(new Error('x'), { fatal: true, exitCode: 0 })), {
      fatal: true,
      exitCode: 0,
    });
    assert.deepEqual(failureHints(fatalError('bad file')), {
      fatal: true,
      exitCode: 1,
      signalText: undefined,
    });
    assert.deepEqual(failureHints(new ConnectError('x', { sameRemote: true })), { sameRemote: true });
    assert.deepEqual(failureHints(peerGoneError('expired', 'restart')), {
      inactivity: 'restart',
      signalText: 'ping-restart',
    });
    assert.deepEqual(failureHints(peerGoneError('expired', 'exit')).inactivity, 'exit');
    assert.equal(failureHints(peerGoneError('transport-disconnect', 'restart')).inactivity, undefined);
  });

  it('keepalive: pushed values win; a pushed ping-restart makes the action restart', () => {
    const profile = { ping: 0, pingRecvTimeout: 0, pingAction: undefined };
    assert.equal(effectiveKeepalive(profile, { ping: undefined, pingRestart: undefined }), undefined);
    assert.deepEqual(effectiveKeepalive(profile, { ping: 2, pingRestart: 8 }), {
      interval: 2,
      timeout: 8,
      action: 'restart',
    });
    const exit = { ping: 5, pingRecvTimeout: 30, pingAction: 'exit' as const };
    assert.deepEqual(effectiveKeepalive(exit, { ping: undefined, pingRestart: undefined }), {
      interval: 5,
      timeout: 30,
      action: 'exit',
    });
    assert.deepEqual(effectiveKeepalive(exit, { ping: 10, pingRestart: 60 })?.action, 'restart');
  });

  it('the pushed digest ignores peer-id, auth-token and cipher only', () => {
    const a = pushedDigest(['route-gateway 10.8.0.1', 'peer-id 0', 'cipher AES-256-GCM', 'auth-token x']);
    assert.equal(a, pushedDigest(['route-gateway 10.8.0.1', 'peer-id 7', 'cipher AES-128-GCM']));
    assert.notEqual(a, pushedDigest(['route-gateway 10.8.0.2', 'peer-id 0']));
  });

  it('the connection order is shuffled only with remote-random', () => {
    assert.deepEqual(
      connectionOrder(3, false, () => 0),
      [0, 1, 2],
    );
    assert.deepEqual(
      connectionOrder(3, true, () => 0),
      [1, 2, 0],
    );
    assert.deepEqual(
      connectionOrder(3, true, (n) => n - 1),
      [0, 1, 2],
    );
  });
});
