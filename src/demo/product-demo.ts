/**
 * The main job (`npm run demo`): the whole product between network namespaces. Certificates are made
 * for the run; `ovpn-ts --config server.conf` serves in namespace `ovdemo-srv`; an `ovpn-ts` client
 * (alice) and a stock OpenVPN 2.6 client (bob) connect from their own namespaces over their own
 * links. Then: pings both ways and client to client, iperf3 up and down through each tunnel, the
 * server's status file (OpenVPN's format, counters from the data plane) and each client's own view.
 * Everything is stopped and removed afterwards, also on failure or Ctrl-C.
 *
 * `serverProgram: 'openvpn'` runs the same demo against OpenVPN's own server, for comparison.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { measureTcp } from '../lab/iperf.js';
import { NetnsLab } from '../lab/netns.js';
import { issue, makeCa } from './pki.js';

const OVPN_TS = fileURLToPath(new URL('../../../bin/ovpn-ts', import.meta.url));
const SERVER_VPN = '10.200.0.1';
const PORT = 1194;

const gbps = (bps: number) => `${(bps / 1e9).toFixed(2)} Gbit/s`;

/** A child process whose output lines are kept and can be waited for. */
class Proc {
  readonly lines: string[] = [];
  private waiters: { match: (l: string) => boolean; done: (l: string) => void }[] = [];
  private exitCode: string | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const s of [child.stdout, child.stderr]) {
      if (s === null) continue;
      createInterface({ input: s }).on('line', (l) => {
        this.lines.push(l);
        for (const w of [...this.waiters]) {
          if (w.match(l)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.done(l);
          }
        }
      });
    }
    child.once('exit', (code, signal) => {
      this.exitCode = `${code ?? signal}`;
    });
  }

  waitFor(match: (l: string) => boolean, ms: number, what: string): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${this.name}: no ${what} within ${ms / 1000} s${this.exitCode ? ` (exited ${this.exitCode})` : ''}:\n  ${this.lines.slice(-15).join('\n  ')}`,
          ),
        );
      }, ms);
      this.waiters.push({
        match,
        done: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves once the process is gone. */
  async stop(ms = 5000): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), ms);
    await gone;
    clearTimeout(t);
  }
}

function serverConfig(dir: string): string {
  return [
    '# an ordinary OpenVPN 2.6 server config',
    `port ${PORT}`,
    'proto udp',
    'dev tun0',
    `ca ${join(dir, 'ca.crt')}`,
    `cert ${join(dir, 'server.crt')}`,
    `key ${join(dir, 'server.key')}`,
    'dh none',
    'server 10.200.0.0 255.255.255.0',
    'topology subnet',
    'client-to-client',
    'keepalive 10 60',
    `status ${join(dir, 'status.log')} 1`,
    'status-version 2',
    'verb 3',
    '',
  ].join('\n');
}

function clientConfig(dir: string, name: string, remote: string): string {
  return [
    'client',
    'dev tun0',
    'proto udp',
    `remote ${remote} ${PORT}`,
    'nobind',
    `ca ${join(dir, 'ca.crt')}`,
    `cert ${join(dir, `${name}.crt`)}`,
    `key ${join(dir, `${name}.key`)}`,
    'remote-cert-tls server',
    'verb 3',
    '',
  ].join('\n');
}

/** The IPv4 address of `dev` in `ns` (as the pushed ifconfig set it). */
function tunAddress(lab: NetnsLab, ns: string, dev: string): string {
  const out = JSON.parse(lab.exec(ns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', dev])) as {
    addr_info?: { local?: string }[];
  }[];
  const a = out[0]?.addr_info?.[0]?.local;
  if (a === undefined) throw new Error(`${ns}: ${dev} has no IPv4 address`);
  return a;
}

export async function runProductDemo(
  opts: { iperfSeconds?: number; serverProgram?: 'ovpn-ts' | 'openvpn' } = {},
): Promise<boolean> {
  const seconds = opts.iperfSeconds ?? 3;
  const serverProgram = opts.serverProgram ?? 'ovpn-ts';
  const lab = new NetnsLab('ovdemo');
  const dir = mkdtempSync(join(tmpdir(), 'ovpn-ts-demo-'));
  const procs: Proc[] = [];
  let ok = true;
  const stopAll = async () => {
    for (const p of procs.reverse()) await p.stop();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSigint = () => {
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    console.log(
      `ovpn-ts demo: ${serverProgram} server, ovpn-ts client and openvpn client in namespaces (ovdemo-*)`,
    );
    const srv = lab.ns('srv');
    const alice = lab.ns('alice');
    const bob = lab.ns('bob');
    lab.veth(srv, 'ovds1', ['10.201.1.1/24'], alice, 'ovdc1', ['10.201.1.2/24']);
    lab.veth(srv, 'ovds2', ['10.201.2.1/24'], bob, 'ovdc2', ['10.201.2.2/24']);

    makeCa(dir, 'ovpn-ts demo CA');
    issue(dir, 'server', 'demo-server', 'server');
    issue(dir, 'alice', 'alice', 'client');
    issue(dir, 'bob', 'bob', 'client');
    writeFileSync(join(dir, 'server.conf'), serverConfig(dir));
    writeFileSync(join(dir, 'alice.ovpn'), clientConfig(dir, 'alice', '10.201.1.1'));
    writeFileSync(join(dir, 'bob.ovpn'), clientConfig(dir, 'bob', '10.201.2.1'));
    console.log(`  certificates for this run in ${dir}: CA, server, alice, bob (EC P-256)`);

    const server = new Proc(
      `${serverProgram} server`,
      serverProgram === 'openvpn'
        ? lab.spawn(srv, 'openvpn', ['--config', join(dir, 'server.conf')])
        : lab.spawn(srv, OVPN_TS, ['--config', join(dir, 'server.conf')]),
    );
    procs.push(server);
    await server.waitFor((l) => l.includes('Initialization Sequence Completed'), 20_000, 'start');
    console.log(
      `  ${srv}: ${serverProgram} --config server.conf (server 10.200.0.0/24, topology subnet, UDP ${PORT})`,
    );

    const a = new Proc('ovpn-ts client', lab.spawn(alice, OVPN_TS, ['--config', join(dir, 'alice.ovpn')]));
    const b = new Proc('openvpn client', lab.spawn(bob, 'openvpn', ['--config', join(dir, 'bob.ovpn')]));
    procs.push(a, b);
    const connected = (l: string) => l.includes('Initialization Sequence Completed');
    await Promise.all([
      a.waitFor(connected, 30_000, 'connection'),
      b.waitFor(connected, 30_000, 'connection'),
    ]);
    const aliceVpn = tunAddress(lab, alice, 'tun0');
    const bobVpn = tunAddress(lab, bob, 'tun0');
    console.log(`  ${alice}: ovpn-ts --config alice.ovpn  -> ${aliceVpn}`);
    console.log(`  ${bob}: openvpn --config bob.ovpn   -> ${bobVpn}\n`);

    const ping = async (from: string, to: string, what: string) => {
      const r = await lab.run(from, 'ping', ['-c', '5', '-i', '0.1', '-W', '2', to]);
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      const got = m ? Number(m[2]) : 0;
      const good = got === 5;
      ok &&= good;
      console.log(`ping ${what.padEnd(34)} ${got}/5 ${good ? 'ok' : 'LOST'}`);
    };
    await ping(alice, SERVER_VPN, `alice -> server ${SERVER_VPN}`);
    await ping(bob, SERVER_VPN, `bob -> server ${SERVER_VPN}`);
    await ping(srv, aliceVpn, `server -> alice ${aliceVpn}`);
    await ping(srv, bobVpn, `server -> bob ${bobVpn}`);
    await ping(alice, bobVpn, `alice -> bob (client-to-client)`);
    console.log('');

    for (const [ns, who] of [
      [alice, 'alice (ovpn-ts client)'],
      [bob, 'bob (openvpn client)  '],
    ]) {
      const up = await measureTcp(lab, srv, ns, SERVER_VPN, seconds, false);
      const down = await measureTcp(lab, srv, ns, SERVER_VPN, seconds, true);
      console.log(
        `iperf3 ${seconds}s ${who}: up ${gbps(up.bitsPerSecond)}, down ${gbps(down.bitsPerSecond)}`,
      );
    }

    // The status file is rewritten every second: wait for one written after the traffic.
    await new Promise((r) => setTimeout(r, 1500));
    console.log('\nserver status file (status-version 2, per-client byte counters from the data plane):');
    for (const l of readFileSync(join(dir, 'status.log'), 'utf8').trimEnd().split('\n'))
      console.log(`  ${l}`);
  } catch (e) {
    ok = false;
    console.error(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    process.removeListener('SIGINT', onSigint);
    await stopAll();
  }
  console.log(ok ? '\ndemo ok: every ping answered' : '\ndemo FAILED');
  return ok;
}
