/**
 * The ovpn-ts client against Debian's OpenVPN 2.6 server, in two namespaces joined by a veth: the
 * client completes the handshake (reset, TLS, key-method 2, PUSH_REPLY), puts the pushed peer-id, EKM
 * keys and address on the ovpn-ts data plane, and pings the server's VPN address through it. The
 * client runs as its own process in its namespace (src/openvpn/main.ts --json), so that no `openvpn`
 * process is involved on its side.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, NetnsLab, namespacePids } from '../../../src/lab/netns.js';
import { repoRoot } from '../../support/repo.js';

const SERVER_LINK = '10.97.0.1';
const CLIENT_LINK = '10.97.0.2';
const SERVER_VPN = '10.98.0.1';
const TUN = 'ovhst0';

function haveOpenvpn(): boolean {
  try {
    execFileSync('openvpn', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // openvpn --version exits with 1 after printing
    return (e as { status?: number }).status === 1;
  }
}

/** CA, server certificate (serverAuth EKU) and client certificate, EC P-256, in `dir`. */
function makePki(dir: string): void {
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
    '/CN=ovhs-ca',
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
    ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=ovhs-${name}`);
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

/** Resolves with the first line `match` accepts, or rejects after `ms` with `what` and the output so far. */
function waitLine(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  match: (line: string) => boolean,
  ms: number,
  what: string,
  seen: string[],
): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child[stream]! });
    const timer = setTimeout(() => {
      rl.close();
      reject(
        new Error(
          `timed out after ${ms} ms waiting for ${what}; last output:\n${seen.slice(-30).join('\n')}`,
        ),
      );
    }, ms);
    rl.on('line', (line) => {
      seen.push(line);
      if (match(line)) {
        clearTimeout(timer);
        rl.close();
        resolve(line);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${what}: the process exited (${code ?? signal}); last output:\n${seen.slice(-30).join('\n')}`,
        ),
      );
    });
  });
}

describe('ovpn-ts client against OpenVPN 2.6 (netns)', {
  skip: !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false,
  timeout: 60_000,
}, () => {
  let lab: NetnsLab;
  let dir: string;
  let nsS: string;
  let nsC: string;
  let client: ChildProcess;
  const serverLog: string[] = [];
  const clientOut: string[] = [];
  let up: Record<string, unknown>;

  before(async () => {
    lab = new NetnsLab('ovhs');
    dir = mkdtempSync(join(tmpdir(), 'ovhs-'));
    makePki(dir);
    nsS = lab.ns('s');
    nsC = lab.ns('c');
    lab.veth(nsS, 'ovhsa', [`${SERVER_LINK}/24`], nsC, 'ovhsb', [`${CLIENT_LINK}/24`]);
    const server = lab.spawn(nsS, 'openvpn', [
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
    ]);
    server.stderr?.on('data', (d: Buffer) => serverLog.push(d.toString()));
    await waitLine(
      server,
      'stdout',
      (l) => l.includes('Initialization Sequence Completed'),
      15_000,
      'the server to start',
      serverLog,
    );
    const server2 = createInterface({ input: server.stdout! });
    server2.on('line', (l) => serverLog.push(l));

    writeFileSync(
      join(dir, 'client.ovpn'),
      [
        'client',
        'dev tun',
        'proto udp',
        `remote ${SERVER_LINK} 1194`,
        `ca ${join(dir, 'ca.crt')}`,
        `cert ${join(dir, 'client.crt')}`,
        `key ${join(dir, 'client.key')}`,
        'remote-cert-tls server',
        'verb 4',
        '',
      ].join('\n'),
    );
    const main = join(repoRoot(), 'dist', 'src', 'openvpn', 'main.js');
    client = lab.spawn(nsC, process.execPath, [
      main,
      '--config',
      join(dir, 'client.ovpn'),
      '--dev',
      TUN,
      '--dev-type',
      'tun',
      '--json',
    ]);
    client.stderr?.on('data', (d: Buffer) => clientOut.push(d.toString()));
    try {
      const line = await waitLine(
        client,
        'stdout',
        (l) => /"event":"(up|error)"/.test(l),
        25_000,
        'the client to come up',
        clientOut,
      );
      up = JSON.parse(line) as Record<string, unknown>;
      assert.equal(
        up.event,
        'up',
        `the client failed: ${line}\nserver log:\n${serverLog.join('').slice(-4000)}`,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\nserver log:\n${serverLog.join('\n').slice(-4000)}`);
    }
  });

  after(async () => {
    if (client !== undefined && client.exitCode === null) {
      client.stdin?.end('quit\n');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 3000);
        client.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    await lab?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(lab?.leftovers() ?? [], []);
  });

  it('completes the handshake and reports the pushed configuration', () => {
    assert.equal(up.cipher, 'AES-256-GCM');
    assert.equal(up.keyDerivation, 'tls-ekm');
    assert.equal(up.ifname, TUN);
    const pushed = up.pushed as Record<string, unknown>;
    assert.equal(pushed.topology, 'subnet');
    assert.deepEqual(pushed.ifconfig, { local: '10.98.0.2', second: '255.255.255.0' });
    assert.equal(pushed.peerId, 0);
    assert.equal(pushed.ping, 10);
    assert.equal(pushed.pingRestart, 60);
    assert.equal(pushed.routeGateway, SERVER_VPN);
    const log = serverLog.join('\n');
    assert.match(log, /peer info: IV_PROTO=14/);
    assert.match(log, /Peer Connection Initiated/);
    assert.match(log, /SENT CONTROL \[ovhs-client\]: 'PUSH_REPLY,/);
  });

  it('pings the server through the ovpn-ts data plane, with no openvpn in the client namespace', async () => {
    const ping = await lab.run(nsC, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(
      ping.stdout,
      /5 packets transmitted, 5 received/,
      `ping failed:\n${ping.stdout}${ping.stderr}`,
    );

    const statsLine = waitLine(
      client,
      'stdout',
      (l) => l.includes('"event":"stats"'),
      5000,
      'stats',
      clientOut,
    );
    client.stdin?.write('stats\n');
    const peer = (JSON.parse(await statsLine) as { peer: Record<string, number> }).peer;
    assert.equal(peer.id, 0);
    assert.equal(peer['tx-id'], 0);
    assert.equal(peer['keepalive-interval'], 10);
    assert.equal(peer['keepalive-timeout'], 60);
    assert.ok(peer['vpn-rx-packets'] >= 5, `vpn-rx-packets ${peer['vpn-rx-packets']}`);
    assert.ok(peer['vpn-tx-packets'] >= 5, `vpn-tx-packets ${peer['vpn-tx-packets']}`);

    const comms = namespacePids(nsC).map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    });
    assert.ok(!comms.includes('openvpn'), `processes in the client namespace: ${comms.join(', ')}`);
  });
});
