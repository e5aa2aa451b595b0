/**
 * The client process's lifecycle, as OpenVPN 2.6's main loop runs it (openvpn.c openvpn_main, sig.c,
 * init.c init_instance/close_instance), without sockets or timers of its own (the scheduler is
 * injected) so that it can be tested with a fake client and a manual clock:
 *
 *   idle --start--> connecting --connected--> up
 *   connecting --failed--> waiting (restart pause) --> connecting, the next connection entry
 *   up --failed (ping-restart, a failed renegotiation...)--> waiting --> connecting, the same entry
 *   connecting|up --SIGUSR1--> waiting --> connecting
 *   connecting|up|waiting --SIGHUP--> reloading (re-read the config) --> waiting --> connecting
 *   any --SIGTERM/SIGINT--> exiting (exit notify if up, close) --> exited(0)
 *   a fatal failure, connect-retry-max exhausted, a config error on SIGHUP --> exited(1)
 *
 * Which entry and how long to wait: connect-retry.ts. Every restart waits the connect-retry pause
 * (2.6 pauses on every restart but the first start), except after a server poll timeout. Each
 * connection is a new client object; an old client's late results are ignored (they carry an older
 * generation). With `persist-tun`, the tunnel device (an opaque token from the client) is handed from
 * one client to the next across SIGUSR1-style restarts, and released on SIGHUP and at exit.
 */
import {
  ConnectionCursor,
  connectionOrder,
  type FailureHints,
  failureHints,
  RESOLV_RETRY_INTERVAL_SEC,
  type RetryEntry,
  resolveTries,
  restartPauseSeconds,
} from './connect-retry.js';

export type LifecycleState = 'idle' | 'connecting' | 'up' | 'waiting' | 'reloading' | 'exiting' | 'exited';
export type LifecycleSignal = 'SIGTERM' | 'SIGINT' | 'SIGUSR1' | 'SIGHUP';

/** Timers, injected: `after(ms, fn)` runs fn once after ms unless the returned cancel is called. */
export interface Scheduler {
  after(ms: number, fn: () => void): () => void;
}

/** What the lifecycle reads of the options (ClientOptions fits). */
export interface RetryOptions<E extends RetryEntry> {
  connections: readonly E[];
  remoteRandom: boolean;
  /** `connect-retry-max` (0 = no limit). */
  connectRetryMax: number;
  resolvRetrySeconds: number;
  persistTun: boolean;
  authRetry?: 'none' | 'nointeract' | 'interact';
}

/** What the lifecycle needs of a client: OpenvpnClient fits. */
export interface LifecycleClient<U, E> {
  /** Connects to `entry`; resolves once the tunnel is up; rejects when the connection fails. */
  connect(entry: E): Promise<U>;
  /** Tears the connection down (socket, peer; the device unless it is kept). Idempotent. */
  close(): void;
  /** Whether a packet from the server was accepted yet (for the server poll timeout). */
  heardFromServer?(): boolean;
  /**
   * Whether the way to the server is ready (false while a TCP connect is in progress, which
   * connect-timeout bounds by itself): the server poll timeout counts from then.
   */
  transportReady?(): boolean;
}

type EntryOf<O> = O extends RetryOptions<infer E> ? E : never;

export interface LifecycleHooks<
  O extends RetryOptions<RetryEntry>,
  C extends LifecycleClient<U, EntryOf<O>>,
  U,
  T,
> {
  /** Reads the config again (SIGHUP), from the same command line; throws on a config error. */
  load(): Promise<O>;
  /**
   * A new client for these options (not yet connected). `kept`: the device kept from the previous
   * connection (persist-tun). `onFailure`: to be called when the tunnel fails after it was up.
   */
  create(options: O, kept: T | undefined, onFailure: (e: Error) => void): C;
  /** The device of `client`, to keep across a restart (persist-tun). */
  keptTun?(client: C): T | undefined;
  /** Releases a kept device (at exit, on SIGHUP, or when persist-tun is off). */
  releaseTun?(tun: T): void;
  /** Logs at an OpenVPN verb level (log.ts). */
  log(level: number, msg: string): void;
  /** New options are in force (the first ones at construction, then after each SIGHUP). */
  configured?(options: O): void;
  /** The tunnel is up. */
  up?(up: U, client: C): void;
  /** A connection failed and another attempt follows (after the pause). */
  retrying?(error: Error, client: C | undefined, pauseSeconds: number): void;
  /**
   * The process ends because of a failure (fatal, or connect-retry-max: then the last failure is the
   * error's `cause`); the client is closed after.
   */
  failed?(error: Error, client: C | undefined): void;
  /**
   * Before a clean exit of an up tunnel (SIGTERM/SIGINT): send explicit-exit-notify if the options
   * ask for it. Errors are logged, not fatal.
   */
  beforeExit?(client: C, options: O): Promise<void>;
}

export interface LifecycleDeps {
  scheduler: Scheduler;
  /** A random integer in [0, n), for remote-random (default: crypto's randomInt). */
  randomInt?: (n: number) => number;
}

export class Lifecycle<
  O extends RetryOptions<RetryEntry>,
  C extends LifecycleClient<U, EntryOf<O>>,
  U,
  T = unknown,
> {
  private stateNow: LifecycleState = 'idle';
  private client: C | undefined;
  private generation = 0;
  private optionsNow: O;
  private exitWanted = false;
  private resolveDone: (code: number) => void = () => {};
  private cursor!: ConnectionCursor;
  private order: number[] = [];
  private entryNow: EntryOf<O> | undefined;
  private kept: T | undefined;
  private cancelTimer: (() => void) | undefined;
  private cancelPoll: (() => void) | undefined;
  /** The last failure that was retried (the cause when connect-retry-max ends the process). */
  private lastError: Error | undefined;
  /** Lookups of the current entry that failed under a finite resolv-retry. */
  private resolveFailures = 0;
  private readonly randomInt: (n: number) => number;
  /** Resolves with the exit status once the lifecycle has ended. */
  readonly done: Promise<number>;
  /** Connections started (1 after start, +1 per restart). */
  connections = 0;

  constructor(
    private readonly hooks: LifecycleHooks<O, C, U, T>,
    options: O,
    private readonly deps: LifecycleDeps,
  ) {
    this.randomInt = deps.randomInt ?? ((n) => Math.floor(Math.random() * n));
    this.optionsNow = options;
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    this.configure(options);
  }

  get state(): LifecycleState {
    return this.stateNow;
  }

  get options(): O {
    return this.optionsNow;
  }

  /** The current connection's client (undefined while waiting, reloading and after the end). */
  get current(): C | undefined {
    return this.client;
  }

  /** The connection entry of the current (or last) attempt. */
  get entry(): EntryOf<O> | undefined {
    return this.entryNow;
  }

  start(): void {
    if (this.stateNow !== 'idle') return;
    this.connect();
  }

  /**
   * A signal (or its equivalent: the `--json` mode's `quit` is SIGTERM). With a `reason` it is a soft
   * signal the connection raised itself (2.6's `SIGTERM[soft,auth-failure]`): see also `restart` and
   * `halt`.
   */
  signal(sig: LifecycleSignal, reason?: string): void {
    const s = this.stateNow;
    if (s === 'exiting' || s === 'exited') return;
    const how = reason === undefined ? 'hard,' : `soft,${reason}`;
    switch (sig) {
      case 'SIGTERM':
      case 'SIGINT':
        this.hooks.log(1, `${sig}[${how}] received, process exiting`);
        if (s === 'reloading') this.exitWanted = true;
        else this.endProcess(0);
        return;
      case 'SIGUSR1':
        if (s !== 'connecting' && s !== 'up') return;
        this.hooks.log(1, `SIGUSR1[${how}] received, process restarting`);
        this.restartAfterPause({}, undefined);
        return;
      case 'SIGHUP':
        if (s === 'idle' || s === 'reloading') return;
        this.hooks.log(1, `SIGHUP[${how}] received, process restarting`);
        this.reload().catch((e: unknown) => this.teardownFailed(e));
    }
  }

  /**
   * A soft restart (2.6 register_signal SIGUSR1) for `reason`: the server's RESTART (`nextRemote`
   * with `[N]`), AUTH_FAILED with auth-retry (`sameRemote`), or any other. Logs
   * `SIGUSR1[soft,<reason>] received, process restarting`.
   */
  restart(reason: string, opts: { nextRemote?: boolean; sameRemote?: boolean } = {}): void {
    if (this.stateNow !== 'connecting' && this.stateNow !== 'up') return;
    this.hooks.log(1, `SIGUSR1[soft,${reason}] received, process restarting`);
    // the `retrying` hook (the JSON `reconnecting` event) hears of it like any other restart
    this.lastError = new Error(`restart: ${reason}`);
    this.restartAfterPause({ nextRemote: opts.nextRemote, sameRemote: opts.sameRemote }, this.lastError);
  }

  /** A soft exit (2.6 register_signal SIGTERM): the server's HALT. Exits with `code` (default 0). */
  halt(reason: string, code = 0): void {
    const s = this.stateNow;
    if (s === 'exiting' || s === 'exited') return;
    this.hooks.log(1, `SIGTERM[soft,${reason}] received, process exiting`);
    if (s === 'reloading') this.exitWanted = true;
    else this.endProcess(code);
  }

  private configure(options: O): void {
    this.hooks.configured?.(options);
    const n = options.connections.length;
    // an empty list fails at the first attempt (the client says why), as a fatal error
    this.cursor = new ConnectionCursor(Math.max(n, 1), options.connectRetryMax);
    this.order = connectionOrder(Math.max(n, 1), options.remoteRandom, this.randomInt);
    this.resolveFailures = 0;
  }

  private connect(sameEntry = false): void {
    this.cancelTimer = undefined;
    let entry: EntryOf<O>;
    if (sameEntry && this.entryNow !== undefined) {
      entry = this.entryNow;
    } else {
      const pos = this.cursor.next();
      if (pos === undefined) {
        const msg = `All connections have been connect-retry-max (${this.optionsNow.connectRetryMax}) times unsuccessful, exiting`;
        this.hooks.log(0, msg);
        this.hooks.failed?.(new Error(msg, { cause: this.lastError }), undefined);
        this.endProcess(1);
        return;
      }
      entry = this.optionsNow.connections[this.order[pos]] as EntryOf<O>;
      this.resolveFailures = 0;
    }
    this.entryNow = entry;
    const gen = ++this.generation;
    this.connections++;
    this.stateNow = 'connecting';
    const client = this.hooks.create(this.optionsNow, this.kept, (e) => this.failure(gen, e));
    this.client = client;
    if (entry !== undefined && entry.connectTimeout > 0) {
      const poll = () => {
        this.cancelPoll = undefined;
        if (gen !== this.generation || this.stateNow !== 'connecting') return;
        if (client.heardFromServer?.() === true) return;
        if (client.transportReady?.() === false) {
          // still connecting (TCP): look again one period later, as 2.6's timer re-arms
          this.cancelPoll = this.deps.scheduler.after(entry.connectTimeout * 1000, poll);
          return;
        }
        this.hooks.log(1, 'Server poll timeout, restarting');
        this.hooks.log(1, 'SIGUSR1[soft,server_poll] received, process restarting');
        this.lastError = new Error(
          `server poll timeout: no answer from the server in ${entry.connectTimeout} s`,
        );
        this.restartAfterPause({ pauseSeconds: 0 }, this.lastError);
      };
      this.cancelPoll = this.deps.scheduler.after(entry.connectTimeout * 1000, poll);
    }
    client.connect(entry).then(
      (up) => {
        if (gen !== this.generation || this.stateNow !== 'connecting') return;
        this.stopPoll();
        this.stateNow = 'up';
        this.cursor.succeeded();
        this.hooks.up?.(up, client);
      },
      (e: unknown) => this.failure(gen, e),
    );
  }

  /** A failure of connection `gen`, before or after it was up. */
  private failure(gen: number, e: unknown): void {
    if (gen !== this.generation) return;
    const s = this.stateNow;
    if (s !== 'connecting' && s !== 'up') return;
    const err = e instanceof Error ? e : new Error(String(e));
    this.lastError = err;
    const h = failureHints(e);
    const client = this.client;
    if (h.inactivity !== undefined) {
      const exit = h.inactivity === 'exit';
      this.hooks.log(
        1,
        `Inactivity timeout (--ping-${exit ? 'exit' : 'restart'}), ${exit ? 'exiting' : 'restarting'}`,
      );
      if (exit) {
        this.hooks.log(1, 'SIGTERM[soft,ping-exit] received, process exiting');
        this.endProcess(0);
        return;
      }
      this.hooks.log(1, `SIGUSR1[soft,${h.signalText ?? 'ping-restart'}] received, process restarting`);
      this.restartAfterPause(h, err);
      return;
    }
    this.hooks.log(1, `ERROR: ${err.message}`);
    if (h.resolve === true && s === 'connecting') {
      const tries = resolveTries(this.optionsNow.resolvRetrySeconds);
      if (tries === 0) {
        this.fatal(err, client, 1);
        return;
      }
      if (++this.resolveFailures < tries) {
        // the same entry again after the lookup interval, without counting an attempt
        this.closeClient(true);
        this.stateNow = 'waiting';
        this.cancelTimer = this.deps.scheduler.after(RESOLV_RETRY_INTERVAL_SEC * 1000, () =>
          this.connect(true),
        );
        return;
      }
    }
    if (h.fatal === true) {
      if (h.signalText !== undefined)
        this.hooks.log(1, `SIGTERM[soft,${h.signalText}] received, process exiting`);
      this.fatal(err, client, h.exitCode ?? 1);
      return;
    }
    // 2.6's texts: a failed name lookup (socket.c), else a TLS error (a handshake or renegotiation)
    const text = h.signalText ?? (h.resolve === true ? 'socks-resolve-failure' : 'tls-error');
    this.hooks.log(1, `SIGUSR1[soft,${text}] received, process restarting`);
    this.restartAfterPause(h, err);
  }

  private fatal(err: Error, client: C | undefined, code: number): void {
    this.hooks.log(0, 'Exiting due to fatal error');
    this.hooks.failed?.(err, client);
    this.endProcess(code);
  }

  /** Closes the client (keeping its device with persist-tun) and connects again after the pause. */
  private restartAfterPause(h: FailureHints, err: Error | undefined): void {
    const client = this.client;
    if (h.sameRemote === true) this.cursor.stay();
    if (h.nextRemote === true) this.cursor.advance();
    this.closeClient(true);
    const sec = this.pauseSeconds(h.pauseSeconds);
    if (err !== undefined) this.hooks.retrying?.(err, client, sec);
    this.waitThenConnect(sec);
  }

  private pauseSeconds(requested: number | undefined): number {
    const entry = this.entryNow ?? (this.optionsNow.connections[0] as RetryEntry | undefined);
    if (entry === undefined) return 0;
    return restartPauseSeconds({
      entry,
      attempts: this.cursor.attempts,
      listLength: this.cursor.length,
      authRetryNointeract: this.optionsNow.authRetry === 'nointeract',
      requested,
    });
  }

  private waitThenConnect(sec: number): void {
    this.stateNow = 'waiting';
    if (sec > 0) this.hooks.log(3, `Restart pause, ${sec} second(s)`);
    this.cancelTimer = this.deps.scheduler.after(sec * 1000, () => this.connect());
  }

  private stopPoll(): void {
    this.cancelPoll?.();
    this.cancelPoll = undefined;
  }

  /** Ends the current client. `restart`: with persist-tun its device is kept for the next one. */
  private closeClient(restart: boolean): void {
    this.generation++;
    this.stopPoll();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) {
      const t = this.hooks.keptTun?.(c);
      if (t !== undefined && t !== this.kept) {
        this.releaseKept();
        this.kept = t;
      }
    }
    try {
      c?.close();
    } catch (e) {
      this.hooks.log(1, `closing the connection failed: ${(e as Error).message}`);
    } finally {
      if (!(restart && this.optionsNow.persistTun)) this.releaseKept();
    }
  }

  private releaseKept(): void {
    const t = this.kept;
    this.kept = undefined;
    if (t === undefined) return;
    try {
      this.hooks.releaseTun?.(t);
    } catch (e) {
      this.hooks.log(1, `releasing the kept device failed: ${(e as Error).message}`);
    }
  }

  private async reload(): Promise<void> {
    this.stateNow = 'reloading';
    this.closeClient(false);
    let options: O;
    try {
      options = await this.hooks.load();
    } catch (e) {
      this.hooks.log(0, `ERROR: ${(e as Error).message}`);
      this.hooks.log(0, 'Exiting due to fatal error');
      this.finish(this.exitWanted ? 0 : 1);
      return;
    }
    if (this.exitWanted) {
      this.finish(0);
      return;
    }
    this.optionsNow = options;
    this.entryNow = undefined;
    this.configure(options);
    this.waitThenConnect(this.pauseSeconds(undefined));
  }

  /** exit() without a promise to wait for: a failure while tearing down is logged, the process still ends. */
  private endProcess(code: number): void {
    this.exit(code).catch((e: unknown) => this.teardownFailed(e, code));
  }

  private teardownFailed(e: unknown, code = 1): void {
    this.hooks.log(0, `ERROR: tearing down failed: ${e instanceof Error ? e.message : String(e)}`);
    this.finish(code);
  }

  private async exit(code: number): Promise<void> {
    const wasUp = this.stateNow === 'up';
    this.stateNow = 'exiting';
    this.stopPoll();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const c = this.client;
    if (wasUp && c !== undefined && this.hooks.beforeExit !== undefined) {
      try {
        await this.hooks.beforeExit(c, this.optionsNow);
      } catch (e) {
        this.hooks.log(1, `explicit-exit-notify failed: ${(e as Error).message}`);
      }
    }
    try {
      this.closeClient(false);
    } finally {
      this.finish(code);
    }
  }

  private finish(code: number): void {
    if (this.stateNow === 'exited') return;
    this.stateNow = 'exited';
    this.client = undefined;
    this.resolveDone(code);
  }
}
