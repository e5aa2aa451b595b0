import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lifecycle, type LifecycleClient, type LifecycleHooks } from '../../../src/openvpn/lifecycle.js';

interface Opts {
  name: string;
  notify?: boolean;
}

/** A client whose connect() the test settles by hand. */
class FakeClient implements LifecycleClient<string> {
  closed = 0;
  resolve: (v: string) => void = () => {};
  reject: (e: Error) => void = () => {};
  constructor(readonly options: Opts) {}
  connect(): Promise<string> {
    return new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  close(): void {
    this.closed++;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function harness(opts: { load?: () => Promise<Opts> } = {}) {
  const clients: FakeClient[] = [];
  const events: string[] = [];
  const hooks: LifecycleHooks<Opts, FakeClient, string> = {
    load: opts.load ?? (async () => ({ name: 'reloaded' })),
    create: (o) => {
      const c = new FakeClient(o);
      clients.push(c);
      events.push(`create ${o.name}`);
      return c;
    },
    log: (level, msg) => events.push(`log${level} ${msg}`),
    configured: (o) => events.push(`configured ${o.name}`),
    up: (u) => events.push(`up ${u}`),
    failed: (e) => events.push(`failed ${e.message}`),
    beforeExit: async (_c, o) => {
      if (o.notify) events.push('exit-notify');
    },
  };
  const lc = new Lifecycle<Opts, FakeClient, string>(hooks, { name: 'first', notify: true });
  return { lc, clients, events };
}

describe('client lifecycle', () => {
  it('connects, is up, and exits 0 on SIGTERM after the exit notification, closing the client', async () => {
    const { lc, clients, events } = harness();
    assert.equal(lc.state, 'idle');
    lc.start();
    assert.equal(lc.state, 'connecting');
    clients[0].resolve('u1');
    await tick();
    assert.equal(lc.state, 'up');
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
    assert.equal(lc.state, 'exited');
    assert.equal(clients[0].closed, 1);
    assert.deepEqual(events, [
      'configured first',
      'create first',
      'up u1',
      'log1 SIGTERM[hard,] received, process exiting',
      'exit-notify',
    ]);
  });

  it("SIGUSR1 closes the client and connects a new one with the same options; the old one's late result is ignored", async () => {
    const { lc, clients, events } = harness();
    lc.start();
    clients[0].resolve('u1');
    await tick();
    lc.signal('SIGUSR1');
    assert.equal(clients.length, 2);
    assert.equal(clients[0].closed, 1);
    assert.equal(clients[1].options.name, 'first');
    assert.equal(lc.state, 'connecting');
    assert.equal(lc.connections, 2);
    clients[1].resolve('u2');
    await tick();
    assert.equal(lc.state, 'up');
    // SIGUSR1 while connecting: the pending connect is abandoned, its late rejection ignored
    lc.signal('SIGUSR1');
    lc.signal('SIGUSR1');
    assert.equal(clients.length, 4);
    clients[2].reject(new Error('closed'));
    clients[1].resolve('late');
    await tick();
    assert.equal(lc.state, 'connecting');
    assert.ok(!events.some((e) => e.startsWith('failed')));
    lc.signal('SIGINT');
    assert.equal(await lc.done, 0);
    assert.deepEqual(
      clients.map((c) => c.closed),
      [1, 1, 1, 1],
    );
  });

  it('SIGHUP re-reads the config and connects with the new options', async () => {
    const { lc, clients, events } = harness();
    lc.start();
    clients[0].resolve('u1');
    await tick();
    lc.signal('SIGHUP');
    assert.equal(lc.state, 'reloading');
    assert.equal(clients[0].closed, 1);
    lc.signal('SIGUSR1'); // ignored while reloading
    await tick();
    assert.equal(clients.length, 2);
    assert.equal(clients[1].options.name, 'reloaded');
    assert.equal(lc.options.name, 'reloaded');
    assert.ok(events.includes('configured reloaded'));
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('a config error on SIGHUP ends the process with 1; SIGTERM during the reload ends it with 0', async () => {
    const bad = harness({
      load: async () => {
        throw new Error('c.ovpn:3: foo: unrecognized option');
      },
    });
    bad.lc.start();
    bad.lc.signal('SIGHUP');
    assert.equal(await bad.lc.done, 1);
    assert.ok(bad.events.includes('log0 ERROR: c.ovpn:3: foo: unrecognized option'));

    let release: (o: Opts) => void = () => {};
    const slow = harness({ load: () => new Promise((r) => (release = r)) });
    slow.lc.start();
    slow.lc.signal('SIGHUP');
    slow.lc.signal('SIGTERM');
    release({ name: 'late' });
    assert.equal(await slow.lc.done, 0);
    assert.equal(slow.clients.length, 1);
  });

  it('a failed connection ends the process with 1 after the failed hook, without exit notification', async () => {
    const { lc, clients, events } = harness();
    lc.start();
    clients[0].reject(new Error('TLS handshake failed'));
    assert.equal(await lc.done, 1);
    assert.equal(clients[0].closed, 1);
    assert.ok(events.includes('log1 ERROR: TLS handshake failed'));
    assert.ok(events.includes('failed TLS handshake failed'));
    assert.ok(!events.includes('exit-notify'));
  });

  it('a tunnel lost after up ends the process with 1 after the failed hook, without exit notification', async () => {
    const { lc, clients, events } = harness();
    lc.start();
    clients[0].resolve('u1');
    await tick();
    // a client that is no longer the current one is not listened to
    lc.signal('SIGUSR1');
    lc.lost(clients[0], new Error('old'));
    assert.equal(lc.state, 'connecting');
    clients[1].resolve('u2');
    await tick();
    lc.lost(clients[1], new Error('the server closed the TCP connection'));
    assert.equal(await lc.done, 1);
    assert.equal(clients[1].closed, 1);
    assert.ok(events.includes('failed the server closed the TCP connection'));
    assert.ok(!events.includes('failed old'));
    assert.ok(!events.includes('exit-notify'));
  });

  it('signals after the end, or a second SIGTERM, change nothing', async () => {
    const { lc, clients } = harness();
    lc.start();
    lc.signal('SIGTERM');
    lc.signal('SIGTERM');
    lc.signal('SIGUSR1');
    assert.equal(await lc.done, 0);
    assert.equal(clients.length, 1);
    assert.equal(clients[0].closed, 1);
  });

  it('a soft signal from the connection (AUTH_FAILED, RESTART) carries its reason in the log', async () => {
    const { lc, clients, events } = harness();
    lc.start();
    lc.signal('SIGUSR1', 'server-pushed-connection-reset');
    assert.equal(clients.length, 2);
    assert.ok(
      events.includes('log1 SIGUSR1[soft,server-pushed-connection-reset] received, process restarting'),
    );
    lc.signal('SIGTERM', 'auth-failure');
    assert.equal(await lc.done, 0);
    assert.ok(events.includes('log1 SIGTERM[soft,auth-failure] received, process exiting'));
    assert.equal(clients[1].closed, 1);
  });
});
