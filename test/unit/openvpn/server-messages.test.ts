import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseControlMessage } from '../../../src/control/control-message.js';
import { AuthUserPass } from '../../../src/openvpn/auth-user-pass.js';
import { clientMessageLevel, LOG_FATAL, LOG_INFO } from '../../../src/openvpn/log.js';
import { serverMessage, waitUntil } from '../../../src/openvpn/server-messages.js';

function auth(retry: 'none' | 'nointeract' | 'interact' = 'none') {
  return new AuthUserPass(
    { readFile: () => 'user\npass\n', prompter: () => undefined },
    { authUserPass: { kind: 'path', path: 'up', dir: '/' }, authNocache: false, authRetry: retry },
  );
}

const handle = (text: string, a = auth()) => serverMessage(parseControlMessage(text), text, a);

describe('server control messages', () => {
  it('AUTH_FAILED is logged at verb 0 and ends the process with auth-retry none', () => {
    const r = handle('AUTH_FAILED,bad credentials');
    assert.deepEqual(r.log, ['AUTH: Received control message: AUTH_FAILED,bad credentials']);
    assert.equal(clientMessageLevel(r.log[0]), LOG_FATAL);
    assert.deepEqual(r.command, {
      kind: 'halt',
      reason: 'auth-failure',
      message: 'AUTH_FAILED,bad credentials',
      authFailed: true,
    });
    assert.equal(handle('AUTH_FAILED').command?.message, 'AUTH_FAILED');
  });

  it('AUTH_FAILED reconnects with auth-retry nointeract, and after a token failed', async () => {
    assert.equal(handle('AUTH_FAILED', auth('nointeract')).command?.kind, 'restart');
    const a = auth();
    await a.forKeyMethod2();
    a.applyPushed(['auth-token X']);
    assert.equal(handle('AUTH_FAILED', a).command?.reason, 'auth-failure (auth-token)');
    assert.equal(a.hasToken, false);
  });

  it('RESTART and HALT are commands with 2.6 reasons; [P] keeps the credentials', async () => {
    const a = auth();
    await a.prepare();
    const r = handle('RESTART,[P]:maintenance', a);
    assert.deepEqual(r.log, ["Connection reset command was pushed by server ('[P]:maintenance')"]);
    assert.equal(clientMessageLevel(r.log[0]), LOG_INFO);
    assert.deepEqual(r.command, {
      kind: 'restart',
      reason: 'server-pushed-connection-reset',
      message: 'RESTART,[P]:maintenance',
      authFailed: false,
      nextRemote: false,
    });
    assert.ok(a.cached);
    // [N]: the next connection goes to the next remote
    assert.equal(handle('RESTART,[PN]:move', a).command?.nextRemote, true);
    const h = handle('HALT,bye', a);
    assert.deepEqual(h.log, ["Halt command was pushed by server ('bye')"]);
    assert.equal(h.command?.kind, 'halt');
    assert.equal(h.command?.reason, 'server-pushed-halt');
    assert.equal(a.cached, false);
  });

  it('INFO and INFO_PRE are logged, AUTH_PENDING waited on, EXIT reconnects, the rest warned', () => {
    assert.deepEqual(handle('INFO,hello there'), {
      log: ["Info command was pushed by server ('hello there')"],
    });
    assert.deepEqual(handle('INFO_PRE,soon'), { log: ["Info command was pushed by server ('soon')"] });
    assert.equal(handle('AUTH_PENDING,timeout 30').command, undefined);
    assert.match(handle('AUTH_PENDING,timeout 30').log[0], /AUTH_PENDING received \(timeout 30 s\)/);
    assert.deepEqual(handle('EXIT').command, {
      kind: 'restart',
      reason: 'remote-exit',
      message: 'EXIT',
      authFailed: false,
    });
    assert.deepEqual(handle('FOO,auth-token zzz'), {
      log: ['WARNING: Received unknown control message: FOO,auth-token'],
    });
  });

  it('waitUntil resolves true once the condition holds, false at the deadline', async () => {
    let n = 0;
    assert.equal(await waitUntil(() => ++n > 3, 1000, 1), true);
    const t0 = Date.now();
    assert.equal(await waitUntil(() => false, 50, 5), false);
    assert.ok(Date.now() - t0 >= 45);
  });
});
