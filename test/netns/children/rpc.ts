/**
 * A line-based JSON RPC between a netns test and a child process it runs inside a namespace (a TUN
 * device or a netlink socket belongs to the namespace of the process that opens it). The child calls
 * `serveRpc`; the test drives it with `RpcClient`, so that assertions stay in the test process.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Handler = (...args: never[]) => unknown;

interface Request {
  id: number;
  cmd: string;
  args: unknown[];
}

/** Child side: answers requests from stdin one at a time; exits when stdin closes. */
export function serveRpc(handlers: Record<string, Handler>, onExit: () => void = () => {}): void {
  const rl = createInterface({ input: process.stdin });
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      const req = JSON.parse(line) as Request;
      const h = handlers[req.cmd] as ((...args: unknown[]) => unknown) | undefined;
      try {
        if (!h) throw new Error(`unknown command ${req.cmd}`);
        const result = await h(...req.args);
        process.stdout.write(`${JSON.stringify({ id: req.id, result: result ?? null })}\n`);
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown; attr?: unknown };
        const error = { code: e.code ?? 'ERROR', message: String(e.message ?? err), attr: e.attr ?? null };
        process.stdout.write(`${JSON.stringify({ id: req.id, error })}\n`);
      }
    });
  });
  rl.on('close', () => {
    void chain.then(() => {
      onExit();
      process.exit(0);
    });
  });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
}

/** An error answered by the child, with the `code` of the OvpnError it threw. */
export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly attr: string | null,
  ) {
    super(message);
  }
}

interface Reply {
  id?: number;
  ready?: boolean;
  result?: unknown;
  error?: { code: string; message: string; attr: string | null };
}

/** Test side: sends commands to a child started with `lab.spawn(ns, process.execPath, [script])`. */
export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly readyP: Promise<void>;
  private stderr = '';

  constructor(
    private readonly child: ChildProcess,
    private readonly timeoutMs = 15_000,
  ) {
    let markReady: () => void = () => {};
    let failReady: (e: Error) => void = () => {};
    this.readyP = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    if (!child.stdout) throw new Error('child has no stdout pipe');
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: Reply;
      try {
        msg = JSON.parse(line) as Reply;
      } catch {
        return; // not ours (stray output)
      }
      if (msg.ready) {
        markReady();
        return;
      }
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p || msg.id === undefined) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.attr));
      else p.resolve(msg.result);
    });
    child.on('close', (code) => {
      const err = new Error(`child exited (${code}): ${this.stderr}`);
      failReady(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  ready(): Promise<void> {
    return withTimeout(this.readyP, this.timeoutMs, () => `child not ready: ${this.stderr}`);
  }

  call<T>(cmd: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.child.stdin?.write(`${JSON.stringify({ id, cmd, args })}\n`);
    return withTimeout(p, this.timeoutMs, () => `rpc ${cmd} timed out: ${this.stderr}`);
  }

  /** Closes the child's stdin so that it cleans up and exits; waits for that (bounded). */
  async end(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin?.end();
    await withTimeout(closed, 5000, () => 'child did not exit').catch(() => this.child.kill('SIGKILL'));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
