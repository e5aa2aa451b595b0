/**
 * Network-namespace lab for the demo, tests and benchmarks: creates namespaces and veth pairs, runs commands and
 * long-lived processes inside them, and tears everything down — even when the test failed. Every name
 * starts with the lab's prefix so that concurrent labs never collide and leftovers are easy to spot.
 *
 * Register `cleanup` before creating anything: `t.after(() => lab.cleanup())` or try/finally.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What a cleanup could not remove (empty lists: nothing was left behind). */
export interface CleanupReport {
  /** Processes of the lab's namespaces still running after the wait. */
  stuck: number[];
  /** The lab's namespaces that still exist. */
  namespaces: string[];
}

export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** `prefix` should be short (interface names are limited to 15 characters). */
  constructor(readonly prefix: string) {
    // Remove leftovers of an earlier run that died before its cleanup.
    for (const ns of listNamespaces()) if (ns.startsWith(`${prefix}-`)) deleteNamespace(ns);
  }

  /** Creates namespace `<prefix>-<name>` with loopback up; returns its full name. */
  ns(name: string): string {
    const full = `${this.prefix}-${name}`;
    execFileSync('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    this.exec(full, 'ip', ['link', 'set', 'lo', 'up']);
    return full;
  }

  /** Creates a veth pair between two namespaces, with addresses (CIDR strings) and links up. */
  veth(nsA: string, ifA: string, addrsA: string[], nsB: string, ifB: string, addrsB: string[]): void {
    execFileSync('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    for (const [ns, ifn, addrs] of [
      [nsA, ifA, addrsA],
      [nsB, ifB, addrsB],
    ] as const) {
      for (const a of addrs)
        this.exec(ns, 'ip', ['addr', 'add', a, 'dev', ifn, ...(a.includes(':') ? ['nodad'] : [])]);
      this.exec(ns, 'ip', ['link', 'set', ifn, 'up']);
    }
  }

  /** Runs a command in `ns` and returns its stdout; throws on a non-zero exit. */
  exec(ns: string, cmd: string, args: string[], timeoutMs = 60_000): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  }

  /** Runs a command in `ns` and returns exit code and output, never throwing on failure. */
  run(ns: string, cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = this.spawn(ns, cmd, args);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }

  /** Starts a long-lived process in `ns`; it is killed by `cleanup`. */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /**
   * Kills every process started here and every other process in the lab's namespaces, deletes every
   * namespace (and so their interfaces), and waits (up to `reapMs`) until the killed processes are gone,
   * so that the next user of the machine does not meet them. Safe to call twice.
   */
  async cleanup(reapMs = 3000): Promise<CleanupReport> {
    const killed = this.namespacePids();
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) resolve();
            else {
              c.once('close', () => resolve());
              setTimeout(resolve, 2000);
            }
          }),
      ),
    );
    this.children.length = 0;
    for (const ns of this.namespaces.splice(0)) {
      // Processes started with `ip netns exec` outside `spawn` may linger: kill what is left inside.
      for (const pid of namespacePids(ns)) {
        killed.push(pid);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      deleteNamespace(ns);
    }
    // SIGKILLed processes are reaped asynchronously: wait until they no longer hold CPU or sockets
    const deadline = Date.now() + reapMs;
    while (killed.some(processRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return { stuck: [...new Set(killed.filter(processRunning))], namespaces: this.leftovers() };
  }

  /** Every process in the lab's namespaces. */
  namespacePids(): number[] {
    return this.leftovers().flatMap(namespacePids);
  }

  /** Namespaces of this lab that still exist (for leak checks). */
  leftovers(): string[] {
    return listNamespaces().filter((n) => n.startsWith(`${this.prefix}-`));
  }
}

/** The processes of namespace `ns` (none if it is gone). */
export function namespacePids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The process exists and is not a zombie. */
export function processRunning(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter(Boolean);
  } catch {
    return [];
  }
}

function deleteNamespace(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** True when the tests can create namespaces (root with iproute2). */
export function canUseNetns(): boolean {
  return process.getuid?.() === 0;
}
