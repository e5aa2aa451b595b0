import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FileRef } from '../../../../src/config/client-options.js';
import type { ClientConfig } from '../../../../src/config/server-options.js';
import { reserveStaticAddresses, selectVpnAddresses } from '../../../../src/openvpn/server/address-select.js';
import { emptyClientConfig, parseClientConfig } from '../../../../src/openvpn/server/ccd.js';
import { mergeClientConfigs } from '../../../../src/openvpn/server/client-auth.js';
import {
  type CcdFs,
  ClientConfigDir,
  DISABLE_REFUSAL,
  disabledRefusal,
} from '../../../../src/openvpn/server/client-config-dir.js';
import { IfconfigPool, type PoolLease } from '../../../../src/openvpn/server/ifconfig-pool.js';
import { startPoolPersist } from '../../../../src/openvpn/server/pool-persist-file.js';
import type { ServerAddressing } from '../../../../src/openvpn/server/push-list.js';
import type { ClientRecord } from '../../../../src/openvpn/server/server-client.js';
import { realAddress, ServerStatus } from '../../../../src/openvpn/server/server-status.js';

function memFs(files: Record<string, string>): CcdFs {
  return {
    readable: (p) => p in files,
    read: (p) => {
      const t = files[p];
      if (t === undefined) throw new Error(`ENOENT ${p}`);
      return t;
    },
    list: (dir) =>
      Object.keys(files)
        .filter((p) => p.startsWith(`${dir}/`))
        .map((p) => p.slice(dir.length + 1)),
  };
}

const subnet: ServerAddressing = {
  topology: 'subnet',
  subnetNetmask: '255.255.255.0',
  serverLocal: '10.8.0.1',
  serverIpv6: { address: 'fd08::1', prefix: 64 },
};

describe('client-config-dir at run time', () => {
  it('reads the CN file, else DEFAULT, logging bad lines with file:line and applying the rest', () => {
    const logs: string[] = [];
    const ccd = new ClientConfigDir(
      '/ccd',
      false,
      'fd08::1',
      (m) => logs.push(m),
      memFs({
        '/ccd/alice': 'route 1.2.3.0 255.255.255.0\npush "dhcp-option DNS 1.1.1.1"\n',
        '/ccd/DEFAULT': 'push "x"\n',
      }),
    );
    const a = ccd.forClient('alice');
    assert.ok('config' in a);
    assert.equal(a.file, '/ccd/alice');
    assert.deepEqual(a.config?.push, ['dhcp-option DNS 1.1.1.1']);
    assert.equal(logs[0], 'OPTIONS IMPORT: reading client specific options from: /ccd/alice');
    assert.match(logs[1], /^Options error: \/ccd\/alice:1: route: option cannot be used/);
    const b = ccd.forClient('bob');
    assert.ok('config' in b);
    assert.equal(b.file, '/ccd/DEFAULT');
    assert.deepEqual(b.config?.push, ['x']);
  });

  it('no file: no config; ccd-exclusive refuses a name without its own file (DEFAULT does not count)', () => {
    const logs: string[] = [];
    const fs = memFs({ '/ccd/DEFAULT': 'push "x"\n', '/ccd/alice': '' });
    assert.deepEqual(new ClientConfigDir('/ccd', false, undefined, () => {}, memFs({})).forClient('bob'), {
      config: undefined,
      file: undefined,
    });
    const ex = new ClientConfigDir('/ccd', true, undefined, (m) => logs.push(m), fs);
    const r = ex.forClient('bob');
    assert.deepEqual(r, {
      refuse:
        "TLS Auth Error: --client-config-dir authentication failed for common name 'bob' file='/ccd/bob'",
    });
    assert.ok('config' in ex.forClient('alice'));
  });

  it('disable refuses in 2.6 words', () => {
    assert.equal(disabledRefusal(parseClientConfig('disable\n', 'f')), DISABLE_REFUSAL);
    assert.equal(disabledRefusal(parseClientConfig('push "x"\n', 'f')), undefined);
    assert.equal(disabledRefusal(undefined), undefined);
  });

  it('staticAddresses lists every pushed address of the directory', () => {
    const ccd = new ClientConfigDir(
      '/ccd',
      false,
      'fd08::1',
      () => {},
      memFs({
        '/ccd/a': 'ifconfig-push 10.8.0.50 255.255.255.0\nifconfig-ipv6-push fd08::50/64\n',
        '/ccd/b': 'iroute 10.9.0.0 255.255.255.0\n',
        '/ccd/c': 'ifconfig-push 10.8.0.60 255.255.255.0\n',
      }),
    );
    assert.deepEqual(ccd.staticAddresses().sort(), ['10.8.0.50', '10.8.0.60', 'fd08::50']);
  });
});

describe('mergeClientConfigs: a client-connect output after the ccd', () => {
  const ccd = parseClientConfig(
    'ifconfig-push 10.8.0.5 255.255.255.0\niroute 10.9.0.0 255.255.255.0\npush "route 10.1.0.0 255.255.0.0"\npush "dhcp-option DNS 1.1.1.1"\n',
    'ccd/a',
  );

  it('later addresses win, iroutes and pushes add up, push-remove acts on the ccd pushes', () => {
    const out = parseClientConfig(
      'ifconfig-push 10.8.0.7 255.255.255.0\niroute 10.10.0.0 255.255.255.0\npush-remove route\npush "route 10.2.0.0 255.255.0.0"\n',
      'cc-out',
    );
    const m = mergeClientConfigs(ccd, out);
    assert.equal(m.ifconfigPush?.local, '10.8.0.7');
    assert.deepEqual(
      m.iroutes.map((r) => r.address),
      ['10.9.0.0', '10.10.0.0'],
    );
    assert.deepEqual(m.push, ['dhcp-option DNS 1.1.1.1', 'route 10.2.0.0 255.255.0.0']);
    assert.deepEqual(m.pushRemove, ['route']);
    assert.equal(m.pushReset, false);
  });

  it('push-reset in the output drops the ccd pushes; disable from either side sticks', () => {
    const out = parseClientConfig('push-reset\npush "y"\ndisable\n', 'cc-out');
    const m = mergeClientConfigs(ccd, out);
    assert.deepEqual(m.push, ['y']);
    assert.equal(m.pushReset, true);
    assert.equal(m.disable, true);
    assert.equal(m.ifconfigPush?.local, '10.8.0.5');
    const alone: ClientConfig = mergeClientConfigs(emptyClientConfig(), parseClientConfig('push "z"\n', 'o'));
    assert.deepEqual(alone.push, ['z']);
  });
});

describe('selectVpnAddresses', () => {
  const newPool = () =>
    new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.8.0.2', end: '10.8.0.4' },
      ipv6: { base: 'fd08::1000', bits: 64 },
      duplicateCn: false,
    });

  it('a pool lease by name; an ifconfig-push address reserved so the pool skips it', () => {
    const pool = newPool();
    const logs: string[] = [];
    reserveStaticAddresses(pool, ['10.8.0.2', '192.0.2.1'], (m) => logs.push(m));
    assert.equal(logs.length, 1);
    const dyn = selectVpnAddresses({
      pool,
      addressing: subnet,
      commonName: 'bob',
      config: undefined,
      others: [],
      log: () => {},
    });
    assert.ok('lease' in dyn);
    assert.equal(dyn.addresses.ifconfig?.local, '10.8.0.3');
    assert.equal(dyn.addresses.ifconfigIpv6?.local, 'fd08::1001');
    const cfg = parseClientConfig('ifconfig-push 10.8.0.2 255.255.255.0\n', 'ccd/alice');
    const stat = selectVpnAddresses({
      pool,
      addressing: subnet,
      commonName: 'alice',
      config: cfg,
      others: [dyn.addresses],
      log: (m) => logs.push(m),
    });
    assert.ok('lease' in stat);
    assert.equal(stat.lease, undefined);
    assert.deepEqual(stat.addresses.ifconfig, { local: '10.8.0.2', remoteNetmask: '255.255.255.0' });
    assert.equal(stat.addresses.ifconfigIpv6, undefined);
    assert.match(logs.at(-1) ?? '', /^MULTI_sva: WARNING: if --ifconfig-push is used for IPv4/);
  });

  it('a pushed address another client has refuses the newcomer; an empty pool refuses', () => {
    const pool = newPool();
    const a = selectVpnAddresses({
      pool,
      addressing: subnet,
      commonName: 'a',
      config: undefined,
      others: [],
      log: () => {},
    });
    assert.ok('lease' in a);
    const clash = parseClientConfig(`ifconfig-push ${a.addresses.ifconfig?.local} 255.255.255.0\n`, 'ccd/b');
    const r = selectVpnAddresses({
      pool,
      addressing: subnet,
      commonName: 'b',
      config: clash,
      others: [a.addresses],
      log: () => {},
    });
    assert.deepEqual(r, { refuse: 'ifconfig-push address 10.8.0.2 is in use by another client' });
    for (const cn of ['c', 'd'])
      selectVpnAddresses({
        pool,
        addressing: subnet,
        commonName: cn,
        config: undefined,
        others: [],
        log: () => {},
      });
    const logs: string[] = [];
    const full = selectVpnAddresses({
      pool,
      addressing: subnet,
      commonName: 'e',
      config: undefined,
      others: [],
      log: (m) => logs.push(m),
    });
    assert.deepEqual(full, { refuse: 'no free address in the pool' });
    assert.deepEqual(logs, ['MULTI: no free --ifconfig-pool addresses are available']);
  });
});

describe('selectVpnAddresses again after client-connect', () => {
  it('keeps the entry it has, or releases it hard when an ifconfig-push now gives the address', () => {
    const pool = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.8.0.2', end: '10.8.0.3' },
      duplicateCn: false,
    });
    const sel = (config: ClientConfig | undefined, previous?: PoolLease) =>
      selectVpnAddresses({
        pool,
        addressing: subnet,
        commonName: 'a',
        config,
        others: [],
        log: () => {},
        previous,
      });
    const first = sel(undefined);
    assert.ok('lease' in first && first.lease !== undefined);
    const again = sel(parseClientConfig('push "x"\n', 'cc-out'), first.lease);
    assert.ok('lease' in again);
    assert.equal(again.lease, first.lease);
    assert.equal(pool.freeCount(), 1);
    const pushed = sel(parseClientConfig('ifconfig-push 10.8.0.9 255.255.255.0\n', 'cc-out'), first.lease);
    assert.ok('lease' in pushed);
    assert.equal(pushed.lease, undefined);
    assert.equal(pushed.addresses.ifconfig?.local, '10.8.0.9');
    assert.equal(pool.freeCount(), 2);
    // released hard: the name is forgotten
    assert.equal(pool.entries()[0].commonName, undefined);
  });
});

describe('the status snapshot', () => {
  it('lists every client with link counters; the VPN addresses and iroutes of those up as routes', () => {
    const rec = (peerId: number, cn: string, up: boolean): ClientRecord => ({
      peerId,
      realAddress: peerId === 1 ? '[::ffff:10.76.1.2]:4000' : '[fd00::2]:5000',
      proto: 'udp',
      commonName: cn,
      username: undefined,
      vpn: {
        ifconfig: { local: `10.8.0.${peerId + 1}`, remoteNetmask: '255.255.255.0' },
        ifconfigIpv6: undefined,
      },
      cipher: 'AES-256-GCM',
      peerInfo: undefined,
      createdMs: 1_699_999_999_000 + peerId * 1000,
      connectedSinceMs: up ? 1_700_000_000_000 : undefined,
      clientId: 10 + peerId,
    });
    const records = [rec(1, 'b', true), rec(0, 'a', true), rec(2, 'c', false)];
    const st = new ServerStatus({
      records: () => records,
      counters: (id) => ({ 'link-rx-bytes': 100 + id, 'link-tx-bytes': 200n }) as never,
      routesOf: (id) =>
        id === 1
          ? [{ family: 4, dst: '10.9.0.0', prefix: 24, via: '10.8.0.2', metric: 100, iroute: true }]
          : [],
    });
    const s = st.snapshot();
    assert.deepEqual(
      s.clients.map((c) => [
        c.commonName,
        c.real.address,
        c.real.port,
        c.bytesReceived,
        c.bytesSent,
        c.clientId,
        c.connectedSince,
      ]),
      [
        ['a', 'fd00::2', 5000, 100, 200n, 10, 1_699_999_999],
        ['b', '::ffff:10.76.1.2', 4000, 101, 200n, 11, 1_700_000_000],
        ['c', 'fd00::2', 5000, 102, 200n, 12, 1_700_000_001],
      ],
    );
    assert.deepEqual(
      s.routes.map(
        (r) => `${r.address}${r.prefix === undefined ? '' : `/${r.prefix}`} ${r.client.commonName}`,
      ),
      ['10.8.0.1 a', '10.8.0.2 b', '10.9.0.0/24 b'],
    );
    assert.equal(s.dcoEnabled, true);
    assert.match(s.title, /^ovpn-ts /);
    assert.deepEqual(realAddress('10.0.0.1:99'), { address: '10.0.0.1', port: 99 });
  });
});

describe('the ifconfig-pool-persist file', () => {
  const ref = (dir: string): FileRef & { kind: 'path' } =>
    ({ kind: 'path', path: 'ipp.txt', dir }) as FileRef & {
      kind: 'path';
    };

  it('is read into the pool at start and written at close, mode 0600, in place', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-ipp-'));
    try {
      const path = join(dir, 'ipp.txt');
      writeFileSync(path, '# kept\nbob,10.8.0.3,\nbad,10.9.9.9,\n');
      const pool = new IfconfigPool({
        ipv4: { type: 'indiv', start: '10.8.0.2', end: '10.8.0.4' },
        duplicateCn: false,
      });
      const logs: string[] = [];
      const task = startPoolPersist({ poolPersist: { ref: ref(dir), seconds: 600 } }, pool, (m) =>
        logs.push(m),
      );
      assert.ok(task);
      assert.ok(logs.includes("ifconfig_pool_read(), in='bob,10.8.0.3,'"));
      assert.ok(logs.some((l) => l.includes('out of pool range for CN=bad')));
      assert.equal(pool.acquire('bob')?.ipv4, '10.8.0.3');
      assert.equal(pool.acquire('carol')?.ipv4, '10.8.0.2');
      task.close();
      assert.equal(readFileSync(path, 'utf8'), 'carol,10.8.0.2,\nbob,10.8.0.3,\n');
      task.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('seconds 0: read only, entries fixed, never written; a missing file is created only when writable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-ipp-'));
    try {
      const path = join(dir, 'ipp.txt');
      const logs: string[] = [];
      const pool = new IfconfigPool({
        ipv4: { type: 'indiv', start: '10.8.0.2', end: '10.8.0.4' },
        duplicateCn: false,
      });
      startPoolPersist({ poolPersist: { ref: ref(dir), seconds: 0 } }, pool, (m) => logs.push(m))?.close();
      assert.match(logs[0], /^Note: cannot open .*ipp\.txt for READ/);
      writeFileSync(path, 'bob,10.8.0.2,\n');
      const task = startPoolPersist({ poolPersist: { ref: ref(dir), seconds: 0 } }, pool, () => {});
      assert.equal(pool.acquire('carol')?.ipv4, '10.8.0.3');
      task?.close();
      assert.equal(readFileSync(path, 'utf8'), 'bob,10.8.0.2,\n');
      rmSync(path);
      startPoolPersist({ poolPersist: { ref: ref(dir), seconds: 5 } }, pool, () => {})?.close();
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
