/**
 * The lab of the kernel ovpn selftests (spec ovpn-kernel §7.4), driven only through our `ovpn-cli`
 * and standard tools: namespaces ovst-peer0 (server, MP device tun0) and ovst-peer1..6 (clients, P2P
 * device tun<p>), veth<p> between the server and client p, command runners that capture output and
 * exit status, `listen_mcast` listeners, tcpdump captures, and a teardown that leaves nothing behind
 * (processes, namespaces, temporary files) even when a step failed. Namespaces, veth pairs, the
 * address plan, key material, ping and the teardown of namespaces and their processes are the shared
 * lab builder's (src/lab/netns.ts, src/lab/star.ts), which the demo, tests and benchmarks use too.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, namespacePids, processRunning as running } from '../../../src/lab/netns.js';
import {
  linkClient,
  type PingOptions,
  type PingResult as PingVerdict,
  pingArgs,
  pingResult,
} from '../../../src/lab/star.js';
import { repoRoot } from '../../support/repo.js';
import { keyFile, LAN_IP, type Ntf, NUM_PEERS, tcpPeersFile, udpPeersFile, vpnAddr } from './data.js';

/** Namespace prefix: namespaces are ovst-peer0 .. ovst-peer6. */
export const PREFIX = 'ovst';

/** The system under test. */
export const OVPN_CLI = join(repoRoot(), 'bin', 'ovpn-cli');
/** What bin/ovpn-cli runs; without it (not built) nothing can work. */
const OVPN_CLI_JS = join(repoRoot(), 'dist', 'src', 'cli', 'ovpn-cli.js');

/**
 * How to start a notification listener printing one YNL-style JSON object per line. Kept in this one
 * place: the counterpart of the kernel scripts' `cli.py --subscribe peers --output-json`.
 */
export const LISTEN_MCAST_ARGS = ['listen_mcast', '--json'];

/** Holds the machine for one scenario at a time (several test files may run at once). */
const LOCK_DIR = join(tmpdir(), 'ovpn-ts-selftest.lock');

export interface CmdResult {
  /** Exit status; -1 when the command was killed by a signal or could not start. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export type { PingOptions };

export interface PingResult extends PingVerdict {
  output: string;
}

/** A tcpdump waiting for one packet. */
export interface Capture {
  /** Resolves once tcpdump is listening (start the traffic after this). */
  ready: Promise<void>;
  /** Waits (up to `ms`) for the capture to end; true if a matching packet was seen. */
  result(ms: number): Promise<{ captured: boolean; stderr: string }>;
}

/** A `listen_mcast` process collecting the notifications of one namespace. */
export interface Listener {
  p: number;
  /** Every notification received so far, in order. */
  readonly received: Ntf[];
  /** Lines of stdout that are not JSON objects. */
  readonly garbage: string[];
  /** Set when the process ended before `stop` (it must run until stopped). */
  readonly exitedEarly: { code: number | null; signal: string | null } | undefined;
  stderr(): string;
  /** Stops the process and waits for its last output. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Selftest {
  readonly lab: NetnsLab;
  readonly dir: string;
  readonly files: { udpPeers: string; tcpPeers: string; key: string };
  /** One line per command run, with the time since the start, for failure reports. */
  readonly transcript: string[] = [];
  private readonly t0 = Date.now();
  private readonly running = new Set<ChildProcess>();
  private readonly listeners: Listener[] = [];
  private readonly listenerPids = new Set<number>();
  private outSeq = 0;
  private closed = false;

  private constructor() {
    this.lab = new NetnsLab(PREFIX);
    this.dir = mkdtempSync(join(tmpdir(), 'ovst-'));
    this.files = {
      udpPeers: join(this.dir, 'udp_peers.txt'),
      tcpPeers: join(this.dir, 'tcp_peers.txt'),
      key: join(this.dir, 'data64.key'),
    };
    writeFileSync(this.files.udpPeers, udpPeersFile());
    writeFileSync(this.files.tcpPeers, tcpPeersFile());
    writeFileSync(this.files.key, keyFile());
  }

  /**
   * Takes the machine-wide lock, removes leftovers of an earlier run and creates namespaces peer0 ..
   * peer<count - 1> (the kernel scripts always create all of them, even when fewer are used).
   */
  static async create(count = NUM_PEERS + 1): Promise<Selftest> {
    assert.ok(existsSync(OVPN_CLI_JS), `${OVPN_CLI_JS} is missing: build first (npx tsc -p tsconfig.json)`);
    await acquireLock();
    let st: Selftest | undefined;
    try {
      st = new Selftest();
      for (let p = 0; p < count; p++) st.lab.ns(`peer${p}`);
      return st;
    } catch (e) {
      if (st) await st.close();
      else releaseLock();
      throw e;
    }
  }

  ns(p: number): string {
    return `${PREFIX}-peer${p}`;
  }

  /**
   * Runs a command in namespace peer<p>. stdout/stderr go to files, not pipes: commands that leave a
   * background process holding their sockets (new_peer, listen, ...) would otherwise keep a pipe open
   * after the command itself returned.
   */
  run(p: number, cmd: string, args: string[], timeoutMs = 30_000): Promise<CmdResult> {
    const n = this.outSeq++;
    const outPath = join(this.dir, `cmd-${n}.out`);
    const errPath = join(this.dir, `cmd-${n}.err`);
    const outFd = openSync(outPath, 'w');
    const errFd = openSync(errPath, 'w');
    const started = Date.now();
    const line = `[peer${p}] ${cmd === OVPN_CLI ? 'ovpn-cli' : cmd} ${args.join(' ')}`;
    return new Promise<CmdResult>((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn('ip', ['netns', 'exec', this.ns(p), cmd, ...args], { stdio: ['ignore', outFd, errFd] });
      } finally {
        closeSync(outFd);
        closeSync(errFd);
      }
      this.running.add(child);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      const finish = (code: number) => {
        clearTimeout(timer);
        this.running.delete(child);
        const r: CmdResult = {
          code,
          stdout: readIfThere(outPath),
          stderr: readIfThere(errPath),
          timedOut,
          ms: Date.now() - started,
        };
        this.note(`${line} -> ${timedOut ? 'TIMEOUT' : code} (${r.ms} ms)`);
        resolve(r);
      };
      child.once('error', () => finish(-1));
      child.once('exit', (code) => finish(code ?? -1));
    });
  }

  /** Runs a command that must succeed; fails with its output otherwise. */
  async runOk(p: number, cmd: string, args: string[], timeoutMs?: number): Promise<CmdResult> {
    const r = await this.run(p, cmd, args, timeoutMs);
    assert.ok(r.code === 0 && !r.timedOut, describe(`[peer${p}] ${cmd} ${args.join(' ')}`, r));
    return r;
  }

  cli(p: number, args: string[], timeoutMs?: number): Promise<CmdResult> {
    return this.run(p, OVPN_CLI, args, timeoutMs);
  }

  cliOk(p: number, args: string[], timeoutMs?: number): Promise<CmdResult> {
    return this.runOk(p, OVPN_CLI, args, timeoutMs);
  }

  /** `ip` in namespace peer<p>; must succeed. */
  ip(p: number, args: string[]): void {
    this.note(`[peer${p}] ip ${args.join(' ')}`);
    this.lab.exec(this.ns(p), 'ip', args);
  }

  /**
   * The kernel's setup_ns: for the server, first the veth pairs to every client (common.sh creates
   * all NUM_PEERS of them, whatever the scenario uses); then the ovpn device (MP on the server, P2P
   * on a client) with its tunnel address, client 1's LAN address with the server's route to it, the
   * MTU if given, and the link up.
   */
  async setupNs(p: number, mtu?: number): Promise<void> {
    if (p === 0) {
      for (let c = 1; c <= NUM_PEERS; c++)
        linkClient(this.lab, this.ns(0), `veth${c}`, this.ns(c), `veth${c}`, c);
    }
    await this.cliOk(p, ['new_iface', `tun${p}`, p === 0 ? 'MP' : 'P2P']);
    this.ip(p, ['addr', 'add', `${vpnAddr(p)}/24`, 'dev', `tun${p}`]);
    if (p === 1) {
      this.ip(1, ['addr', 'add', LAN_IP, 'dev', 'tun1']);
      this.ip(0, ['route', 'add', LAN_IP, 'via', vpnAddr(1), 'dev', 'tun0']);
    }
    if (mtu !== undefined) this.ip(p, ['link', 'set', 'mtu', String(mtu), 'dev', `tun${p}`]);
    this.ip(p, ['link', 'set', `tun${p}`, 'up']);
  }

  /** The ifindex of tun<p> in its namespace. */
  ifindex(p: number): number {
    const out = this.lab.exec(this.ns(p), 'ip', ['-j', 'link', 'show', 'dev', `tun${p}`]);
    const parsed = JSON.parse(out) as { ifindex: number }[];
    return parsed[0].ifindex;
  }

  /** ping from namespace peer<p>; `ok` is ping's own verdict (exit 0: every reply before the deadline). */
  async ping(p: number, dst: string, o: PingOptions): Promise<PingResult> {
    const args = pingArgs(dst, o);
    const r = await this.run(p, 'ping', args, (o.deadlineS + 10) * 1000);
    return {
      ...pingResult(r),
      output: `ping ${args.join(' ')} (peer${p}, ${r.ms} ms) exit ${r.code}\n${r.stdout}${r.stderr}`,
    };
  }

  /** A ping that must get every reply. */
  async pingOk(p: number, dst: string, o: PingOptions): Promise<PingResult> {
    const r = await this.ping(p, dst, o);
    assert.ok(r.ok, `ping from peer${p} to ${dst} failed:\n${r.output}`);
    return r;
  }

  /** Starts a tcpdump on `ifname` in peer<p> that ends after one packet matching `filter`. */
  capture(p: number, ifname: string, filter: string): Capture {
    const child = this.lab.spawn(this.ns(p), 'tcpdump', [
      '--immediate-mode',
      '-p',
      '-n',
      '-i',
      ifname,
      '-c',
      '1',
      filter,
    ]);
    this.note(`[peer${p}] tcpdump -i ${ifname} -c 1 '${filter}' &`);
    let stderr = '';
    let stdout = '';
    let markReady: () => void = () => {};
    const ready = new Promise<void>((r) => {
      markReady = r;
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('listening on')) markReady();
    });
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const ended = new Promise<void>((r) => {
      child.once('close', () => {
        markReady();
        r();
      });
    });
    return {
      ready,
      result: async (ms: number) => {
        const done = await Promise.race([ended.then(() => true), sleep(ms).then(() => false)]);
        if (!done) {
          child.kill('SIGKILL');
          await ended;
        }
        return {
          captured: done && child.exitCode === 0 && /1 packet captured/.test(stderr) && stdout.length > 0,
          stderr: `${stdout}${stderr}`,
        };
      },
    };
  }

  /** Starts `ovpn-cli listen_mcast` (JSON mode) in peer<p>. */
  listen(p: number): Listener {
    const child = this.lab.spawn(this.ns(p), OVPN_CLI, LISTEN_MCAST_ARGS);
    this.note(`[peer${p}] ovpn-cli ${LISTEN_MCAST_ARGS.join(' ')} &`);
    // `ip netns exec` execs the command: the child's pid is the listener's
    if (child.pid !== undefined) this.listenerPids.add(child.pid);
    const received: Ntf[] = [];
    const garbage: string[] = [];
    let buf = '';
    let err = '';
    let exited: { code: number | null; signal: string | null } | undefined;
    let stopping = false;
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line === '') continue;
        try {
          const o = JSON.parse(line) as unknown;
          if (typeof o === 'object' && o !== null && 'name' in o && 'msg' in o) received.push(o as Ntf);
          else garbage.push(line);
        } catch {
          garbage.push(line);
        }
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const closed = new Promise<void>((r) => {
      child.once('close', (code, signal) => {
        exited = { code, signal };
        r();
      });
    });
    const l: Listener = {
      p,
      received,
      garbage,
      get exitedEarly() {
        return stopping ? undefined : exited;
      },
      stderr: () => err,
      stop: async () => {
        if (exited === undefined) stopping = true;
        if (!exited) child.kill('SIGTERM');
        await Promise.race([closed, sleep(3000)]);
        if (!exited) {
          child.kill('SIGKILL');
          await closed;
        }
      },
    };
    this.listeners.push(l);
    return l;
  }

  /**
   * Processes in peer<p> that hold sockets for ovpn-cli (what the kernel's cleanup kills with
   * `killall ovpn-cli`): every process there named ovpn-cli except our listeners (which carry the
   * same process title).
   */
  holderPids(p: number): number[] {
    const pids: number[] = [];
    for (const pid of namespacePids(this.ns(p))) {
      if (this.listenerPids.has(pid)) continue;
      let comm: string;
      let cmdline: string;
      try {
        comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue; // gone
      }
      if (comm === 'ovpn-cli' || cmdline.includes('ovpn-cli')) pids.push(pid);
    }
    return pids;
  }

  /** Signals the holders of every namespace in `ps` and waits (up to `ms`) until they are gone. */
  async killHolders(ps: number[], signal: NodeJS.Signals = 'SIGTERM', ms = 5000): Promise<number[]> {
    const pids = ps.flatMap((p) => this.holderPids(p));
    this.note(`kill -${signal} ${pids.join(' ')} (ovpn-cli holders of peer${ps.join(',')})`);
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + ms;
    let alive = pids;
    while (alive.length > 0 && Date.now() < deadline) {
      await sleep(50);
      alive = alive.filter(running);
    }
    return alive;
  }

  /** Waits until `cond` holds, polling; false on timeout. */
  async waitFor(cond: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
    return true;
  }

  /** Adds a line to the transcript. */
  note(line: string): void {
    this.transcript.push(`${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s ${line}`);
  }

  /** Prints what ran (for the report of a failed scenario). */
  dumpTranscript(): void {
    console.error(`--- selftest transcript (${this.transcript.length} steps) ---`);
    for (const l of this.transcript) console.error(l);
  }

  /**
   * The kernel's cleanup, made unconditional: stop listeners and captures, kill the ovpn-cli
   * holders, everything else left in the namespaces (ovpnd included), delete the namespaces, remove
   * the temporary files and release the lock. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const l of this.listeners) await l.stop();
      // commands still running (a failed step's siblings): kill them and let them report
      const pending = [...this.running].map((c) => new Promise<void>((r) => c.once('exit', () => r())));
      for (const c of this.running) c.kill('SIGKILL');
      await Promise.race([Promise.all(pending), sleep(3000)]);
      // every process in the namespaces (ovpnd, holders) is killed and waited for: the next scenario
      // must not start while they still hold CPU or sockets
      const { stuck, namespaces: left } = await this.lab.cleanup();
      if (stuck.length > 0)
        console.error(`selftest: processes still running after cleanup: ${stuck.join(' ')}`);
      if (left.length > 0) console.error(`selftest: namespaces left behind: ${left.join(' ')}`);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
      releaseLock();
    }
  }
}

/** A command's result for an assertion message. */
export function describe(what: string, r: CmdResult): string {
  const status = r.timedOut ? `timed out after ${r.ms} ms` : `exit ${r.code} after ${r.ms} ms`;
  return `${what}: ${status}\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

/** A file's text, or '' once the run's directory is gone (a command outliving a failed scenario). */
function readIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function acquireLock(): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8'));
    } catch {
      // being created or removed right now, or its creator died in between
    }
    const stale = owner > 0 ? !alive(owner) : lockAgeMs() > 10_000;
    if (stale) rmSync(LOCK_DIR, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`selftest lock ${LOCK_DIR} held too long by pid ${owner}`);
    await sleep(200);
  }
}

function lockAgeMs(): number {
  try {
    return Date.now() - statSync(LOCK_DIR).mtimeMs;
  } catch {
    return 0;
  }
}

function releaseLock(): void {
  try {
    if (Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8')) === process.pid) {
      rmSync(LOCK_DIR, { recursive: true, force: true });
    }
  } catch {
    // not ours or already gone
  }
}
