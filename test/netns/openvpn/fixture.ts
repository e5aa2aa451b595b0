/**
 * A shared fixture for netns tests of the ovpn-ts client against Debian's OpenVPN 2.6 server: two
 * namespaces joined by a veth, a throwaway PKI, the `openvpn` server in one namespace, the ovpn-ts
 * client in the other.
 *
 *   const lab = await startOpenvpnLab('ovxx');            // namespaces, veth, PKI, server up
 *   const cfg = lab.writeClientConfig(['verb 4']);        // client.ovpn in lab.dir
 *   const c = lab.spawnClient(['--config', cfg, '--dev', 'ovxx0', '--dev-type', 'tun', '--json']);
 *   const up = await c.waitEvent('up', 25_000);           // parsed JSON line
 *   ...
 *   await lab.cleanup();                                  // stops everything, removes namespaces and files
 *
 * Each test file uses its own `prefix` (2-5 lowercase letters): it names the namespaces, the veth ends
 * (`<prefix>a` server side, `<prefix>b` client side) and the certificates' CNs (`<prefix>-ca`,
 * `<prefix>-server`, `<prefix>-client`), so that test files can run concurrently.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { canUseNetns, NetnsLab } from '../../../src/lab/netns.js';
import { repoRoot } from '../../support/repo.js';

/** The server's veth address. */
export const SERVER_LINK = '10.97.0.1';
/** The client's veth address. */
export const CLIENT_LINK = '10.97.0.2';
/** The server's VPN address (`--server 10.98.0.0 255.255.255.0`); the first client gets 10.98.0.2. */
export const SERVER_VPN = '10.98.0.1';

/** Why a test of this folder cannot run here (the `skip` of its describe), or false. */
export function openvpnLabSkip(): string | false {
  return !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false;
}

/** Whether `dev` exists in namespace `ns`. */
export function linkExists(ns: string, dev: string): boolean {
  try {
    execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', dev], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when Debian's `openvpn` is installed (`openvpn --version` exits 1 after printing). */
export function haveOpenvpn(): boolean {
  try {
    execFileSync('openvpn', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status === 1;
  }
}

/** CA, server certificate (serverAuth EKU) and client certificate, EC P-256, in `dir`; CNs `<cn>-…`. */
export function makePki(dir: string, cn: string): void {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      '[srv]',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '[cli]',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    `/CN=${cn}-ca`,
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=keyCertSign,cRLSign',
  );
  for (const [name, ext] of [
    ['server', 'srv'],
    ['client', 'cli'],
  ]) {
    ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}-${name}`);
    ossl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
      '-extensions',
      ext,
    );
  }
}

/**
 * A process whose output lines are all collected (stdout and stderr, in arrival order per stream) and
 * can be waited for; nothing is lost between waits.
 */
export class LineWatcher {
  /** stdout lines, in order. */
  readonly out: string[] = [];
  /** stderr lines, in order. */
  readonly err: string[] = [];
  private waiters: Array<{ from: number; match: (l: string) => boolean; resolve: (l: string) => void }> = [];
  private exited: string | undefined;
  private exitWaiters: Array<(why: string) => void> = [];

  constructor(readonly child: ChildProcess) {
    if (child.stdout !== null) {
      createInterface({ input: child.stdout }).on('line', (l) => {
        this.out.push(l);
        this.check();
      });
    }
    if (child.stderr !== null) createInterface({ input: child.stderr }).on('line', (l) => this.err.push(l));
    child.once('exit', (code, signal) => {
      this.exited = `${code ?? signal}`;
      for (const w of this.exitWaiters.splice(0)) w(this.exited);
    });
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      for (let i = w.from; i < this.out.length; i++) {
        if (w.match(this.out[i])) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(this.out[i]);
          break;
        }
      }
    }
  }

  /** The output so far, for failure messages. */
  tail(n = 30): string {
    return `stdout:\n${this.out.slice(-n).join('\n')}\nstderr:\n${this.err.slice(-n).join('\n')}`;
  }

  /**
   * Resolves with the first stdout line at index >= `from` (default: lines not yet seen, i.e. from
   * now on) that `match` accepts; rejects after `ms` or when the process exits first.
   */
  waitFor(
    match: (line: string) => boolean,
    ms: number,
    what: string,
    from = this.out.length,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; ${this.tail()}`));
      }, ms);
      const done = (l: string) => {
        clearTimeout(timer);
        resolve(l);
      };
      this.waiters.push({ from, match, resolve: done });
      this.check();
      const onExit = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`${what}: the process exited (${why}); ${this.tail()}`));
      };
      if (this.exited !== undefined) onExit(this.exited);
      else this.exitWaiters.push(onExit);
    });
  }

  /** Resolves with the exit code (or signal name) once the process has exited, or undefined after `ms`. */
  waitExit(ms: number): Promise<number | string | undefined> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        resolve(this.child.exitCode ?? this.child.signalCode ?? undefined);
        return;
      }
      const t = setTimeout(() => resolve(undefined), ms);
      this.child.once('exit', (code, signal) => {
        clearTimeout(t);
        resolve(code ?? signal ?? undefined);
      });
    });
  }
}

/** A client child started by `spawnClient`, with `--json` events readable. */
export interface ClientProcess extends LineWatcher {
  /**
   * Resolves with the next `{"event":name}` JSON line (or an `{"event":"error"}` line, which rejects),
   * parsed; `from` as in `waitFor`.
   */
  waitEvent(name: string, ms: number, from?: number): Promise<Record<string, unknown>>;
  /** Writes a command line to the client's stdin (`--json` mode: `stats`, `quit`). */
  command(cmd: string): void;
}

class ClientProcessImpl extends LineWatcher implements ClientProcess {
  async waitEvent(name: string, ms: number, from?: number): Promise<Record<string, unknown>> {
    const line = await this.waitFor(
      (l) => l.includes(`"event":"${name}"`) || l.includes('"event":"error"'),
      ms,
      `the client's "${name}" event`,
      from,
    );
    const ev = JSON.parse(line) as Record<string, unknown>;
    if (ev.event !== name) throw new Error(`the client failed while waiting for "${name}": ${line}`);
    return ev;
  }

  command(cmd: string): void {
    this.child.stdin?.write(`${cmd}\n`);
  }
}

/** Options of `startOpenvpnLab`. */
export interface OpenvpnLabOptions {
  /** Extra `openvpn` server arguments, appended after the defaults (a later option wins in OpenVPN). */
  serverArgs?: string[];
  /** How long to wait for "Initialization Sequence Completed" (default 15 s). */
  startMs?: number;
}

/** What `startOpenvpnLab` set up. */
export interface OpenvpnLab {
  readonly lab: NetnsLab;
  /** Temporary folder holding the PKI (ca.crt, server.*, client.*) and written configs. */
  readonly dir: string;
  /** The server's namespace. */
  readonly nsS: string;
  /** The client's namespace. */
  readonly nsC: string;
  /** The `openvpn` server process (the current one, after `restartServer`). */
  readonly server: ChildProcess;
  /** Kills the server (SIGKILL by default: it cannot tell its clients) and waits until it is gone. */
  killServer(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the server again with the same arguments, then `extraArgs` (after `killServer`, or killing
   * it first), and waits up to `ms` (default 15 s) for its "Initialization Sequence Completed".
   */
  restartServer(ms?: number, extraArgs?: string[]): Promise<void>;
  /** Every line the server printed (stdout and stderr), in order of arrival. */
  readonly serverLog: string[];
  /**
   * Writes `<dir>/<name>` (default client.ovpn): a client config for this server (client, dev tun,
   * proto udp, remote, ca/cert/key, remote-cert-tls server) followed by `extra` lines; returns its path.
   */
  writeClientConfig(extra?: string[], name?: string): string;
  /**
   * Runs `cmd args` in the client namespace (default command: `node dist/src/openvpn/main.js`, i.e.
   * pass only the client's arguments). Killed by `cleanup` if still running.
   */
  spawnClient(args: string[], cmd?: string): ClientProcess;
  /**
   * Waits up to `ms` for a server log line (from index `from`, default: lines from now on) matching `re`.
   */
  waitServerLog(re: RegExp, ms: number, from?: number): Promise<string>;
  /** Kills what is left, deletes the namespaces and the folder; returns namespaces still present. */
  cleanup(): Promise<string[]>;
}

/**
 * Creates the namespaces `<prefix>-s` and `<prefix>-c` joined by a veth (10.97.0.1/24 and
 * 10.97.0.2/24), a PKI, and starts `openvpn --server 10.98.0.0 255.255.255.0` (subnet topology, UDP
 * 1194, dh none, keepalive 10 60, verb 4, no DCO) in `<prefix>-s`, resolving once it is initialised.
 * On failure everything created is removed before the rejection.
 */
export async function startOpenvpnLab(prefix: string, opts: OpenvpnLabOptions = {}): Promise<OpenvpnLab> {
  const lab = new NetnsLab(prefix);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const serverLog: string[] = [];
  const logWaiters: Array<{ from: number; re: RegExp; resolve: (l: string) => void }> = [];
  const checkLog = () => {
    for (const w of [...logWaiters]) {
      for (let i = w.from; i < serverLog.length; i++) {
        if (w.re.test(serverLog[i])) {
          logWaiters.splice(logWaiters.indexOf(w), 1);
          w.resolve(serverLog[i]);
          break;
        }
      }
    }
  };
  const cleanup = async (): Promise<string[]> => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    return lab.leftovers();
  };
  const waitServerLog = (re: RegExp, ms: number, from = serverLog.length): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${re} in the server log:\n${serverLog.slice(-40).join('\n')}`,
          ),
        );
      }, ms);
      logWaiters.push({
        from,
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      checkLog();
    });
  try {
    makePki(dir, prefix);
    const nsS = lab.ns('s');
    const nsC = lab.ns('c');
    lab.veth(nsS, `${prefix}a`, [`${SERVER_LINK}/24`], nsC, `${prefix}b`, [`${CLIENT_LINK}/24`]);
    const serverArgv = [
      '--server',
      '10.98.0.0',
      '255.255.255.0',
      '--topology',
      'subnet',
      '--dev',
      'tun',
      '--proto',
      'udp',
      '--port',
      '1194',
      '--ca',
      join(dir, 'ca.crt'),
      '--cert',
      join(dir, 'server.crt'),
      '--key',
      join(dir, 'server.key'),
      '--dh',
      'none',
      '--data-ciphers',
      'AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305',
      '--verb',
      '4',
      '--keepalive',
      '10',
      '60',
      '--disable-dco',
      ...(opts.serverArgs ?? []),
    ];
    /** Starts the server; resolves once it is initialised, rejects if it exits first. */
    const startServer = async (ms: number, extraArgs: string[] = []): Promise<ChildProcess> => {
      const from = serverLog.length;
      const p = lab.spawn(nsS, 'openvpn', [...serverArgv, ...extraArgs]);
      for (const s of [p.stdout, p.stderr]) {
        if (s !== null)
          createInterface({ input: s }).on('line', (l) => {
            serverLog.push(l);
            checkLog();
          });
      }
      const started = waitServerLog(/Initialization Sequence Completed/, ms, from);
      const exited = new Promise<never>((_r, reject) =>
        p.once('exit', (code, signal) =>
          reject(
            new Error(`the openvpn server exited (${code ?? signal}):\n${serverLog.slice(-40).join('\n')}`),
          ),
        ),
      );
      exited.catch(() => {});
      started.catch(() => {});
      await Promise.race([started, exited]);
      return p;
    };
    let server = await startServer(opts.startMs ?? 15_000);
    const killServer = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
      const p = server;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill(signal);
      await gone;
    };
    return {
      lab,
      dir,
      nsS,
      nsC,
      get server() {
        return server;
      },
      killServer,
      async restartServer(ms = 15_000, extraArgs: string[] = []): Promise<void> {
        await killServer();
        server = await startServer(ms, extraArgs);
      },
      serverLog,
      waitServerLog,
      cleanup,
      writeClientConfig(extra: string[] = [], name = 'client.ovpn'): string {
        const path = join(dir, name);
        writeFileSync(
          path,
          [
            'client',
            'dev tun',
            'proto udp',
            `remote ${SERVER_LINK} 1194`,
            `ca ${join(dir, 'ca.crt')}`,
            `cert ${join(dir, 'client.crt')}`,
            `key ${join(dir, 'client.key')}`,
            'remote-cert-tls server',
            ...extra,
            '',
          ].join('\n'),
        );
        return path;
      },
      spawnClient(args: string[], cmd?: string): ClientProcess {
        const argv =
          cmd === undefined ? [join(repoRoot(), 'dist', 'src', 'openvpn', 'main.js'), ...args] : args;
        return new ClientProcessImpl(lab.spawn(nsC, cmd ?? process.execPath, argv));
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Politely stops a client (`quit` on stdin, then SIGTERM) and waits up to `ms` for it to exit. */
export async function stopClient(c: ClientProcess, ms = 3000): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.command('quit');
  if ((await c.waitExit(ms)) === undefined) {
    c.child.kill('SIGTERM');
    await c.waitExit(ms);
  }
}
