/**
 * A netns lab for the ovpn-ts server against stock OpenVPN 2.6 clients: a server namespace joined to
 * each client namespace by its own veth pair (a star), a throwaway PKI (a client certificate per
 * client, CN `<prefix>-c<i>`), the ovpn-ts server (`ovpn-ts --config server.conf` with the
 * `server` / `server-ipv6` helpers, net30 or subnet), and stock `openvpn` clients.
 *
 *   veth i: server end 10.76.<i>.1/24, client end 10.76.<i>.2/24 (i = 1..n)
 *   tunnel: 10.75.0.0/24, the server 10.75.0.1; IPv6 fd75::/64, the server fd75::1
 *
 * UDP and TCP need two server processes (2.6 serves one proto per process): `startServer` can be
 * called once per proto, each with its own device name, port and tunnel network.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab } from '../../../src/lab/netns.js';
import { issue, makeCa } from '../../support/pki.js';
import { repoRoot } from '../../support/repo.js';
import { LineWatcher } from '../openvpn/fixture.js';

export { openvpnLabSkip as serverLabSkip } from '../openvpn/fixture.js';

export function vethServer(i: number): string {
  return `10.76.${i}.1`;
}

export interface TunnelPlan {
  /** Third octet base: the tunnel is 10.<net>.0.0/24 and fd<net>::/64. */
  net: number;
  topology: 'net30' | 'subnet';
  proto: 'udp' | 'tcp';
  port: number;
  dev: string;
  clientToClient?: boolean;
  renegSec?: number;
  /** `keepalive a b` (default 10 60). */
  keepalive?: [number, number];
  /** Words after `server net mask` (e.g. `nopool`). */
  serverFlags?: string;
  /** false: no `server-ipv6` (2.6 refuses it with `nopool`). */
  ipv6?: boolean;
  /** More config lines. */
  extra?: string[];
}

/** A server.conf for the plan: `server` + `server-ipv6` helpers, certificates in `dir`. */
export function serverConfig(dir: string, p: TunnelPlan): string {
  return [
    `server 10.${p.net}.0.0 255.255.255.0${p.serverFlags === undefined ? '' : ` ${p.serverFlags}`}`,
    ...(p.ipv6 === false ? [] : [`server-ipv6 fd${p.net}::/64`]),
    `topology ${p.topology}`,
    `dev ${p.dev}`,
    'dev-type tun',
    `proto ${p.proto === 'udp' ? 'udp' : 'tcp-server'}`,
    `port ${p.port}`,
    `ca ${join(dir, 'ca.crt')}`,
    `cert ${join(dir, 'server.crt')}`,
    `key ${join(dir, 'server.key')}`,
    'dh none',
    `keepalive ${(p.keepalive ?? [10, 60]).join(' ')}`,
    'data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305',
    'verb 4',
    ...(p.proto === 'udp' ? ['explicit-exit-notify 1'] : []),
    ...(p.renegSec === undefined ? [] : [`reneg-sec ${p.renegSec}`]),
    ...(p.clientToClient ? ['client-to-client'] : []),
    ...(p.extra ?? []),
    '',
  ].join('\n');
}

export interface ServerLab {
  readonly lab: NetnsLab;
  readonly dir: string;
  readonly nsS: string;
  /** Client namespaces, index 1..n at [i - 1]. */
  readonly clientNs: string[];
  /** Starts an ovpn-ts server process; resolves once it is serving. */
  startServer(p: TunnelPlan): Promise<LineWatcher>;
  /** Starts an ovpn-ts server process without waiting for anything (for servers meant to fail). */
  spawnServer(p: TunnelPlan): LineWatcher;
  /** Starts stock openvpn as client `i` (1-based) to `serverPort`/`proto`; resolves once initialised. */
  startClient(i: number, proto: 'udp' | 'tcp', port: number, extra?: string[]): Promise<LineWatcher>;
  /** Starts stock openvpn as client `i` without waiting for anything (for clients meant to fail). */
  spawnClient(i: number, proto: 'udp' | 'tcp', port: number, extra?: string[]): LineWatcher;
  /**
   * A LAN behind client `i`: namespace `<prefix>-lan<i>` joined to the client's namespace, `<net>.1/24`
   * on the client's end (which forwards), `<net>.2/24` on the LAN host's with its default route via
   * the client. Returns the LAN namespace.
   */
  addLan(i: number, net: string): string;
  /** ping from namespace `ns` to `dst`: resolves with the packets received out of `count`. */
  ping(ns: string, dst: string, count?: number): Promise<{ received: number; out: string }>;
  cleanup(): Promise<string[]>;
}

export async function startServerLab(prefix: string, clients: number): Promise<ServerLab> {
  const lab = new NetnsLab(prefix);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const watchers: LineWatcher[] = [];
  const cleanup = async (): Promise<string[]> => {
    for (const w of watchers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(watchers.map((w) => w.waitExit(4000)));
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    return lab.leftovers();
  };
  try {
    makeCa(dir, 'ca', `/CN=${prefix}-ca`);
    issue(dir, 'server', {
      subj: `/CN=${prefix}-server`,
      ext: [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
      ],
    });
    for (let i = 1; i <= clients; i++) {
      issue(dir, `c${i}`, {
        subj: `/CN=${prefix}-c${i}`,
        ext: ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'],
      });
    }
    const nsS = lab.ns('srv');
    const clientNs: string[] = [];
    for (let i = 1; i <= clients; i++) {
      const ns = lab.ns(`c${i}`);
      clientNs.push(ns);
      lab.veth(nsS, `${prefix}${i}a`, [`${vethServer(i)}/24`], ns, `${prefix}${i}b`, [`10.76.${i}.2/24`]);
    }
    const spawnServer = (p: TunnelPlan): LineWatcher => {
      const file = join(dir, `server-${p.proto}-${p.port}.conf`);
      writeFileSync(file, serverConfig(dir, p));
      const child: ChildProcess = lab.spawn(nsS, process.execPath, [
        join(repoRoot(), 'dist/src/openvpn/main.js'),
        '--config',
        file,
      ]);
      const w = new LineWatcher(child);
      watchers.push(w);
      return w;
    };
    const startServer = async (p: TunnelPlan): Promise<LineWatcher> => {
      const w = spawnServer(p);
      await w.waitFor((l) => l.includes('Initialization Sequence Completed'), 15_000, 'the server to start');
      return w;
    };
    const spawnClient = (i: number, proto: 'udp' | 'tcp', port: number, extra: string[] = []) => {
      const child = lab.spawn(clientNs[i - 1], 'openvpn', [
        '--client',
        '--dev',
        'tun',
        '--proto',
        proto === 'udp' ? 'udp' : 'tcp-client',
        '--remote',
        vethServer(i),
        String(port),
        '--nobind',
        '--ca',
        join(dir, 'ca.crt'),
        '--cert',
        join(dir, `c${i}.crt`),
        '--key',
        join(dir, `c${i}.key`),
        '--remote-cert-tls',
        'server',
        '--verb',
        '4',
        '--disable-dco',
        '--connect-retry',
        '1',
        ...extra,
      ]);
      const w = new LineWatcher(child);
      watchers.push(w);
      return w;
    };
    const startClient = async (i: number, proto: 'udp' | 'tcp', port: number, extra: string[] = []) => {
      const w = spawnClient(i, proto, port, extra);
      try {
        await w.waitFor(
          (l) => l.includes('Initialization Sequence Completed'),
          20_000,
          `client ${i} to connect`,
        );
      } catch (e) {
        // the servers' side of the story, for the failure message
        const servers = watchers.filter((x) => x.out[0]?.includes('server'));
        throw new Error(`${(e as Error).message}\nSERVERS:\n${servers.map((x) => x.tail(25)).join('\n')}`);
      }
      return w;
    };
    const ping = async (ns: string, dst: string, count = 3) => {
      const r = await lab.run(
        ns,
        'ping',
        ['-c', String(count), '-i', '0.2', '-W', '2', dst],
        count * 200 + 15_000,
      );
      const m = /(\d+) received/.exec(r.stdout);
      return { received: m ? Number(m[1]) : 0, out: r.stdout + r.stderr };
    };
    const addLan = (i: number, net: string): string => {
      const ns = lab.ns(`lan${i}`);
      lab.veth(clientNs[i - 1], `${prefix}l${i}a`, [`${net}.1/24`], ns, `${prefix}l${i}b`, [`${net}.2/24`]);
      lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', `${net}.1`]);
      lab.exec(clientNs[i - 1], 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      return ns;
    };
    return {
      lab,
      dir,
      nsS,
      clientNs,
      startServer,
      spawnServer,
      startClient,
      spawnClient,
      addLan,
      ping,
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Whether `dev` exists in namespace `ns`. */
export function linkIn(ns: string, dev: string): boolean {
  try {
    execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', dev], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
