/**
 * Our `--status` formatter against Debian's OpenVPN 2.6 server, byte for byte, in `--status-version`
 * 1, 2 and 3. For each version a stock `openvpn` server (fixture.ts, plus `server-ipv6`, a ccd and
 * `--status FILE 1`) takes two stock clients in namespaces `ss-*`:
 * - `ss-client` over IPv4 from port 41001, ccd addresses 10.98.0.10 / fd98::10 and iroutes
 *   10.99.0.0/24 and fd99::/64, no username;
 * - `ss-client2` over IPv6 from port 41002 (a real address printed without its port), ccd addresses
 *   10.98.0.11 / fd98::11, username `alice`, CHACHA20-POLY1305;
 * then pings into the iroutes from the server's namespace, so that 2.6 caches the host routes
 * 10.99.0.5 and fd99::5 (printed with `C`).
 *
 * The test builds a StatusSnapshot from what it set up (names, addresses, ports, client and peer ids,
 * ciphers, username, which routes exist) and takes from the file only what only the server knows: the
 * byte counters, the bcast queue maximum, the instants (each checked to lie in the window the test
 * saw) and the listing order (2.6 walks hash tables seeded at random). Our `formatStatus` of that
 * snapshot must equal the file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  formatStatus,
  type StatusClient,
  type StatusRoute,
  type StatusSnapshot,
  type StatusVersion,
} from '../../../src/openvpn/server/status-file.js';
import {
  CLIENT_LINK,
  type ClientProcess,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_LINK,
  startOpenvpnLab,
  stopClient,
} from '../openvpn/fixture.js';

const PREFIX = 'ss';
const SERVER_LINK6 = 'fd97::1';
const CLIENT_LINK6 = 'fd97::2';

/** What the test set up for one client; `real` is how the server's dual-stack socket sees it. */
interface ClientFacts {
  cn: string;
  real: { address: string; port: number };
  v4: string;
  v6: string;
  username: string | undefined;
  cipher: string;
}

const A: ClientFacts = {
  cn: `${PREFIX}-client`,
  real: { address: `::ffff:${CLIENT_LINK}`, port: 41001 },
  v4: '10.98.0.10',
  v6: 'fd98::10',
  username: undefined,
  cipher: 'AES-256-GCM',
};
const B: ClientFacts = {
  cn: `${PREFIX}-client2`,
  real: { address: CLIENT_LINK6, port: 41002 },
  v4: '10.98.0.11',
  v6: 'fd98::11',
  username: 'alice',
  cipher: 'CHACHA20-POLY1305',
};

/** The routing table 2.6 must show, by printed address: owner, address, prefix, cached. */
const ROUTES: Array<{ key: string; owner: ClientFacts; address: string; prefix?: number; cached?: boolean }> =
  [
    { key: '10.98.0.10', owner: A, address: '10.98.0.10' },
    { key: 'fd98::10', owner: A, address: 'fd98::10' },
    { key: '10.99.0.0/24', owner: A, address: '10.99.0.0', prefix: 24 },
    { key: 'fd99::/64', owner: A, address: 'fd99::', prefix: 64 },
    { key: '10.99.0.5C', owner: A, address: '10.99.0.5', cached: true },
    { key: 'fd99::5C', owner: A, address: 'fd99::5', cached: true },
    { key: '10.98.0.11', owner: B, address: '10.98.0.11' },
    { key: 'fd98::11', owner: B, address: 'fd98::11' },
  ];

/** `YYYY-MM-DD hh:mm:ss` in local time (2.6's time_string) back to epoch seconds. */
function parseLocal(text: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
  assert.ok(m, `not a 2.6 time: ${JSON.stringify(text)}`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  return new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;
}

/** The server-side facts read from one status file: per CN and per route key, in file order. */
interface FileFacts {
  now: number;
  clients: Array<{ cn: string; rx: bigint; tx: bigint; since: number }>;
  routes: Array<{ key: string; lastRef: number }>;
  maxBcast: number;
}

/**
 * Reads the instants, counters and order from a status file. Times are taken from the epoch columns
 * in versions 2 and 3 and from the local-time text in version 1; both forms are checked against each
 * other by the byte comparison that follows.
 */
function readFacts(text: string, version: StatusVersion): FileFacts {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the file ends with a newline');
  const facts: FileFacts = { now: 0, clients: [], routes: [], maxBcast: -1 };
  if (version === 1) {
    let section = '';
    for (const l of lines) {
      if (l === 'OpenVPN CLIENT LIST' || l === 'ROUTING TABLE' || l === 'GLOBAL STATS') section = l;
      else if (l.startsWith('Updated,')) facts.now = parseLocal(l.slice(8));
      else if (l.startsWith('Common Name,') || l.startsWith('Virtual Address,') || l === 'END') continue;
      else if (section === 'OpenVPN CLIENT LIST') {
        const c = l.split(',');
        facts.clients.push({ cn: c[0], rx: BigInt(c[2]), tx: BigInt(c[3]), since: parseLocal(c[4]) });
      } else if (section === 'ROUTING TABLE') {
        const c = l.split(',');
        facts.routes.push({ key: c[0], lastRef: parseLocal(c[3]) });
      } else if (l.startsWith('Max bcast/mcast queue length,')) facts.maxBcast = Number(l.split(',')[1]);
    }
    return facts;
  }
  const sep = version === 3 ? '\t' : ',';
  for (const l of lines) {
    const c = l.split(sep);
    if (c[0] === 'TIME') facts.now = Number(c[2]);
    else if (c[0] === 'CLIENT_LIST')
      facts.clients.push({ cn: c[1], rx: BigInt(c[5]), tx: BigInt(c[6]), since: Number(c[8]) });
    else if (c[0] === 'ROUTING_TABLE') facts.routes.push({ key: c[1], lastRef: Number(c[5]) });
    else if (c[0] === 'GLOBAL_STATS' && c[1] === 'Max bcast/mcast queue length')
      facts.maxBcast = Number(c[2]);
  }
  return facts;
}

describe('--status file formats against OpenVPN 2.6 (netns)', {
  skip: openvpnLabSkip(),
  timeout: 180_000,
}, () => {
  let ol: OpenvpnLab;
  let work: string;
  const clients: ClientProcess[] = [];
  let title: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), `${PREFIX}-status-`));
    const ccd = join(work, 'ccd');
    mkdirSync(ccd);
    writeFileSync(
      join(ccd, A.cn),
      [
        `ifconfig-push ${A.v4} 255.255.255.0`,
        `ifconfig-ipv6-push ${A.v6}/64`,
        'iroute 10.99.0.0 255.255.255.0',
        'iroute-ipv6 fd99::/64',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(ccd, B.cn),
      [`ifconfig-push ${B.v4} 255.255.255.0`, `ifconfig-ipv6-push ${B.v6}/64`, ''].join('\n'),
    );
    writeFileSync(join(work, 'up.txt'), 'alice\nnot-a-real-secret\n', { mode: 0o600 });
    // `openvpn --version` exits 1 after printing; its first line is 2.6's title_string
    let version = '';
    try {
      version = execFileSync('openvpn', ['--version'], { encoding: 'utf8' });
    } catch (e) {
      version = String((e as { stdout?: string }).stdout ?? '');
    }
    title = version.split('\n')[0];
    assert.match(title, /^OpenVPN 2\.6\./);
    ol = await startOpenvpnLab(PREFIX, {
      serverArgs: [
        // a dual-stack socket (2.6 sets IPV6_V6ONLY=0): IPv4 clients arrive as ::ffff:a.b.c.d
        '--proto',
        'udp6',
        '--server-ipv6',
        'fd98::/64',
        '--client-config-dir',
        ccd,
        '--route',
        '10.99.0.0',
        '255.255.255.0',
        '--route-ipv6',
        'fd99::/64',
        '--script-security',
        '2',
        '--auth-user-pass-verify',
        '/bin/true',
        'via-env',
        '--auth-user-pass-optional',
        '--status',
        join(work, 'status-1.txt'),
        '1',
        '--status-version',
        '1',
      ],
    });
    ol.lab.exec(ol.nsS, 'ip', ['addr', 'add', `${SERVER_LINK6}/64`, 'dev', `${PREFIX}a`, 'nodad']);
    ol.lab.exec(ol.nsC, 'ip', ['addr', 'add', `${CLIENT_LINK6}/64`, 'dev', `${PREFIX}b`, 'nodad']);
    // a second client certificate, signed by the lab's CA
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: ol.dir, stdio: 'pipe' });
    ossl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'client2.key',
      '-out',
      'client2.csr',
      '-subj',
      `/CN=${B.cn}`,
    );
    ossl(
      'x509',
      '-req',
      '-in',
      'client2.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'client2.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
      '-extensions',
      'cli',
    );
  });

  after(async () => {
    for (const c of clients) await stopClient(c);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  /** Starts a stock client and waits for its tunnel. */
  const connect = async (f: ClientFacts): Promise<void> => {
    const name = f === A ? 'client' : 'client2';
    const args = [
      '--client',
      '--dev',
      'tun',
      '--proto',
      f === A ? 'udp4' : 'udp6',
      '--remote',
      f === A ? SERVER_LINK : SERVER_LINK6,
      '1194',
      '--lport',
      String(f.real.port),
      '--ca',
      join(ol.dir, 'ca.crt'),
      '--cert',
      join(ol.dir, `${name}.crt`),
      '--key',
      join(ol.dir, `${name}.key`),
      '--remote-cert-tls',
      'server',
      '--data-ciphers',
      f.cipher,
      '--verb',
      '3',
      ...(f.username !== undefined ? ['--auth-user-pass', join(work, 'up.txt')] : []),
    ];
    const c = ol.spawnClient(args, 'openvpn');
    clients.push(c);
    await c.waitFor((l) => l.includes('Initialization Sequence Completed'), 25_000, `${f.cn}'s tunnel`, 0);
  };

  /** A complete status file (read twice, identical, ending in END) that `ready` accepts. */
  const settledStatus = async (
    path: string,
    ready: (text: string) => boolean,
    ms: number,
  ): Promise<string> => {
    const until = Date.now() + ms;
    let last = '';
    while (Date.now() < until) {
      try {
        last = readFileSync(path, 'utf8');
        await new Promise((r) => setTimeout(r, 150));
        if (last.endsWith('END\n') && ready(last) && readFileSync(path, 'utf8') === last) return last;
      } catch {
        // not yet created
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.fail(`the status file ${path} never became ready; last content:\n${last}`);
  };

  const runVersion = async (version: StatusVersion): Promise<void> => {
    const path = join(work, `status-${version}.txt`);
    if (version !== 1) {
      for (const c of clients.splice(0)) await stopClient(c);
      await ol.restartServer(15_000, ['--status', path, '1', '--status-version', String(version)]);
    }
    const t0 = Math.floor(Date.now() / 1000);
    await connect(A);
    await connect(B);
    // traffic to hosts behind A's iroutes makes 2.6 cache host routes ("C")
    await ol.lab.run(ol.nsS, 'ping', ['-c', '1', '-W', '1', '10.99.0.5'], 10_000);
    await ol.lab.run(ol.nsS, 'ping', ['-6', '-c', '1', '-W', '1', 'fd99::5'], 10_000);
    const text = await settledStatus(
      path,
      (t) => {
        const keys = readFacts(t, version).routes.map((r) => r.key);
        return ROUTES.every((r) => keys.includes(r.key));
      },
      15_000,
    );
    const t1 = Math.ceil(Date.now() / 1000);
    const f = readFacts(text, version);

    const inWindow = (t: number, what: string) =>
      assert.ok(t >= t0 && t <= t1, `${what} ${t} not within [${t0}, ${t1}]:\n${text}`);
    inWindow(f.now, 'the update time');
    assert.deepEqual(
      f.clients.map((c) => c.cn).sort(),
      [A.cn, B.cn].sort(),
      `the client list holds both clients:\n${text}`,
    );
    assert.deepEqual(
      f.routes.map((r) => r.key).sort(),
      ROUTES.map((r) => r.key).sort(),
      `the routing table:\n${text}`,
    );
    assert.ok(Number.isInteger(f.maxBcast) && f.maxBcast >= 0, text);

    const byCn = new Map<string, StatusClient>();
    const statusClients = f.clients.map((fc) => {
      const facts = fc.cn === A.cn ? A : B;
      assert.ok(fc.rx > 0n && fc.tx > 0n, `${fc.cn} has traffic counted:\n${text}`);
      inWindow(fc.since, `${fc.cn}'s connected-since`);
      const c: StatusClient = {
        commonName: facts.cn,
        real: facts.real,
        virtualIpv4: facts.v4,
        virtualIpv6: facts.v6,
        bytesReceived: fc.rx,
        bytesSent: fc.tx,
        connectedSince: fc.since,
        username: facts.username,
        // a fresh server: A's instance is the first (management cid 0, peer id 0), B's the second
        clientId: facts === A ? 0 : 1,
        peerId: facts === A ? 0 : 1,
        cipher: facts.cipher,
      };
      byCn.set(facts.cn, c);
      return c;
    });
    const routes = f.routes.map((fr): StatusRoute => {
      const r = ROUTES.find((x) => x.key === fr.key)!;
      inWindow(fr.lastRef, `${fr.key}'s last reference`);
      return {
        address: r.address,
        prefix: r.prefix,
        cached: r.cached === true,
        client: byCn.get(r.owner.cn)!,
        lastRef: fr.lastRef,
      };
    });
    const snapshot: StatusSnapshot = {
      title,
      clients: statusClients,
      routes,
      maxBcastQueue: f.maxBcast,
      dcoEnabled: false,
    };
    assert.equal(formatStatus(snapshot, version, f.now), text);
  };

  it('version 1 (OpenVPN CLIENT LIST / ROUTING TABLE / GLOBAL STATS)', () => runVersion(1));
  it('version 2 (HEADER/CLIENT_LIST/ROUTING_TABLE/GLOBAL_STATS, commas)', () => runVersion(2));
  it('version 3 (the same, tab-separated)', () => runVersion(3));

  it('2.6 leaves the last status in place at exit, and never writes with `status FILE 0`', async () => {
    // what status-writer.ts does: close without a final write; no timer for 0 seconds
    const last = join(work, 'status-3.txt');
    await ol.killServer('SIGTERM');
    const left = readFileSync(last, 'utf8');
    assert.match(left, /^TITLE\t.*\nCLIENT_LIST\tss-client\t.*\nEND\n$/s, left);
    for (const c of clients.splice(0)) await stopClient(c);
    const never = join(work, 'status-0.txt');
    writeFileSync(never, 'old\n');
    await ol.restartServer(15_000, ['--status', never, '0']);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(readFileSync(never, 'utf8'), '');
  });
});
