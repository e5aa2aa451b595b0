/**
 * The client process's lifecycle, as OpenVPN's main loop (openvpn.c openvpn_main, sig.c) runs it,
 * without sockets or timers of its own so that it can be tested with a fake client:
 *
 *   idle --start--> connecting --connected--> up
 *   connecting|up --SIGUSR1--> (close the client) --> connecting, same options
 *   connecting|up --SIGHUP--> reloading (close, re-read the config) --> connecting, new options
 *   connecting|up|reloading --SIGTERM/SIGINT--> exiting (exit notify if up, close) --> exited(0)
 *   connecting --connect failed--> exited(1)    reloading --config error--> exited(1)
 *   up --the tunnel failed (lost)--> exited(1), no exit notification
 *
 * A failed connection ends the process (exit 1): reconnecting after a failure (connect-retry,
 * ping-restart) is not done yet. Each connection is a new client object; an old client's late
 * results are ignored (they carry an older generation).
 */

export type LifecycleState = 'idle' | 'connecting' | 'up' | 'reloading' | 'exiting' | 'exited';
export type LifecycleSignal = 'SIGTERM' | 'SIGINT' | 'SIGUSR1' | 'SIGHUP';

/** What the lifecycle needs of a client: OpenvpnClient fits. */
export interface LifecycleClient<U> {
  /** Resolves once the tunnel is up; rejects when the connection fails. */
  connect(): Promise<U>;
  /** Tears the connection down (device, addresses, routes, socket). Idempotent. */
  close(): void;
}

export interface LifecycleHooks<O, C extends LifecycleClient<U>, U> {
  /** Reads the config again (SIGHUP), from the same command line; throws on a config error. */
  load(): Promise<O>;
  /** A new client for these options (not yet connected). */
  create(options: O): C;
  /** Logs at an OpenVPN verb level (log.ts). */
  log(level: number, msg: string): void;
  /** New options are in force (the first ones at construction, then after each SIGHUP). */
  configured?(options: O): void;
  /** The tunnel is up. */
  up?(up: U, client: C): void;
  /** The connection failed; the client is closed after this returns and the process exits 1. */
  failed?(error: Error, client: C): void;
  /**
   * Before a clean exit of an up tunnel (SIGTERM/SIGINT): send explicit-exit-notify if the options
   * ask for it. Errors are logged, not fatal.
   */
  beforeExit?(client: C, options: O): Promise<void>;
}

export class Lifecycle<O, C extends LifecycleClient<U>, U> {
  private stateNow: LifecycleState = 'idle';
  private client: C | undefined;
  private generation = 0;
  private optionsNow: O;
  private exitWanted = false;
  private resolveDone: (code: number) => void = () => {};
  /** Resolves with the exit status once the lifecycle has ended. */
  readonly done: Promise<number>;
  /** Connections started (1 after start, +1 per restart). */
  connections = 0;

  constructor(
    private readonly hooks: LifecycleHooks<O, C, U>,
    options: O,
  ) {
    this.optionsNow = options;
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    hooks.configured?.(options);
  }

  get state(): LifecycleState {
    return this.stateNow;
  }

  get options(): O {
    return this.optionsNow;
  }

  /** The current connection's client (undefined while reloading and after the end). */
  get current(): C | undefined {
    return this.client;
  }

  start(): void {
    if (this.stateNow !== 'idle') return;
    this.connect();
  }

  /**
   * A signal (or its equivalent: the `--json` mode's `quit` is SIGTERM). With a `reason` it is a soft
   * signal the connection raised itself (2.6's `SIGTERM[soft,auth-failure]`).
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
        else void this.exit(0);
        return;
      case 'SIGUSR1':
        if (s === 'idle' || s === 'reloading') return;
        this.hooks.log(1, `SIGUSR1[${how}] received, process restarting`);
        this.closeClient();
        this.connect();
        return;
      case 'SIGHUP':
        if (s === 'idle' || s === 'reloading') return;
        this.hooks.log(1, `SIGHUP[${how}] received, process restarting`);
        void this.reload();
    }
  }

  /**
   * The up tunnel of `client` failed (its `onFailure`: the server closed the TCP connection, a
   * renegotiation failed...): the failed hook, then the process ends with 1 as a failed connect does,
   * without an exit notification on the dead link. A client that is not the current one is ignored.
   */
  lost(client: C, error: Error): void {
    if (client !== this.client || this.stateNow !== 'up') return;
    this.hooks.failed?.(error, client);
    void this.exit(1, false);
  }

  private connect(): void {
    const gen = ++this.generation;
    this.connections++;
    this.stateNow = 'connecting';
    const client = this.hooks.create(this.optionsNow);
    this.client = client;
    client.connect().then(
      (up) => {
        if (gen !== this.generation || this.stateNow !== 'connecting') return;
        this.stateNow = 'up';
        this.hooks.up?.(up, client);
      },
      (e: unknown) => {
        if (gen !== this.generation || this.stateNow !== 'connecting') return;
        const err = e instanceof Error ? e : new Error(String(e));
        this.hooks.log(1, `ERROR: ${err.message}`);
        this.hooks.failed?.(err, client);
        void this.exit(1);
      },
    );
  }

  private closeClient(): void {
    this.generation++;
    const c = this.client;
    this.client = undefined;
    c?.close();
  }

  private async reload(): Promise<void> {
    this.stateNow = 'reloading';
    this.closeClient();
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
    this.hooks.configured?.(options);
    this.connect();
  }

  private async exit(code: number, notify = true): Promise<void> {
    const wasUp = this.stateNow === 'up' && notify;
    this.stateNow = 'exiting';
    const c = this.client;
    if (wasUp && c !== undefined && this.hooks.beforeExit !== undefined) {
      try {
        await this.hooks.beforeExit(c, this.optionsNow);
      } catch (e) {
        this.hooks.log(1, `explicit-exit-notify failed: ${(e as Error).message}`);
      }
    }
    this.closeClient();
    this.finish(code);
  }

  private finish(code: number): void {
    if (this.stateNow === 'exited') return;
    this.stateNow = 'exited';
    this.client = undefined;
    this.resolveDone(code);
  }
}
