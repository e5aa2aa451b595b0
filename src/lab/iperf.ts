/**
 * TCP throughput between two namespaces of a `NetnsLab`, measured with iperf3 (one stream, `--json`).
 *
 * A fresh one-off server (`iperf3 -s -1`) is started for every measurement, bound to the server address, and
 * the client only starts once the server's socket is listening (checked with `ss`, which does not consume the
 * server's single session). The client is retried a few times if it cannot connect.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NetnsLab } from './netns.js';

export interface IperfResult {
  /** Receiver-side goodput (`end.sum_received.bits_per_second`). */
  bitsPerSecond: number;
  /** Sender-side rate (`end.sum_sent.bits_per_second`). */
  sentBitsPerSecond: number;
  /** TCP retransmits of the sending side (`end.sum_sent.retransmits`; 0 when iperf3 did not report them). */
  retransmits: number;
  /** Measured duration in seconds (`end.sum_received.seconds`). */
  seconds: number;
  /** Data direction: `false` client→server, `true` server→client (`-R`). */
  reverse: boolean;
}

export interface IperfOptions {
  /** TCP port of the server (default 5201). */
  port?: number;
  /** Congestion control for the test stream (`iperf3 -C`); namespaces may only use `reno` and `bbr`. */
  congestion?: string;
  /** Connection attempts of the client before giving up (default 5). */
  connectAttempts?: number;
}

/** The part of iperf3's `--json` output that is read here. */
interface IperfJson {
  error?: string;
  end?: {
    sum_sent?: { bits_per_second?: number; retransmits?: number; seconds?: number };
    sum_received?: { bits_per_second?: number; seconds?: number };
  };
}

/**
 * Runs one iperf3 TCP test of `seconds` from `clientNs` to `serverAddr` (inside `serverNs`); with `reverse`
 * the server sends (`-R`). Throws with iperf3's own error message when the test fails.
 */
export async function measureTcp(
  lab: NetnsLab,
  serverNs: string,
  clientNs: string,
  serverAddr: string,
  seconds: number,
  reverse: boolean,
  opts: IperfOptions = {},
): Promise<IperfResult> {
  const port = opts.port ?? 5201;
  const attempts = opts.connectAttempts ?? 5;
  const clientArgs = ['-c', serverAddr, '-p', String(port), '-t', String(seconds), '--json'];
  if (reverse) clientArgs.push('-R');
  if (opts.congestion) clientArgs.push('-C', opts.congestion);

  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const server = await startServer(lab, serverNs, serverAddr, port);
    try {
      const res = await lab.run(clientNs, 'iperf3', clientArgs, (seconds + 30) * 1000);
      const json = parseJson(res.stdout);
      const error = json?.error ?? (res.code !== 0 ? `exit code ${res.code}` : undefined);
      if (json && !error) return toResult(json, reverse);
      lastError = `${error ?? 'no JSON output'}${res.stderr ? ` (stderr: ${res.stderr.trim()})` : ''}`;
      // Only connection problems are worth a retry; anything else is a real failure.
      if (!/unable to connect|connection refused|no route|timed out/i.test(lastError)) break;
      await sleep(300 * attempt);
    } finally {
      await stopServer(server);
    }
  }
  throw new Error(
    `iperf3 ${reverse ? '-R ' : ''}from ${clientNs} to ${serverAddr}:${port} in ${serverNs} failed: ${lastError}`,
  );
}

/** `1.234 Gbit/s` (three decimals). */
export function formatGbps(bps: number): string {
  return `${(bps / 1e9).toFixed(3)} Gbit/s`;
}

function parseJson(text: string): IperfJson | undefined {
  // iperf3 may print lines such as "iperf3: exiting" around its JSON.
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end < start) return undefined;
  try {
    return JSON.parse(text.slice(start, end + 1)) as IperfJson;
  } catch {
    return undefined;
  }
}

function toResult(json: IperfJson, reverse: boolean): IperfResult {
  const received = json.end?.sum_received;
  const sent = json.end?.sum_sent;
  if (received?.bits_per_second === undefined)
    throw new Error('iperf3 JSON has no end.sum_received.bits_per_second');
  return {
    bitsPerSecond: received.bits_per_second,
    sentBitsPerSecond: sent?.bits_per_second ?? Number.NaN,
    retransmits: sent?.retransmits ?? 0,
    seconds: received.seconds ?? sent?.seconds ?? Number.NaN,
    reverse,
  };
}

/** Starts `iperf3 -s -1` bound to `addr:port` in `ns` and waits (up to 5 s) until it listens. */
async function startServer(lab: NetnsLab, ns: string, addr: string, port: number): Promise<ChildProcess> {
  const child = lab.spawn(ns, 'iperf3', ['-s', '-1', '-B', addr, '-p', String(port), '--json']);
  let output = '';
  const collect = (d: Buffer): void => {
    if (output.length < 65_536) output += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `iperf3 server in ${ns} exited early: ${parseJson(output)?.error ?? output.trim().slice(-2000)}`,
      );
    const ss = await lab.run(ns, 'ss', ['-Hltn', `sport = :${port}`], 5000);
    if (ss.code === 0 && ss.stdout.includes(`:${port}`)) return child;
    await sleep(50);
  }
  await stopServer(child);
  throw new Error(`iperf3 server in ${ns} did not listen on ${addr}:${port} within 5 s: ${output.trim()}`);
}

/** Waits briefly for the one-off server to exit by itself, then kills it. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      setTimeout(resolve, 2000).unref();
    }, 2000);
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** CPU load of the machine over a measurement, to judge how noisy it was. */
export interface LoadReport {
  /** Busy share of all CPUs (`/proc/stat`), in % (100 = every core busy). */
  machineBusyPct: number;
  /**
   * CPU used by user processes outside the given namespaces (and other than this process), in % of one core.
   * Approximate: processes that exited during the window are missed.
   */
  foreignCpuPct: number;
  seconds: number;
}

/** `getconf CLK_TCK`: 100 on Linux x86-64. */
export const CLK_TCK = 100;

/**
 * Starts metering the machine's load; call the returned function at the end of the window. Processes whose
 * network namespace is one of `ownNamespaces` (names under /run/netns) count as ours, kernel threads as the
 * machine's.
 */
export function startLoadMeter(ownNamespaces: readonly string[]): () => LoadReport {
  const own = new Set<number>();
  for (const ns of ownNamespaces) {
    try {
      own.add(statSync(`/run/netns/${ns}`).ino);
    } catch {
      // namespace gone
    }
  }
  const t0 = process.hrtime.bigint();
  const cpu0 = readCpuTotals();
  const procs0 = readForeignProcs(own);
  return () => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = readCpuTotals();
    let ticks = 0;
    for (const [pid, p] of readForeignProcs(own)) {
      const before = procs0.get(pid);
      ticks += before && before.start === p.start ? p.ticks - before.ticks : p.ticks;
    }
    const total = cpu1.total - cpu0.total;
    return {
      machineBusyPct: total > 0 ? ((cpu1.busy - cpu0.busy) / total) * 100 : Number.NaN,
      foreignCpuPct: (ticks / CLK_TCK / seconds) * 100,
      seconds,
    };
  };
}

function readCpuTotals(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((s, x) => s + x, 0);
  return { busy: total - v[3] - v[4], total };
}

/** pid → CPU ticks (utime + stime) and start time of user processes outside `ownNetns`, except this one. */
function readForeignProcs(ownNetns: Set<number>): Map<number, { ticks: number; start: number }> {
  const out = new Map<number, { ticks: number; start: number }>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[1] is the ppid (field 4): kthreadd (2) and its children are kernel threads.
      if (pid === 2 || f[1] === '2') continue;
      const netns = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1];
      if (netns !== undefined && ownNetns.has(Number(netns))) continue;
      out.set(pid, { ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Waits until processes outside `ownNamespaces` use less than `maxForeignPct` % of one core over a 1 s
 * window, for at most `timeoutMs`. Returns the last window's foreign load (check it: it may be over the limit).
 */
export async function waitForQuiet(
  maxForeignPct = 10,
  timeoutMs = 30_000,
  ownNamespaces: readonly string[] = [],
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stop = startLoadMeter(ownNamespaces);
    await sleep(1000);
    const { foreignCpuPct } = stop();
    if (foreignCpuPct < maxForeignPct || Date.now() >= deadline) return foreignCpuPct;
  }
}
