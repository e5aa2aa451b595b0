/**
 * Client side of the stdio agent: spawns `ovpn-agent` (optionally inside a network namespace with
 * `ip netns exec`) and turns requests into promises. Notifications and control packets are collected
 * and can be awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ErrorReply } from './dispatch.js';

export class AgentError extends Error {
  constructor(readonly reply: ErrorReply) {
    super(`${reply.code}: ${reply.msg}`);
  }
  get code(): string {
    return this.reply.code;
  }
}

export interface AgentEvent {
  ntf?: { name: string; msg: Record<string, unknown> };
  control?: Record<string, unknown>;
}

const AGENT = fileURLToPath(new URL('../cli/ovpn-agent.js', import.meta.url));

export class AgentClient {
  readonly child: ChildProcess;
  readonly notifications: AgentEvent['ntf'][] = [];
  readonly controls: Record<string, unknown>[] = [];
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly waiters: (() => void)[] = [];
  private exited = false;
  stderr = '';

  /** Starts an agent; in network namespace `netns` when given. */
  constructor(netns?: string) {
    // OVPN_AGENT_NODE_ARGS passes extra node flags to agents (e.g. --cpu-prof for profiling).
    const extra = (process.env.OVPN_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args =
      netns === undefined ? [...extra, AGENT] : ['netns', 'exec', netns, process.execPath, ...extra, AGENT];
    this.child = spawn(netns === undefined ? process.execPath : 'ip', args, {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    this.child.on('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`agent exited: ${this.stderr.slice(-500)}`));
      this.pending.clear();
    });
  }

  private onLine(line: string): void {
    let m: { seq?: number; reply?: unknown; error?: ErrorReply } & AgentEvent;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if (m.ntf !== undefined) this.notifications.push(m.ntf);
    if (m.control !== undefined) this.controls.push(m.control);
    if (m.ntf !== undefined || m.control !== undefined) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    const p = m.seq === undefined ? undefined : this.pending.get(m.seq);
    if (p === undefined || m.seq === undefined) return;
    this.pending.delete(m.seq);
    if (m.error !== undefined) p.reject(new AgentError(m.error));
    else p.resolve(m.reply);
  }

  /** Sends one request; resolves with the reply, rejects with AgentError. */
  request<T = unknown>(op: string, msg?: unknown, dump = false): Promise<T> {
    if (this.exited) return Promise.reject(new Error('agent has exited'));
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ op, msg, seq, dump: dump || undefined })}\n`);
    });
  }

  /** Waits until `pred` holds for the collected events, or the timeout passes (then rejects). */
  async waitFor(pred: () => boolean, timeoutMs = 10_000, what = 'event'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Ends the agent (its devices are deleted, peers torn down) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
}
