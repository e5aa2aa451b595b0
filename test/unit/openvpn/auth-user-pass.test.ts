import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientOptions } from '../../../src/config/client-options.js';
import { decodeKeyMethod2, encodeKeyMethod2 } from '../../../src/control/key-method2.js';
import {
  AuthUserPass,
  PASSWORD_PROMPT,
  type Prompter,
  PromptLine,
  parseAuthUserPassFile,
  redactControlMessage,
  USERNAME_PROMPT,
} from '../../../src/openvpn/auth-user-pass.js';

type AuthOpts = Pick<ClientOptions, 'authUserPass' | 'authNocache' | 'authRetry'>;

const file = (path: string): AuthOpts['authUserPass'] => ({ kind: 'path', path, dir: '/etc/ovpn' });

/** A prompter that answers from a list and records the questions. */
function scripted(answers: string[]) {
  const asked: Array<[string, boolean]> = [];
  const prompter: Prompter = {
    ask: async (prompt, echo) => {
      asked.push([prompt, echo]);
      const a = answers.shift();
      if (a === undefined) throw new Error(`unexpected prompt ${prompt}`);
      return Buffer.from(a);
    },
  };
  return { asked, factory: () => prompter };
}

/** An AuthUserPass over an in-memory file system; `reads` counts file reads. */
function harness(opts: Partial<AuthOpts>, files: Record<string, string> = {}, answers: string[] = []) {
  const reads: string[] = [];
  const logs: string[] = [];
  const p = scripted(answers);
  const auth = new AuthUserPass(
    {
      readFile: (path) => {
        reads.push(path);
        const f = files[path];
        if (f === undefined) throw new Error('ENOENT: no such file');
        return f;
      },
      prompter: p.factory,
      log: (m) => logs.push(m),
    },
    { authUserPass: undefined, authNocache: false, authRetry: 'none', ...opts },
  );
  return { auth, reads, logs, asked: p.asked };
}

async function sent(auth: AuthUserPass) {
  const c = await auth.forKeyMethod2();
  return c === undefined ? undefined : { username: c.username, password: c.password.toString() };
}

describe('auth-user-pass file', () => {
  it('takes the username from the first line and the password from the second (CR dropped)', () => {
    const r = parseAuthUserPassFile(Buffer.from('alice\r\ns3cret pass\r\nignored\n'), 'f');
    assert.equal(r.username, 'alice');
    assert.equal(r.password?.toString(), 's3cret pass');
  });

  it('has no password when the second line is missing or empty', () => {
    assert.equal(parseAuthUserPassFile(Buffer.from('bob'), 'f').password, undefined);
    assert.equal(parseAuthUserPassFile(Buffer.from('bob\n'), 'f').password, undefined);
    assert.equal(parseAuthUserPassFile(Buffer.from('bob\n\nthird\n'), 'f').password, undefined);
  });

  it('drops control characters, as string_mod(CC_PRINT) does, and keeps UTF-8', () => {
    const r = parseAuthUserPassFile(Buffer.from('j\tö\x7fe\npa\x01ss\n'), 'f');
    assert.equal(r.username, 'jöe');
    assert.equal(r.password?.toString(), 'pass');
  });

  it('refuses an empty username and overlong fields, naming the file', () => {
    assert.throws(
      () => parseAuthUserPassFile(Buffer.from('\npw\n'), "'/x/up.txt'"),
      /username in '\/x\/up.txt' is empty/,
    );
    assert.throws(() => parseAuthUserPassFile(Buffer.from(''), 'f'), /is empty/);
    assert.throws(
      () => parseAuthUserPassFile(Buffer.from(`${'u'.repeat(128)}\np\n`), 'f'),
      /username in f is 128 bytes, more than 127/,
    );
    assert.throws(
      () => parseAuthUserPassFile(Buffer.from(`u\n${'p'.repeat(200)}\n`), 'f'),
      /password in f is 200 bytes/,
    );
    assert.equal(
      parseAuthUserPassFile(Buffer.from(`${'u'.repeat(127)}\n${'p'.repeat(127)}`), 'f').username.length,
      127,
    );
  });
});

describe('AuthUserPass', () => {
  it('sends nothing without auth-user-pass', async () => {
    const { auth, reads } = harness({});
    await auth.prepare();
    assert.equal(await auth.forKeyMethod2(), undefined);
    assert.deepEqual(reads, []);
  });

  it('reads the file once and caches it (with 2.6 warning), or again each time with auth-nocache', async () => {
    const files = { '/etc/ovpn/up.txt': 'alice\nwonderland\n' };
    const cached = harness({ authUserPass: file('up.txt') }, files);
    await cached.auth.prepare();
    assert.deepEqual(await sent(cached.auth), { username: 'alice', password: 'wonderland' });
    assert.deepEqual(await sent(cached.auth), { username: 'alice', password: 'wonderland' });
    assert.equal(cached.reads.length, 1);
    assert.equal(cached.logs.filter((l) => l.includes('may cache passwords')).length, 1);
    assert.ok(cached.logs.every((l) => !l.includes('wonderland')));

    const nocache = harness({ authUserPass: file('up.txt'), authNocache: true }, files);
    await nocache.auth.prepare();
    assert.deepEqual(await sent(nocache.auth), { username: 'alice', password: 'wonderland' });
    assert.equal(nocache.auth.cached, false, 'forgotten right after use');
    assert.deepEqual(await sent(nocache.auth), { username: 'alice', password: 'wonderland' });
    assert.equal(nocache.reads.length, 2);
    assert.deepEqual(nocache.logs, []);
  });

  it('reads an inline block', async () => {
    const { auth } = harness({ authUserPass: { kind: 'inline', text: 'carol\nhunter2\n' } });
    assert.deepEqual(await sent(auth), { username: 'carol', password: 'hunter2' });
  });

  it('reports an unreadable file as a config error naming the path', async () => {
    const { auth } = harness({ authUserPass: file('missing.txt') });
    await assert.rejects(auth.prepare(), /\/etc\/ovpn\/missing\.txt.*cannot read the auth-user-pass file/);
  });

  it('asks for username (echoed) and password (not echoed) without a file', async () => {
    const { auth, asked } = harness({ authUserPass: 'prompt' }, {}, ['dave', 'pw d']);
    await auth.prepare();
    assert.deepEqual(asked, [
      [USERNAME_PROMPT, true],
      [PASSWORD_PROMPT, false],
    ]);
    assert.deepEqual(await sent(auth), { username: 'dave', password: 'pw d' });
    assert.equal(asked.length, 2, 'cached: not asked again');
  });

  it('asks only for the password when the file has the username alone', async () => {
    const { auth, asked } = harness({ authUserPass: file('u.txt') }, { '/etc/ovpn/u.txt': 'erin\n' }, ['pw']);
    assert.deepEqual(await sent(auth), { username: 'erin', password: 'pw' });
    assert.deepEqual(asked, [[PASSWORD_PROMPT, false]]);
  });

  it('refuses an empty username typed at the prompt', async () => {
    const { auth } = harness({ authUserPass: 'prompt' }, {}, ['', 'x']);
    await assert.rejects(auth.prepare(), /username is empty/);
  });

  it('says clearly that there is no terminal to ask on', async () => {
    const opts: AuthOpts = { authUserPass: 'prompt', authNocache: false, authRetry: 'none' };
    const noTty = new AuthUserPass({ readFile: () => '', prompter: () => undefined }, opts);
    await assert.rejects(
      noTty.prepare(),
      /a username and password must be entered, but there is no terminal/,
    );
    const userOnly = new AuthUserPass(
      { readFile: () => 'frank\n', prompter: () => undefined },
      { ...opts, authUserPass: file('u.txt') },
    );
    await assert.rejects(
      userOnly.prepare(),
      /the password of 'frank' must be entered, but there is no terminal/,
    );
  });

  it('sends a pushed auth-token instead of the password, with the username sent before', async () => {
    const { auth, reads, logs } = harness(
      { authUserPass: file('up.txt'), authNocache: true },
      { '/etc/ovpn/up.txt': 'alice\npw\n' },
    );
    assert.deepEqual(await sent(auth), { username: 'alice', password: 'pw' });
    auth.applyPushed(['route 10.0.0.0 255.0.0.0', 'auth-token SESS_ID_AT_abc']);
    assert.ok(auth.hasToken);
    assert.deepEqual(await sent(auth), { username: 'alice', password: 'SESS_ID_AT_abc' });
    await auth.prepare();
    assert.equal(reads.length, 1, 'with a token, the file is not read again');
    // a renewed token replaces it; auth-token-user (base64) replaces the username
    auth.applyPushed([
      'auth-token SESS_ID_AT_def',
      `auth-token-user ${Buffer.from('bob').toString('base64')}`,
    ]);
    assert.deepEqual(await sent(auth), { username: 'bob', password: 'SESS_ID_AT_def' });
    auth.applyPushed(['auth-token-user !!!']);
    assert.ok(logs.includes('Error decoding auth-token-username'));
    assert.ok(logs.every((l) => !l.includes('SESS_ID_AT')));
  });

  it('AUTH_FAILED with a token drops it and reconnects with the password', async () => {
    const { auth, reads } = harness(
      { authUserPass: file('up.txt'), authNocache: true },
      { '/etc/ovpn/up.txt': 'a\np\n' },
    );
    await sent(auth);
    auth.applyPushed(['auth-token T1']);
    assert.deepEqual(auth.authFailed(undefined), { kind: 'restart', reason: 'auth-failure (auth-token)' });
    assert.equal(auth.hasToken, false);
    await auth.prepare();
    assert.equal(reads.length, 2);
    assert.deepEqual(await sent(auth), { username: 'a', password: 'p' });
    // without a token now, auth-retry none ends the process
    assert.deepEqual(auth.authFailed('bad password'), { kind: 'halt', reason: 'auth-failure' });
  });

  it('auth-retry: nointeract keeps the credentials, interact asks again', async () => {
    const keep = harness({ authUserPass: 'prompt', authRetry: 'nointeract' }, {}, ['u', 'p']);
    await keep.auth.prepare();
    assert.deepEqual(keep.auth.authFailed(undefined), { kind: 'restart', reason: 'auth-failure' });
    assert.ok(keep.auth.cached);

    const ask = harness({ authUserPass: 'prompt', authRetry: 'interact' }, {}, ['u', 'p', 'u2', 'p2']);
    await ask.auth.prepare();
    assert.deepEqual(ask.auth.authFailed(undefined), { kind: 'restart', reason: 'auth-failure' });
    assert.equal(ask.auth.cached, false);
    await ask.auth.prepare();
    assert.deepEqual(await sent(ask.auth), { username: 'u2', password: 'p2' });
    assert.equal(ask.asked.length, 4);

    assert.equal(harness({ authUserPass: 'prompt' }).auth.authFailed('TEMP[backoff 5]').kind, 'restart');
  });

  it('RESTART/HALT forget the credentials unless the server said [P]; a token stays', async () => {
    const { auth } = harness({ authUserPass: 'prompt' }, {}, ['u', 'p']);
    await auth.prepare();
    auth.serverSignal(true);
    assert.ok(auth.cached);
    auth.applyPushed(['auth-token T']);
    await sent(auth);
    auth.serverSignal(false);
    assert.equal(auth.cached, false);
    assert.ok(auth.hasToken);
  });

  it('the password goes into key-method 2 as bytes and reads back', () => {
    const ks = { preMaster: Buffer.alloc(48, 1), random1: Buffer.alloc(32, 2), random2: Buffer.alloc(32, 3) };
    const pw = Buffer.from('pässword');
    const m = encodeKeyMethod2({ keySource: ks, options: 'V4', username: 'u', password: pw }, 'client');
    const d = decodeKeyMethod2(m, 'client');
    assert.equal(d.username, 'u');
    assert.equal(d.password, 'pässword');
    assert.throws(
      () =>
        encodeKeyMethod2(
          { keySource: ks, options: 'V4', username: 'u', password: Buffer.from('a\0b') },
          'client',
        ),
      /password contains a NUL byte/,
    );
  });
});

describe('redactControlMessage', () => {
  it("leaves out an auth-token's value, as sanitize_control_message does", () => {
    assert.equal(
      redactControlMessage('PUSH_REPLY,route-gateway 10.8.0.1,auth-token SESS_ID_AT_xyz==,peer-id 0'),
      'PUSH_REPLY,route-gateway 10.8.0.1,auth-token,peer-id 0',
    );
    assert.equal(redactControlMessage('auth-token SECRET'), 'auth-token');
    assert.equal(redactControlMessage('PUSH_REPLY,auth-token-user Ym9i'), 'PUSH_REPLY,auth-token-user Ym9i');
  });

  it('leaves out a value after any whitespace, as the options are split (a tab too)', () => {
    for (const sep of ['\t', '  ', '\t ', '\v', '\f']) {
      const msg = `PUSH_REPLY,ping 10,auth-token${sep}SECRET_TOKEN,peer-id 0`;
      const shown = redactControlMessage(msg);
      assert.doesNotMatch(shown, /SECRET_TOKEN/, JSON.stringify(sep));
      assert.equal(shown, 'PUSH_REPLY,ping 10,auth-token,peer-id 0');
      // the token the client takes from that line is the one hidden
      const { auth } = harness({});
      auth.applyPushed([`auth-token${sep}SECRET_TOKEN`, 'auth-token-user Ym9i']);
      assert.ok(auth.hasToken, JSON.stringify(sep));
    }
    assert.equal(redactControlMessage('auth-token\tSECRET'), 'auth-token');
  });
});

describe('PromptLine', () => {
  const feed = (line: PromptLine, s: string | number[], echo = true) =>
    line.feed(typeof s === 'string' ? Buffer.from(s) : Buffer.from(s), echo);

  it('echoes what is typed (or nothing) and ends at Enter', () => {
    const l = new PromptLine();
    assert.deepEqual(feed(l, 'ab'), { echo: Buffer.from('ab'), state: 'more' });
    assert.equal(feed(l, 'c\r').state, 'done');
    assert.equal(l.take().toString(), 'abc');
    const p = new PromptLine();
    const r = feed(p, 'secret\n', false);
    assert.equal(r.echo.length, 0);
    assert.equal(p.take().toString(), 'secret');
  });

  it('takes back a whole UTF-8 character on backspace, clears on Ctrl-U', () => {
    const l = new PromptLine();
    feed(l, 'aé');
    assert.deepEqual(feed(l, [0x7f]).echo, Buffer.from('\b \b'));
    feed(l, 'b');
    assert.equal(feed(l, '\r').state, 'done');
    assert.equal(l.take().toString(), 'ab');
    const u = new PromptLine();
    feed(u, 'xyz');
    assert.equal(feed(u, [0x15]).echo.toString(), '\b \b\b \b\b \b');
    feed(u, 'q\r');
    assert.equal(u.take().toString(), 'q');
  });

  it('aborts on Ctrl-C, and on Ctrl-D at the start of the line only', () => {
    assert.equal(feed(new PromptLine(), [0x61, 0x03]).state, 'aborted');
    assert.equal(feed(new PromptLine(), [0x04]).state, 'aborted');
    const l = new PromptLine();
    assert.equal(feed(l, [0x61, 0x04, 0x0d]).state, 'done');
    assert.equal(l.take().toString(), 'a');
  });
});
