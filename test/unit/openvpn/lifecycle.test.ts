import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectError } from '../../../src/openvpn/connect-retry.js';
import {
  Lifecycle,
  type LifecycleClient,
  type LifecycleHooks,
  type Scheduler,
} from '../../../src/openvpn/lifecycle.js';

interface Entry {
  name: string;
  connectRetry: number;
  connectRetryMax: number;
  connectTimeout: number;
}

interface Opts {
  name: string;
  notify?: boolean;
  connections: Entry[];
  remoteRandom: boolean;
  connectRetryMax: number;
  resolvRetrySeconds: number;
  persistTun: boolean;
  authRetry?: 'none' | 'nointeract' | 'interact';
}

interface Tun {
  id: number;
}

function entry(name: string, e: Partial<Entry> = {}): Entry {
  return { name, connectRetry: 1, connectRetryMax: 300, connectTimeout: 0, ...e };
}

function opts(o: Partial<Opts> = {}): Opts {
  return {
    name: 'first',
    notify: true,
    connections: [entry('A')],
    remoteRandom: false,
    connectRetryMax: 0,
    resolvRetrySeconds: Number.POSITIVE_INFINITY,
    persistTun: false,
    ...o,
  };
}

/** A client whose connect() the test settles by hand. */
class FakeClient implements LifecycleClient<string, Entry> {
  closed = 0;
  entry: Entry | undefined;
  heard = false;
  resolve: (v: string) => void = () => {};
  reject: (e: Error) => void = () => {};
  constructor(
    readonly options: Opts,
    readonly tun: Tun | undefined,
    readonly onFailure: (e: Error) => void,
  ) {}
  connect(e: Entry): Promise<string> {
    this.entry = e;
    return new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  close(): void {
    this.closed++;
  }
  heardFromServer(): boolean {
    return this.heard;
  }
  ready = true;
  transportReady(): boolean {
    return this.ready;
  }
}

/** Timers run by hand: `advance(ms)` fires what falls due, in order. */
class ManualScheduler implements Scheduler {
  now = 0;
  private timers: { at: number; fn: () => void }[] = [];
  /** The delay of every timer set, in order. */
  readonly delays: number[] = [];
  after(ms: number, fn: () => void): () => void {
    const t = { at: this.now + ms, fn };
    this.timers.push(t);
    this.delays.push(ms);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }
  get pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = due.at;
      due.fn();
    }
    this.now = end;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function harness(
  first: Opts = opts(),
  h: { load?: () => Promise<Opts>; randomInt?: (n: number) => number } = {},
) {
  const clients: FakeClient[] = [];
  const events: string[] = [];
  const released: Tun[] = [];
  let tunIds = 0;
  const sched = new ManualScheduler();
  const hooks: LifecycleHooks<Opts, FakeClient, string, Tun> = {
    load: h.load ?? (async () => opts({ name: 'reloaded' })),
    create: (o, kept, onFailure) => {
      const c = new FakeClient(o, o.persistTun ? (kept ?? { id: ++tunIds }) : undefined, onFailure);
      clients.push(c);
      events.push(`create ${o.name}`);
      return c;
    },
    keptTun: (c) => c.tun,
    releaseTun: (t) => {
      released.push(t);
      events.push(`release tun${t.id}`);
    },
    log: (level, msg) => events.push(`log${level} ${msg}`),
    configured: (o) => events.push(`configured ${o.name}`),
    up: (u) => events.push(`up ${u}`),
    retrying: (e, _c, pause) => events.push(`retrying ${e.message} (${pause} s)`),
    failed: (e) =>
      events.push(`failed ${e.message}${e.cause instanceof Error ? ` (cause: ${e.cause.message})` : ''}`),
    beforeExit: async (_c, o) => {
      if (o.notify) events.push('exit-notify');
    },
  };
  const lc = new Lifecycle<Opts, FakeClient, string, Tun>(hooks, first, {
    scheduler: sched,
    randomInt: h.randomInt,
  });
  const last = () => clients[clients.length - 1];
  /** Fails the latest attempt and lets the promise callbacks run. */
  const failLast = async (e: Error = new Error('TLS handshake failed')) => {
    last().reject(e);
    await tick();
  };
  return { lc, clients, events, sched, released, last, failLast };
}

describe('client lifecycle', () => {
  it('connects, is up, and exits 0 on SIGTERM after the exit notification, closing the client', async () => {
    const { lc, clients, events } = harness();
    assert.equal(lc.state, 'idle');
    lc.start();
    assert.equal(lc.state, 'connecting');
    assert.equal(clients[0].entry?.name, 'A');
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

  it("SIGUSR1 closes the client and, after the connect-retry pause, connects a new one with the same options; the old one's late result is ignored", async () => {
    const { lc, clients, events, sched } = harness();
    lc.start();
    clients[0].resolve('u1');
    await tick();
    lc.signal('SIGUSR1');
    assert.equal(clients[0].closed, 1);
    assert.equal(lc.state, 'waiting');
    assert.ok(events.includes('log3 Restart pause, 1 second(s)'));
    sched.advance(999);
    assert.equal(clients.length, 1);
    sched.advance(1);
    assert.equal(clients.length, 2);
    assert.equal(clients[1].options.name, 'first');
    assert.equal(lc.state, 'connecting');
    assert.equal(lc.connections, 2);
    clients[1].resolve('u2');
    await tick();
    assert.equal(lc.state, 'up');
    // SIGUSR1 while connecting: the pending connect is abandoned, its late rejection ignored
    lc.signal('SIGUSR1');
    sched.advance(1000);
    lc.signal('SIGUSR1');
    lc.signal('SIGUSR1'); // ignored while waiting
    sched.advance(1000);
    assert.equal(clients.length, 4);
    clients[2].reject(new Error('closed'));
    clients[1].resolve('late');
    await tick();
    assert.equal(lc.state, 'connecting');
    assert.ok(!events.some((e) => e.startsWith('failed') || e.startsWith('retrying')));
    lc.signal('SIGINT');
    assert.equal(await lc.done, 0);
    assert.deepEqual(
      clients.map((c) => c.closed),
      [1, 1, 1, 1],
    );
  });

  it('SIGHUP re-reads the config and connects with the new options after the pause', async () => {
    const { lc, clients, events, sched } = harness();
    lc.start();
    clients[0].resolve('u1');
    await tick();
    lc.signal('SIGHUP');
    assert.equal(lc.state, 'reloading');
    assert.equal(clients[0].closed, 1);
    lc.signal('SIGUSR1'); // ignored while reloading
    await tick();
    assert.equal(lc.state, 'waiting');
    sched.advance(1000);
    assert.equal(clients.length, 2);
    assert.equal(clients[1].options.name, 'reloaded');
    assert.equal(lc.options.name, 'reloaded');
    assert.ok(events.includes('configured reloaded'));
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('a config error on SIGHUP ends the process with 1; SIGTERM during the reload ends it with 0', async () => {
    const bad = harness(opts(), {
      load: async () => {
        throw new Error('c.ovpn:3: foo: unrecognized option');
      },
    });
    bad.lc.start();
    bad.lc.signal('SIGHUP');
    assert.equal(await bad.lc.done, 1);
    assert.ok(bad.events.includes('log0 ERROR: c.ovpn:3: foo: unrecognized option'));

    let release: (o: Opts) => void = () => {};
    const slow = harness(opts(), { load: () => new Promise((r) => (release = r)) });
    slow.lc.start();
    slow.lc.signal('SIGHUP');
    slow.lc.signal('SIGTERM');
    release(opts({ name: 'late' }));
    assert.equal(await slow.lc.done, 0);
    assert.equal(slow.clients.length, 1);
    assert.equal(slow.sched.pending, 0);
  });

  it('a failed attempt moves to the next remote of the list, in order, round after round', async () => {
    const { lc, clients, events, sched, failLast } = harness(
      opts({ connections: [entry('A'), entry('B'), entry('C')] }),
    );
    lc.start();
    for (let i = 0; i < 7; i++) {
      await failLast();
      assert.equal(lc.state, 'waiting');
      sched.advance(1000);
    }
    assert.deepEqual(
      clients.map((c) => c.entry?.name),
      ['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B'],
    );
    assert.ok(clients.slice(0, 7).every((c) => c.closed === 1));
    assert.ok(events.includes('log1 ERROR: TLS handshake failed'));
    assert.ok(events.includes('log1 SIGUSR1[soft,tls-error] received, process restarting'));
    assert.ok(events.includes('retrying TLS handshake failed (1 s)'));
    assert.ok(!events.some((e) => e.startsWith('failed')));
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('the pause doubles for each round of the list beyond the fifth, up to the connect-retry maximum', async () => {
    const pauses = async (list: Entry[], n: number) => {
      const { lc, sched, failLast } = harness(opts({ connections: list }));
      lc.start();
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        await failLast();
        out.push(sched.delays[sched.delays.length - 1]);
        sched.advance(out[out.length - 1]);
      }
      lc.signal('SIGTERM');
      await lc.done;
      return out.map((ms) => ms / 1000);
    };
    // one remote: attempts 1-4 wait 1 s, then 2, 4, 8, 16...
    assert.deepEqual(await pauses([entry('A')], 9), [1, 1, 1, 1, 2, 4, 8, 16, 32]);
    // three remotes: rounds are counted, not attempts
    assert.deepEqual(
      await pauses([entry('A'), entry('B'), entry('C')], 19),
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 4, 4],
    );
    // connect-retry 3 20: 3 s, doubling from 3, capped at 20
    assert.deepEqual(
      await pauses([entry('A', { connectRetry: 3, connectRetryMax: 20 })], 8),
      [3, 3, 3, 3, 6, 12, 20, 20],
    );
  });

  it('connect-retry-max n ends the process with 1 after n rounds of the list', async () => {
    const { lc, clients, events, sched, failLast } = harness(
      opts({ connections: [entry('A'), entry('B')], connectRetryMax: 2 }),
    );
    lc.start();
    for (let i = 0; i < 3; i++) {
      await failLast();
      sched.advance(1000);
    }
    assert.equal(clients.length, 4);
    await failLast();
    sched.advance(1000);
    assert.equal(await lc.done, 1);
    assert.equal(clients.length, 4);
    assert.deepEqual(
      clients.map((c) => c.entry?.name),
      ['A', 'B', 'A', 'B'],
    );
    assert.ok(
      events.includes('log0 All connections have been connect-retry-max (2) times unsuccessful, exiting'),
    );
    assert.ok(
      events.some(
        (e) => e.startsWith('failed All connections') && e.endsWith('(cause: TLS handshake failed)'),
      ),
    );
  });

  it('a tunnel that expires once up (ping-restart) restarts to the same remote; a failure of that attempt moves on', async () => {
    const { lc, clients, events, sched, failLast, last } = harness(
      opts({ connections: [entry('A'), entry('B'), entry('C')] }),
    );
    lc.start();
    await failLast();
    sched.advance(1000);
    last().resolve('up on B');
    await tick();
    assert.equal(lc.state, 'up');
    // the unsuccessful count started again: no back-off left from before
    last().onFailure(
      new ConnectError('the data plane removed the peer: expired', {
        inactivity: 'restart',
        signalText: 'ping-restart',
      }),
    );
    assert.equal(lc.state, 'waiting');
    assert.ok(events.includes('log1 Inactivity timeout (--ping-restart), restarting'));
    assert.ok(events.includes('log1 SIGUSR1[soft,ping-restart] received, process restarting'));
    assert.equal(clients[1].closed, 1);
    sched.advance(1000);
    assert.equal(last().entry?.name, 'B');
    // a second report of the old client changes nothing
    clients[1].onFailure(new Error('late'));
    assert.equal(clients.length, 3);
    await failLast();
    sched.advance(1000);
    assert.equal(last().entry?.name, 'C');
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('other failures once up restart too; ping-exit exits 0', async () => {
    const r = harness();
    r.lc.start();
    r.last().resolve('u');
    await tick();
    r.last().onFailure(new Error('renegotiation failed'));
    assert.ok(r.events.includes('log1 ERROR: renegotiation failed'));
    assert.ok(r.events.includes('log1 SIGUSR1[soft,tls-error] received, process restarting'));
    r.sched.advance(1000);
    assert.equal(r.clients.length, 2);
    r.lc.signal('SIGTERM');
    await r.lc.done;

    const x = harness();
    x.lc.start();
    x.last().resolve('u');
    await tick();
    x.last().onFailure(new ConnectError('expired', { inactivity: 'exit' }));
    assert.equal(await x.lc.done, 0);
    assert.ok(x.events.includes('log1 Inactivity timeout (--ping-exit), exiting'));
    assert.ok(x.events.includes('log1 SIGTERM[soft,ping-exit] received, process exiting'));
    assert.equal(x.clients.length, 1);
  });

  it('SIGTERM during the restart pause exits at once, with no new attempt', async () => {
    const { lc, clients, sched, failLast } = harness(
      opts({ connections: [entry('A', { connectRetry: 60, connectRetryMax: 300 })] }),
    );
    lc.start();
    await failLast();
    assert.equal(lc.state, 'waiting');
    assert.equal(sched.pending, 1);
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
    assert.equal(sched.pending, 0);
    sched.advance(120_000);
    assert.equal(clients.length, 1);
  });

  it('persist-tun hands the same device to the next client and releases it at exit; without it, nothing is kept', async () => {
    const p = harness(opts({ persistTun: true }));
    p.lc.start();
    p.last().resolve('u1');
    await tick();
    const tun = p.clients[0].tun;
    assert.ok(tun !== undefined);
    p.last().onFailure(new ConnectError('expired', { inactivity: 'restart' }));
    p.sched.advance(1000);
    assert.equal(p.clients[1].tun, tun);
    await p.failLast(); // a failed attempt keeps it too
    p.sched.advance(1000);
    assert.equal(p.clients[2].tun, tun);
    p.lc.signal('SIGUSR1');
    p.sched.advance(1000);
    assert.equal(p.clients[3].tun, tun);
    assert.deepEqual(p.released, []);
    p.lc.signal('SIGTERM');
    await p.lc.done;
    assert.deepEqual(p.released, [tun]);

    // SIGHUP releases it: the new options decide again
    const h = harness(opts({ persistTun: true }), {
      load: async () => opts({ persistTun: true, name: 'r' }),
    });
    h.lc.start();
    const t1 = h.clients[0].tun;
    h.lc.signal('SIGHUP');
    await tick();
    h.sched.advance(1000);
    assert.deepEqual(h.released, [t1]);
    assert.notEqual(h.clients[1].tun, t1);
    h.lc.signal('SIGTERM');
    await h.lc.done;

    const n = harness();
    n.lc.start();
    await n.failLast();
    n.sched.advance(1000);
    assert.equal(n.clients[1].tun, undefined);
    n.lc.signal('SIGTERM');
    await n.lc.done;
    assert.deepEqual(n.released, []);
  });

  it('server-poll-timeout: no answer in time restarts at once to the next remote; an answer keeps the attempt', async () => {
    const { lc, clients, events, sched } = harness(
      opts({ connections: [entry('A', { connectTimeout: 5 }), entry('B', { connectTimeout: 5 })] }),
    );
    lc.start();
    sched.advance(5000);
    assert.ok(events.includes('log1 Server poll timeout, restarting'));
    assert.ok(events.includes('log1 SIGUSR1[soft,server_poll] received, process restarting'));
    assert.ok(events.includes('retrying server poll timeout: no answer from the server in 5 s (0 s)'));
    assert.equal(clients[0].closed, 1);
    // A's poll timer, no pause, B's poll timer
    assert.deepEqual(sched.delays, [5000, 0, 5000]);
    assert.ok(!events.some((e) => e.includes('Restart pause')));
    assert.equal(clients.length, 2);
    assert.equal(clients[1].entry?.name, 'B');
    clients[1].heard = true;
    sched.advance(60_000);
    assert.equal(clients.length, 2);
    assert.equal(lc.state, 'connecting');
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('server-poll-timeout counts from when the transport is ready (a TCP connect bounds itself)', async () => {
    const { lc, clients, sched } = harness(opts({ connections: [entry('A', { connectTimeout: 5 })] }));
    lc.start();
    clients[0].ready = false;
    sched.advance(12_000);
    assert.equal(clients.length, 1);
    clients[0].ready = true;
    sched.advance(2999);
    assert.equal(clients.length, 1);
    sched.advance(1); // the check at 15 s
    assert.equal(clients.length, 2);
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('a fatal failure ends the process with its exit status, without another attempt', async () => {
    const a = harness();
    a.lc.start();
    await a.failLast(Object.assign(new Error('AUTH_FAILED'), { fatal: true }));
    assert.equal(await a.lc.done, 1);
    assert.ok(a.events.includes('log0 Exiting due to fatal error'));
    assert.ok(a.events.includes('failed AUTH_FAILED'));
    assert.ok(!a.events.includes('exit-notify'));
    assert.equal(a.clients.length, 1);
    assert.equal(a.clients[0].closed, 1);

    const b = harness();
    b.lc.start();
    b.last().resolve('u');
    await tick();
    b.last().onFailure(
      new ConnectError('HALT', { fatal: true, exitCode: 0, signalText: 'server-pushed-halt' }),
    );
    assert.equal(await b.lc.done, 0);
    assert.ok(b.events.includes('log1 SIGTERM[soft,server-pushed-halt] received, process exiting'));
  });

  it('resolv-retry: 0 makes a failed lookup fatal, infinite moves on, n seconds retries the same remote every 5 s', async () => {
    const dns = () =>
      new ConnectError('RESOLVE: Cannot resolve host address: x:1194 (ENOTFOUND)', { resolve: true });
    const zero = harness(opts({ resolvRetrySeconds: 0, connections: [entry('A'), entry('B')] }));
    zero.lc.start();
    await zero.failLast(dns());
    assert.equal(await zero.lc.done, 1);

    const inf = harness(opts({ connections: [entry('A'), entry('B')] }));
    inf.lc.start();
    await inf.failLast(dns());
    assert.ok(inf.events.includes('log1 SIGUSR1[soft,socks-resolve-failure] received, process restarting'));
    inf.sched.advance(1000);
    assert.equal(inf.last().entry?.name, 'B');
    inf.lc.signal('SIGTERM');
    await inf.lc.done;

    const n = harness(opts({ resolvRetrySeconds: 12, connections: [entry('A'), entry('B')] }));
    n.lc.start();
    await n.failLast(dns());
    n.sched.advance(4999);
    assert.equal(n.clients.length, 1);
    n.sched.advance(1);
    assert.equal(n.last().entry?.name, 'A');
    await n.failLast(dns());
    n.sched.advance(5000);
    assert.equal(n.last().entry?.name, 'A');
    await n.failLast(dns()); // the third lookup of (12+4)/5: the attempt failed
    n.sched.advance(1000);
    assert.deepEqual(
      n.clients.map((c) => c.entry?.name),
      ['A', 'A', 'A', 'B'],
    );
    n.lc.signal('SIGTERM');
    await n.lc.done;
  });

  it('remote-random shuffles the list once; sameRemote and restart(nextRemote) steer the next entry', async () => {
    const list = [entry('A'), entry('B'), entry('C')];
    // Fisher-Yates from the end with j = 0 each time: [A,B,C] -> [C,B,A] -> [B,C,A]
    const r = harness(opts({ connections: list, remoteRandom: true }), { randomInt: () => 0 });
    r.lc.start();
    for (let i = 0; i < 5; i++) {
      await r.failLast();
      r.sched.advance(1000);
    }
    const names = r.clients.map((c) => c.entry?.name);
    assert.deepEqual(names, ['B', 'C', 'A', 'B', 'C', 'A']);
    r.lc.signal('SIGTERM');
    await r.lc.done;

    const s = harness(opts({ connections: list }));
    s.lc.start();
    await s.failLast(new ConnectError('AUTH_FAILED', { sameRemote: true, signalText: 'auth-failure' }));
    s.sched.advance(1000);
    assert.equal(s.last().entry?.name, 'A');
    s.last().resolve('u');
    await tick();
    s.lc.restart('server-pushed-connection-reset', { nextRemote: true });
    assert.ok(
      s.events.includes('log1 SIGUSR1[soft,server-pushed-connection-reset] received, process restarting'),
    );
    s.sched.advance(1000);
    assert.equal(s.last().entry?.name, 'B');
    s.lc.halt('server-pushed-halt');
    assert.equal(await s.lc.done, 0);
  });

  it('a soft signal from the connection (AUTH_FAILED, RESTART) carries its reason in the log', async () => {
    const { lc, clients, events, sched } = harness();
    lc.start();
    lc.signal('SIGUSR1', 'server-pushed-connection-reset');
    sched.advance(1000); // the connect-retry pause
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

describe('client lifecycle: restarts and teardown failures', () => {
  it("the server's RESTART or AUTH_FAILED restart is announced to `retrying` (the JSON reconnecting event)", async () => {
    const { lc, clients, events } = harness();
    lc.start();
    clients[0].resolve('u1');
    await tick();
    lc.restart('server-pushed-connection-reset', { nextRemote: true });
    assert.ok(
      events.some((e) => e.startsWith('retrying restart: server-pushed-connection-reset')),
      events.join('\n'),
    );
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
  });

  it('a close or device release that throws is logged; the process still ends and releases the device', async () => {
    const { lc, clients, events, released } = harness(opts({ persistTun: true }));
    lc.start();
    clients[0].resolve('u1');
    await tick();
    clients[0].close = () => {
      throw new Error('ENOENT: peer gone');
    };
    lc.signal('SIGTERM');
    assert.equal(await lc.done, 0);
    assert.equal(released.length, 1);
    assert.ok(
      events.some((e) => /closing the connection failed: ENOENT/.test(e)),
      events.join('\n'),
    );
  });

  it('a throwing release on SIGHUP is logged and the reload goes on', async () => {
    const { lc, clients, events } = harness(opts({ persistTun: true }));
    let unhandled = 0;
    const onUnhandled = () => unhandled++;
    process.on('unhandledRejection', onUnhandled);
    try {
      lc.start();
      clients[0].resolve('u1');
      await tick();
      clients[0].close = () => {
        throw new Error('link close failed');
      };
      lc.signal('SIGHUP');
      await tick();
      await tick();
      assert.equal(unhandled, 0);
      assert.equal(lc.state, 'waiting');
      assert.ok(events.some((e) => /closing the connection failed/.test(e)));
      lc.signal('SIGTERM');
      assert.equal(await lc.done, 0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
