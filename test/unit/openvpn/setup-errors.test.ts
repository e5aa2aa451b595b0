/**
 * Setup errors of a connection end the process instead of a retry (connect-retry.ts setupStep), an
 * aborted prompt ends it as SIGINT does (exit 0), the TLS material is loaded once per set of options
 * (tls-config.ts TlsConfigCache), and the pull filters run before the auth-token is taken from a
 * PUSH_REPLY (push-reply.ts).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClientOptions } from '../../../src/config/client-options.js';
import { loadClientConfig } from '../../../src/config/load.js';
import { AuthUserPass } from '../../../src/openvpn/auth-user-pass.js';
import { OpenvpnClient } from '../../../src/openvpn/client.js';
import { failureHints, promptAborted, setupStep } from '../../../src/openvpn/connect-retry.js';
import type { DataPlane } from '../../../src/openvpn/data-plane.js';
import { PullFilterRejected } from '../../../src/openvpn/pull-filter.js';
import { acceptPushReply } from '../../../src/openvpn/push-reply.js';
import { askLine, loadTlsConfig, TlsConfigCache } from '../../../src/openvpn/tls-config.js';
import { issue, makeCa } from '../../support/pki.js';

const CLIENT_EXT = ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'];

describe('setup errors end the process', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ovfa-unit-'));
    makeCa(dir, 'ca', '/CN=ovfa-ca');
    issue(dir, 'cli', { subj: '/CN=ovfa-client', ext: CLIENT_EXT });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function options(extra: string[]): Promise<ClientOptions> {
    const argv = ['--client', '--dev', 'tun', '--remote', '192.0.2.1', '1194', '--nobind', ...extra];
    const { options } = await loadClientConfig(argv, { readFile: (p) => readFile(p), cwd: dir });
    return options;
  }

  /** connect() of a client whose setup fails before any socket or device: its failure's hints. */
  async function connectFailure(o: ClientOptions, auth?: AuthUserPass) {
    const api = {} as unknown as DataPlane; // never reached: setup fails first
    const c = new OpenvpnClient(api, o, { readFile: (p) => readFile(p), log: () => {}, auth });
    try {
      await c.connect();
    } catch (e) {
      return { error: e as Error, hints: failureHints(e) };
    } finally {
      c.close();
    }
    assert.fail('connect() succeeded');
  }

  const files = ['--ca', 'ca.crt', '--cert', 'cli.crt', '--key', 'cli.key'];

  it('a bad PEM key is fatal, naming key', async () => {
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
    const r = await connectFailure(
      await options(['--ca', 'ca.crt', '--cert', 'cli.crt', '--key', 'bad.key']),
    );
    assert.equal(r.hints.fatal, true);
    assert.match(r.error.message, /^key: /);
  });

  it('no cipher matching tls-cipher is fatal, naming tls-cipher', async () => {
    const r = await connectFailure(await options([...files, '--tls-cipher', 'NO-SUCH-CIPHER']));
    assert.equal(r.hints.fatal, true);
    assert.match(r.error.message, /^tls-cipher: /);
  });

  it('a missing crl-verify directory and a bad tls-crypt key are fatal', async () => {
    const crl = await connectFailure(await options([...files, '--crl-verify', 'nodir', 'dir']));
    assert.equal(crl.hints.fatal, true);
    assert.match(crl.error.message, /^crl-verify: /);
    const tc = await connectFailure(await options([...files, '--tls-crypt', 'cli.crt']));
    assert.equal(tc.hints.fatal, true);
    assert.match(tc.error.message, /tls-crypt/);
  });

  it('credentials that cannot be had (no terminal) are fatal; an aborted prompt exits 0', async () => {
    const o = await options([...files, '--auth-user-pass']);
    const noTty = new AuthUserPass({ readFile: () => '', prompter: () => undefined }, o);
    const r = await connectFailure(o, noTty);
    assert.equal(r.hints.fatal, true);
    assert.equal(r.hints.exitCode ?? 1, 1);
    assert.match(r.error.message, /^auth-user-pass: /);
    const aborted = new AuthUserPass(
      {
        readFile: () => '',
        prompter: () => ({ ask: () => Promise.reject(promptAborted('auth-user-pass')) }),
      },
      o,
    );
    const a = await connectFailure(o, aborted);
    assert.equal(a.hints.fatal, true);
    assert.equal(a.hints.exitCode, 0);
  });

  it('setupStep keeps the hints an error has and marks any other fatal', async () => {
    const plain = await setupStep(Promise.reject(new Error('x'))).catch((e: unknown) => failureHints(e));
    assert.deepEqual(plain, { fatal: true });
    const ab = await setupStep(Promise.reject(promptAborted('askpass'))).catch((e: unknown) =>
      failureHints(e),
    );
    assert.equal(ab.fatal, true);
    assert.equal(ab.exitCode, 0);
    assert.equal(await setupStep(Promise.resolve(7)), 7);
  });

  it('the TLS material is loaded once per options object, again for new options, and not kept after a failure', async () => {
    const o = await options(files);
    let loads = 0;
    let fail = false;
    const cache = new TlsConfigCache(async (opts, rf) => {
      loads++;
      if (fail) throw new Error('key: refused');
      return loadTlsConfig(opts, rf);
    });
    const rf = (p: string) => readFileSync(p);
    const a = await cache.load(o, rf);
    const b = await cache.load(o, rf);
    assert.equal(a, b);
    assert.equal(loads, 1);
    const o2 = await options(files); // a SIGHUP re-read
    fail = true;
    await assert.rejects(cache.load(o2, rf), /refused/);
    fail = false;
    await cache.load(o2, rf);
    assert.equal(loads, 3);
  });
});

describe('askLine (the private key password prompt)', () => {
  class FakeRl extends EventEmitter {
    answer: ((a: string) => void) | undefined;
    question(_p: string, cb: (a: string) => void): void {
      this.answer = cb;
    }
  }

  it('an answer resolves', async () => {
    const rl = new FakeRl();
    const p = askLine(rl, 'pw: ');
    rl.answer?.('sesame');
    rl.emit('close');
    assert.equal(await p, 'sesame');
  });

  it('Ctrl-C (SIGINT or close without an answer) rejects as fatal with exit 0 instead of hanging', async () => {
    for (const ev of ['close', 'SIGINT']) {
      const rl = new FakeRl();
      const p = askLine(rl, 'pw: ');
      rl.emit(ev);
      const h = await p.then(
        () => assert.fail('resolved'),
        (e: unknown) => failureHints(e),
      );
      assert.equal(h.fatal, true, ev);
      assert.equal(h.exitCode, 0, ev);
    }
  });
});

describe('acceptPushReply: pull filters before the auth-token', () => {
  const opts = { authUserPass: undefined, authNocache: false, authRetry: 'none' as const };
  const auth = () => new AuthUserPass({ readFile: () => '' }, opts);

  it('pull-filter ignore auth-token keeps the token out', () => {
    const a = auth();
    const out = acceptPushReply(
      ['ping 10', 'auth-token SECRET', 'auth-token-user Ym9i', 'peer-id 0'],
      [{ action: 'ignore', pattern: 'auth-token' }],
      a,
      () => {},
      (l) => l,
    );
    // the pattern also matches auth-token-user, as 2.6's prefix match does
    assert.deepEqual(out, ['ping 10', 'peer-id 0']);
    assert.equal(a.hasToken, false);
  });

  it('a rejected reply installs no token', () => {
    const a = auth();
    assert.throws(
      () =>
        acceptPushReply(
          ['auth-token SECRET', 'auth-token-user Ym9i', 'route 10.0.0.0 255.0.0.0'],
          [{ action: 'reject', pattern: 'route' }],
          a,
          () => {},
          (l) => l,
        ),
      PullFilterRejected,
    );
    assert.equal(a.hasToken, false);
  });

  it('without filters the token is taken', () => {
    const a = auth();
    acceptPushReply(
      ['auth-token SECRET', 'auth-token-user Ym9i'],
      [],
      a,
      () => {},
      (l) => l,
    );
    assert.equal(a.hasToken, true);
  });
});
