/**
 * Connect storm: `clients` stock `openvpn` 2.6 client processes (`dev null`: no device, so hundreds fit
 * in one namespace; the pushed ifconfig and routes are accepted and not applied) started at once, in a
 * tight loop without waiting, in namespace `sbs-c`, against a server in `sbs-s` (veth 10.213.0.1/2),
 * first a stock `openvpn` server, then the ovpn-ts server from the same plain config file (or a "not
 * available" line while `ovpn-ts --config server.conf` refuses server configs).
 *
 * Per server:
 *   - every client connected and pushed: its log has the PUSH_REPLY it received and "Initialization
 *     Sequence Completed"; times from the start of the spawn loop until the first, median and last;
 *   - the server agrees: its status file (`status F 1`, `status-version 2`) lists every client;
 *   - server memory per client: (RSS with all connected − RSS before) / clients;
 *   - then every client gets SIGTERM (`explicit-exit-notify 1`: it tells the server), and nothing may be
 *     left: the status file back to 0 clients, the server's open fds, network links and UDP sockets as
 *     before the storm, no client process left; its RSS afterwards is printed.
 * The server's RSS and fds include its child processes, if any.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetnsLab, namespacePids } from '../src/lab/netns.js';
import { median } from './stats.js';
import {
  clientConfig,
  type Endpoint,
  type Impl,
  OPENVPN,
  READY,
  readLog,
  serverConfig,
  startEndpoint,
  stopEndpoint,
  waitServer,
} from './vpn-endpoints.js';
import { addClients, makeBenchPki } from './vpn-pki.js';
import { fdCount, fdLimit, isAlive, rssKiB } from './vpn-procs.js';

const NET = { server: '10.213.0.1', client: '10.213.0.2', vpnNet: '10.214.0.0' };
const PORT = 1194;
/** Shells that fork the clients, in parallel (the machine has 2 cores). */
const LAUNCHERS = 4;
const PUSHED = /PUSH: Received control message: 'PUSH_REPLY/;

export interface StormOptions {
  /** Client processes (default 200). */
  clients: number;
  /** Time allowed for every client to connect (default 120 s). */
  connectTimeoutS?: number;
  /** Only these servers (default both). */
  servers?: Impl[];
  /** Extra server directives (both servers), e.g. `connect-freq-initial 1000 10`. */
  serverExtra?: string[];
}

export interface StormRun {
  results: StormResult[];
  /** Why the ovpn-ts server was not measured (it refused to start), if so. */
  ovpnTsUnavailable?: string;
}

/** What one storm against one server measured. */
export interface StormResult {
  server: Impl;
  clients: number;
  connected: number;
  /** Seconds from the start of the spawn loop until the first, median and last client was up. */
  firstS: number;
  medianS: number;
  lastS: number;
  /** Clients (distinct common names) the status file listed with everyone up. */
  statusListed: number;
  /** Clients that restarted (a failed TLS handshake: SIGUSR1 in their log) before they connected. */
  restarted: number;
  /** Their SIGUSR1 reasons with counts (`3x tls-error`). */
  restartReasons: string;
  /** Its CLIENT_LIST rows then: more than statusListed while old sessions of returning clients linger. */
  statusRows: number;
  rssBeforeKiB: number;
  rssConnectedKiB: number;
  rssAfterKiB: number;
  fdsBefore: number;
  fdsConnected: number;
  fdsAfter: number;
  /** Seconds until every client process exited after SIGTERM, and until the status file said 0. */
  stopS: number;
  drainS: number;
  statusAfter: number;
  /** Seconds the launcher took to fork every client. */
  spawnS: number;
  /** Server log lines about its initial-packet rate limit (`connect-freq-initial`). */
  rateLimitNotes: number;
  /** Problems found (empty: connected and clean). */
  problems: string[];
}

/**
 * Clients listed in a status-version 2 file: `CLIENT_LIST,` rows and their distinct common names (a
 * client that gave up on a slow handshake and came back may be listed twice until the server drops
 * the old session); both -1 if the file cannot be read.
 */
export function statusRows(path: string): { rows: number; names: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { rows: -1, names: -1 };
  }
  if (!text.includes('END')) return { rows: -1, names: -1 }; // being rewritten
  const rows = text.split('\n').filter((l) => l.startsWith('CLIENT_LIST,'));
  return { rows: rows.length, names: new Set(rows.map((l) => l.split(',')[1])).size };
}

/** `CLIENT_LIST` rows of a status-version 2 file, or -1 if it cannot be read. */
export function statusClients(path: string): number {
  return statusRows(path).rows;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** Network links of `ns` (names, sorted), for the leak check. */
function links(lab: NetnsLab, ns: string): string {
  return lab
    .exec(ns, 'ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0])
    .filter(Boolean)
    .sort()
    .join(' ');
}

/** UDP sockets open in `ns` (local address:port, sorted). */
function udpSockets(lab: NetnsLab, ns: string): string {
  return lab
    .exec(ns, 'ss', ['-Hun', '-a'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[3])
    .filter(Boolean)
    .sort()
    .join(' ');
}

export async function runStorm(o: StormOptions): Promise<StormRun> {
  const n = o.clients;
  const connectMs = (o.connectTimeoutS ?? 120) * 1000;
  const lab = new NetnsLab('sbs');
  const dir = mkdtempSync(join(tmpdir(), 'sbs-'));
  const results: StormResult[] = [];
  let ovpnTsUnavailable: string | undefined;
  const clients: number[] = [];
  const killClients = () => {
    for (const pid of clients) signal(pid, 'SIGKILL');
  };
  try {
    const limit = fdLimit(process.pid);
    if (limit < n * 4)
      console.log(`  (fd limit ${limit} is low for ${n} clients; the harness keeps no pipes to them)`);
    const nsS = lab.ns('s');
    const nsC = lab.ns('c');
    lab.veth(nsS, 'sbsa', [`${NET.server}/24`], nsC, 'sbsb', [`${NET.client}/24`]);
    const pki = makeBenchPki(dir, 'sbs');
    await addClients(pki, 'sbs', n);
    const status = join(dir, 'status.txt');
    const mask = n <= 250 ? '255.255.255.0' : '255.255.0.0';
    const srvText = serverConfig({
      pki,
      local: NET.server,
      port: PORT,
      net: NET.vpnNet,
      mask,
      status,
      extra: o.serverExtra,
    });
    const cliConf = join(dir, 'client.conf');
    writeFileSync(
      cliConf,
      clientConfig({
        pki,
        cert: 0,
        remote: NET.server,
        port: PORT,
        dev: 'null',
        extra: ['explicit-exit-notify 1', 'ifconfig-noexec', 'route-noexec'],
      }),
    );

    for (const impl of o.servers ?? (['openvpn', 'ovpn-ts'] as Impl[])) {
      rmSync(status, { force: true });
      const server = startEndpoint(
        lab,
        nsS,
        impl,
        dir,
        `server-${impl}`,
        srvText,
        impl === 'openvpn' ? ['--disable-dco'] : [],
      );
      try {
        const up = await waitServer(lab, server, PORT, 20_000);
        if (!up.ok) {
          if (impl === 'ovpn-ts' && up.exited) {
            ovpnTsUnavailable = up.reason;
            continue;
          }
          throw new Error(`${impl} server did not start: ${up.reason}`);
        }
        results.push(
          await stormOnce(lab, server, nsC, dir, cliConf, pki.clientCerts, status, connectMs, clients),
        );
      } finally {
        killClients();
        clients.length = 0;
        await stopEndpoint(server);
      }
    }
  } finally {
    killClients();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return { results, ovpnTsUnavailable };
}

async function stormOnce(
  lab: NetnsLab,
  server: Endpoint,
  nsC: string,
  dir: string,
  cliConf: string,
  certs: string[],
  status: string,
  connectMs: number,
  clients: number[],
): Promise<StormResult> {
  const n = certs.length;
  const problems: string[] = [];
  // the status file is written every second: wait for the first one, then let the server settle
  const statusDeadline = Date.now() + 5000;
  while (statusClients(status) < 0 && Date.now() < statusDeadline) await sleep(100);
  await sleep(500);
  const rssBeforeKiB = rssKiB(server.pid);
  const fdsBefore = fdCount(server.pid);
  const linksBefore = links(lab, server.ns);
  const socketsBefore = udpSockets(lab, server.ns);

  const logs = certs.map((_c, i) => join(dir, `${server.impl}-client-${i}.log`));
  // Shells in the clients' namespace fork them (LAUNCHERS shells, every LAUNCHERS-th client each):
  // spawning each from node costs over 0.1 s per client here (node's fork plus `ip netns exec`), and
  // fork+exec alone is about 20-60 ms on this VM, most of it CPU the starting clients compete for.
  // Each shell writes its clients' pids (`<index> <pid>`), then "launched".
  const pidFiles: string[] = [];
  const launchers = [];
  const t0 = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - t0) / 1e9;
  for (let k = 0; k < LAUNCHERS; k++) {
    const pidFile = join(dir, `${server.impl}-pids-${k}`);
    const script = join(dir, `${server.impl}-storm-${k}.sh`);
    const lines: string[] = [];
    for (let i = k; i < n; i += LAUNCHERS) {
      lines.push(`${OPENVPN} --config ${cliConf} --cert ${certs[i]} --log ${logs[i]} >/dev/null 2>&1 &`);
      lines.push(`echo "${i} $!" >>${pidFile}`);
    }
    writeFileSync(script, [...lines, `echo launched >>${pidFile}`, 'wait', ''].join('\n'));
    writeFileSync(pidFile, '');
    pidFiles.push(pidFile);
  }
  for (const script of pidFiles.map((f) => f.replace(/pids-(\d+)$/, 'storm-$1.sh'))) {
    const l = lab.spawn(nsC, 'sh', [script]);
    l.stdout?.resume();
    l.stderr?.resume();
    launchers.push(l);
  }
  const pids: number[] = new Array(n).fill(0);
  let spawnS = Number.NaN;
  const readPids = () => {
    let done = 0;
    for (const f of pidFiles) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^(\d+) (\d+)$/gm)) pids[Number(m[1])] = Number(m[2]);
      if (text.includes('launched')) done++;
    }
    if (done === pidFiles.length && Number.isNaN(spawnS)) {
      spawnS = since();
      clients.push(...pids);
    }
  };
  // a client not forked yet has not exited
  const exited = (i: number) => pids[i] !== 0 && !isAlive(pids[i]);

  // poll the logs of the clients not up yet, from the start
  const upAt: number[] = new Array(n).fill(Number.NaN);
  let restarted = 0;
  const restartReasons = new Map<string, number>();
  let pending = n;
  const deadline = Date.now() + connectMs;
  while (pending > 0 && Date.now() < deadline) {
    if (Number.isNaN(spawnS)) {
      readPids();
      const dead = launchers.find((l) => l.exitCode !== null);
      if (Number.isNaN(spawnS) && dead !== undefined)
        throw new Error(`a storm launcher exited (${dead.exitCode})`);
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isNaN(upAt[i])) continue;
      const text = readLog(logs[i]);
      if (text.includes(READY)) {
        upAt[i] = since();
        pending--;
        if (!PUSHED.test(text)) problems.push(`client ${i} completed without a PUSH_REPLY in its log`);
        for (const m of text.matchAll(/SIGUSR1\[soft,([^\]]*)\]/g))
          restartReasons.set(m[1], (restartReasons.get(m[1]) ?? 0) + 1);
        if (/SIGUSR1\[soft/.test(text)) restarted++;
      }
    }
    // a client that exited will not come up: stop waiting once every one still down has exited
    if (pending > 0 && !Number.isNaN(spawnS) && upAt.every((t, i) => !Number.isNaN(t) || exited(i))) break;
    if (pending > 0) await sleep(100);
  }
  while (Number.isNaN(spawnS) && since() < 60) {
    readPids();
    await sleep(50);
  }
  if (Number.isNaN(spawnS)) throw new Error('the storm launchers did not finish within 60 s');
  const times = upAt.filter((t) => !Number.isNaN(t));
  const connected = times.length;
  if (connected < n) {
    const down = upAt.map((t, i) => (Number.isNaN(t) ? i : -1)).filter((i) => i >= 0);
    const gone = down.filter(exited).length;
    const tail = readLog(logs[down[0]]).trimEnd().split('\n').slice(-6).join('\n    ');
    problems.push(
      `${n - connected} of ${n} clients not connected within ${connectMs / 1000} s (${gone} of them exited); ` +
        `client ${down[0]}'s log ends:\n    ${tail}`,
    );
  }
  // the server's own view: every client listed in the status file
  let listed = statusRows(status);
  const listDeadline = Date.now() + 5000;
  while (listed.names !== connected && Date.now() < listDeadline) {
    await sleep(200);
    listed = statusRows(status);
  }
  const statusListed = listed.names;
  if (statusListed !== connected)
    problems.push(`the server's status file lists ${statusListed} clients, ${connected} are connected`);
  const rssConnectedKiB = rssKiB(server.pid);
  const fdsConnected = fdCount(server.pid);

  // every client stops (SIGTERM: explicit-exit-notify tells the server)
  const s0 = Date.now();
  for (const pid of pids) signal(pid, 'SIGTERM');
  const stopDeadline = Date.now() + 15_000;
  while (pids.some(isAlive) && Date.now() < stopDeadline) await sleep(50);
  const stopS = (Date.now() - s0) / 1000;
  const stuck = pids.filter(isAlive).length;
  if (stuck > 0) problems.push(`${stuck} clients did not exit within 15 s of SIGTERM`);
  let statusAfter = statusClients(status);
  const drainDeadline = Date.now() + 30_000;
  while (statusAfter !== 0 && Date.now() < drainDeadline) {
    await sleep(200);
    statusAfter = statusClients(status);
  }
  const drainS = (Date.now() - s0) / 1000;
  if (statusAfter !== 0)
    problems.push(`the status file still lists ${statusAfter} clients 30 s after they stopped`);
  await sleep(1000); // let the server finish its cleanup of the last ones
  const rssAfterKiB = rssKiB(server.pid);
  const fdsAfter = fdCount(server.pid);
  if (fdsAfter !== fdsBefore) problems.push(`server fds ${fdsBefore} before, ${fdsAfter} after`);
  const linksAfter = links(lab, server.ns);
  if (linksAfter !== linksBefore)
    problems.push(`server links before [${linksBefore}], after [${linksAfter}]`);
  const socketsAfter = udpSockets(lab, server.ns);
  if (socketsAfter !== socketsBefore)
    problems.push(`server UDP sockets before [${socketsBefore}], after [${socketsAfter}]`);
  const left = namespacePids(nsC);
  if (left.length > 0) problems.push(`${left.length} processes left in the clients' namespace`);

  return {
    server: server.impl,
    clients: n,
    connected,
    firstS: times.length > 0 ? Math.min(...times) : Number.NaN,
    medianS: times.length > 0 ? median(times) : Number.NaN,
    lastS: times.length > 0 ? Math.max(...times) : Number.NaN,
    statusListed,
    statusRows: listed.rows,
    restarted,
    restartReasons: [...restartReasons].map(([k, v]) => `${v}x ${k}`).join(', '),
    rssBeforeKiB,
    rssConnectedKiB,
    rssAfterKiB,
    fdsBefore,
    fdsConnected,
    fdsAfter,
    stopS,
    drainS,
    statusAfter,
    spawnS,
    rateLimitNotes: readLog(server.log)
      .split('\n')
      .filter((l) => /connect-freq-initial/.test(l)).length,
    problems,
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** Prints the storm's results; returns false if any server had a problem. */
export function reportStorm(run: StormRun, clients: number): boolean {
  const results = run.results;
  let ok = true;
  for (const r of results) {
    const perClient = (r.rssConnectedKiB - r.rssBeforeKiB) / Math.max(1, r.connected);
    console.log(
      `  ${`${r.server} server:`.padEnd(16)} ${r.connected}/${r.clients} connected and pushed (forked in ${r.spawnS.toFixed(2)} s); up after first ${r.firstS.toFixed(2)} s, ` +
        `median ${r.medianS.toFixed(2)} s, last ${r.lastS.toFixed(2)} s; status file listed ${r.statusListed}` +
        `${r.statusRows > r.statusListed ? ` (in ${r.statusRows} rows: old sessions of clients that came back)` : ''}`,
    );
    console.log(
      `  ${''.padEnd(16)} RSS ${mib(r.rssBeforeKiB)} -> ${mib(r.rssConnectedKiB)} connected: ${perClient.toFixed(1)} KiB per client; fds ${r.fdsBefore} -> ${r.fdsConnected}`,
    );
    console.log(
      `  ${''.padEnd(16)} stopped: clients gone in ${r.stopS.toFixed(1)} s, status ${r.statusAfter} clients after ${r.drainS.toFixed(1)} s; ` +
        `RSS ${mib(r.rssAfterKiB)}, fds ${r.fdsAfter}; ${r.problems.length === 0 ? 'nothing left (links, UDP sockets, processes as before)' : 'PROBLEMS:'}`,
    );
    if (r.restarted > 0)
      console.log(
        `  ${''.padEnd(16)} ${r.restarted} clients restarted before they connected (${r.restartReasons})`,
      );
    if (r.rateLimitNotes > 0)
      console.log(
        `  ${''.padEnd(16)} (its log has ${r.rateLimitNotes} connect-freq-initial rate-limit lines)`,
      );
    for (const p of r.problems) console.log(`    - ${p}`);
    if (r.problems.length > 0) ok = false;
  }
  const ref = results.find((r) => r.server === 'openvpn');
  const ts = results.find((r) => r.server === 'ovpn-ts');
  if (ref !== undefined && ts !== undefined) {
    const mem = (r: StormResult) => (r.rssConnectedKiB - r.rssBeforeKiB) / Math.max(1, r.connected);
    console.log(
      `  ovpn-ts / openvpn: time to the last client ${(ts.lastS / ref.lastS).toFixed(2)}x, memory per client ${(mem(ts) / mem(ref)).toFixed(2)}x`,
    );
  }
  if (run.ovpnTsUnavailable !== undefined)
    console.log(
      `  ovpn-ts server: not available yet (${run.ovpnTsUnavailable}); ovpn-ts vs openvpn not measured`,
    );
  else if (ts === undefined) console.log(`  ovpn-ts vs openvpn (${clients} clients): not measured`);
  return ok;
}
