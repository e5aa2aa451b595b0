/**
 * The per-client scripts of the ovpn-ts server with a stock 2.6 client: the client's ccd file and its
 * client-connect output file both apply (ccd first, then the script's: its ifconfig-push wins, the
 * pushes of both are sent, the script's iroute becomes a route on the tun); learn-address hears of the address when the client comes and goes;
 * client-disconnect runs when it leaves, with the bytes it moved and how long it stayed. The server's
 * own `up` and `down` run around its tun as 2.6 runs them; a failing `up` ends the server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LineWatcher } from '../openvpn/fixture.js';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';
import { envOf, fileLines, sleep, stopAll, waitForEnv, writeScript } from './script-helpers.js';

describe('ovpn-ts server: client-connect, client-disconnect, learn-address', {
  skip: serverLabSkip(),
}, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sw', 1);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('the ccd and the client-connect output shape the client; client-disconnect sees its bytes', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const ccd = join(s.dir, 'ccd');
    mkdirSync(ccd);
    // the ccd: a push and an address the script's output overrides
    writeFileSync(
      join(ccd, 'sw-c1'),
      'push "route 198.51.100.0 255.255.255.0"\nifconfig-push 10.70.0.40 255.255.255.0\n',
    );
    const cc = writeScript(join(s.dir, 'cc.sh'), [
      `/usr/bin/env > ${join(s.dir, 'cc.env')}`,
      'echo \'push "route 192.0.2.0 255.255.255.0"\' > "$1"',
      'echo "ifconfig-push 10.70.0.50 255.255.255.0" >> "$1"',
      'echo "iroute 203.0.113.0 255.255.255.0" >> "$1"',
      'exit 0',
    ]);
    const cd = writeScript(join(s.dir, 'cd.sh'), [`/usr/bin/env > ${join(s.dir, 'cd.env')}`, 'exit 0']);
    const laLog = join(s.dir, 'la.log');
    const la = writeScript(join(s.dir, 'la.sh'), [`echo "$1 $2 $3" >> ${laLog}`, 'exit 0']);
    const srv = await s.startServer({
      net: 70,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'swtun3',
      extra: [
        'script-security 2',
        `client-config-dir ${ccd}`,
        `client-connect ${cc}`,
        `client-disconnect ${cd}`,
        `learn-address ${la}`,
        'route 203.0.113.0 255.255.255.0',
      ],
    });
    ws.push(srv);
    const c1 = await s.startClient(1, 'udp', 1194, ['--explicit-exit-notify', '1']);
    ws.push(c1);
    const push = c1.out.find((l) => l.includes('PUSH: Received control message'));
    assert.ok(push !== undefined, c1.tail(30));
    assert.match(push, /route 198\.51\.100\.0 255\.255\.255\.0/, 'the ccd push');
    assert.match(push, /route 192\.0\.2\.0 255\.255\.255\.0/, "the script's push");
    assert.match(push, /ifconfig 10\.70\.0\.50 255\.255\.255\.0/, "the script's ifconfig-push wins");
    const addr = execFileSync('ip', ['-n', s.clientNs[0], '-4', 'addr', 'show'], { encoding: 'utf8' });
    assert.match(addr, /inet 10\.70\.0\.50\/24/);
    const routes = execFileSync('ip', ['-n', s.clientNs[0], 'route'], { encoding: 'utf8' });
    assert.match(routes, /192\.0\.2\.0\/24 via 10\.70\.0\.1/);
    assert.match(routes, /198\.51\.100\.0\/24 via 10\.70\.0\.1/);

    const ccEnv = envOf(fileLines(join(s.dir, 'cc.env')));
    assert.equal(ccEnv.get('script_type'), 'client-connect');
    assert.equal(ccEnv.get('common_name'), 'sw-c1');
    assert.equal(ccEnv.get('trusted_ip'), '10.76.1.2');
    // the ccd's address is what client-connect was told (2.6 selects it before the script)
    assert.equal(ccEnv.get('ifconfig_pool_remote_ip'), '10.70.0.40');
    assert.equal(ccEnv.get('IV_PROTO') !== undefined, true, 'peer-info variables');

    const r = await s.ping(s.clientNs[0], '10.70.0.1', 5);
    assert.equal(r.received, 5, r.out);
    assert.equal((await s.ping(s.nsS, '10.70.0.50')).received, 3);
    // the script's iroute is a route on the server's tun via the client's address, as a ccd's is
    const srvRoutes = execFileSync('ip', ['-n', s.nsS, 'route'], { encoding: 'utf8' });
    assert.match(srvRoutes, /^203\.0\.113\.0\/24 via 10\.70\.0\.50 dev swtun3 .*metric 100/m, srvRoutes);
    await sleep(1200);
    // an ifconfig-push takes no pool entry, so no pool IPv6 address either (2.6 multi_select_virtual_addr)
    assert.deepEqual(fileLines(laLog), ['add 10.70.0.50 sw-c1', 'add 203.0.113.0/24 sw-c1']);

    c1.child.kill('SIGTERM');
    await c1.waitExit(8000);
    await srv.waitFor((l) => l.includes('removed:'), 10_000, 'the client to be removed', 0);
    const cdEnv = await waitForEnv(join(s.dir, 'cd.env'));
    assert.equal(cdEnv.get('script_type'), 'client-disconnect');
    assert.equal(cdEnv.get('common_name'), 'sw-c1');
    assert.ok(Number(cdEnv.get('bytes_received')) > 5 * 84, `bytes_received ${cdEnv.get('bytes_received')}`);
    assert.ok(Number(cdEnv.get('bytes_sent')) > 5 * 84, `bytes_sent ${cdEnv.get('bytes_sent')}`);
    assert.ok(Number(cdEnv.get('time_duration')) >= 1, `time_duration ${cdEnv.get('time_duration')}`);
    await sleep(500);
    assert.deepEqual(fileLines(laLog), [
      'add 10.70.0.50 sw-c1',
      'add 203.0.113.0/24 sw-c1',
      'delete 10.70.0.50 sw-c1',
      'delete 203.0.113.0/24 sw-c1',
    ]);
    const gone = execFileSync('ip', ['-n', s.nsS, 'route'], { encoding: 'utf8' });
    assert.doesNotMatch(gone, /203\.0\.113\.0\/24 via/, 'the iroute goes with its client');
  });

  it('a failing client-connect refuses the client with AUTH_FAILED, and client-disconnect does not run for it', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const cc = writeScript(join(s.dir, 'cc-no.sh'), ['exit 1']);
    const cdLog = join(s.dir, 'cd-no.log');
    const cd = writeScript(join(s.dir, 'cd-no.sh'), [`echo "$common_name" >> ${cdLog}`, 'exit 0']);
    const srv = await s.startServer({
      net: 69,
      topology: 'subnet',
      proto: 'udp',
      port: 1195,
      dev: 'swtun4',
      extra: ['script-security 2', `client-connect ${cc}`, `client-disconnect ${cd}`],
    });
    ws.push(srv);
    const c1 = s.spawnClient(1, 'udp', 1195);
    ws.push(c1);
    await c1.waitFor(
      (l) => l.includes('AUTH: Received control message: AUTH_FAILED'),
      15_000,
      'AUTH_FAILED',
      0,
    );
    assert.notEqual(await c1.waitExit(8000), undefined, c1.tail(10));
    await srv.waitFor((l) => l.includes('removed:'), 10_000, 'the client to be removed', 0);
    await sleep(500);
    assert.deepEqual(fileLines(cdLog), [], 'no client-disconnect for a client client-connect refused');
  });
  it("the server's own up and down: up after the tun's address and before its routes, down once the tun is gone", async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const upLog = join(s.dir, 'up.log');
    const downLog = join(s.dir, 'down.log');
    // each records its arguments, its script_type and signal, and what the tun looked like then
    const record = (log: string) => [
      `echo "args $*" >> ${log}`,
      `echo "type $script_type signal \${signal:-none} redirect \${redirect_gateway:-unset}" >> ${log}`,
      `ip -4 addr show dev "$1" 2>/dev/null | grep -q 'inet 10.68.0.1/24' && echo "address yes" >> ${log} || echo "address no" >> ${log}`,
      `ip route show 198.18.0.0/24 | grep -q . && echo "route yes" >> ${log} || echo "route no" >> ${log}`,
      `ip link show dev "$1" >/dev/null 2>&1 && echo "device yes" >> ${log} || echo "device no" >> ${log}`,
      'exit 0',
    ];
    const up = writeScript(join(s.dir, 'up.sh'), record(upLog));
    const down = writeScript(join(s.dir, 'down.sh'), record(downLog));
    const srv = await s.startServer({
      net: 68,
      topology: 'subnet',
      proto: 'udp',
      port: 1196,
      dev: 'swtun5',
      extra: ['script-security 2', `up ${up}`, `down ${down}`, 'route 198.18.0.0 255.255.255.0'],
    });
    ws.push(srv);
    assert.deepEqual(fileLines(upLog), [
      'args swtun5 1500 0 10.68.0.1 255.255.255.0 init',
      'type up signal none redirect unset',
      'address yes',
      'route no',
      'device yes',
    ]);
    const routes = execFileSync('ip', ['-n', s.nsS, 'route'], { encoding: 'utf8' });
    assert.match(routes, /^198\.18\.0\.0\/24 dev swtun5 /m, 'the route came after up');
    assert.deepEqual(fileLines(downLog), [], 'down has not run yet');
    srv.child.kill('SIGTERM');
    assert.equal(await srv.waitExit(10_000), 0, srv.tail(20));
    assert.deepEqual(fileLines(downLog), [
      'args swtun5 1500 0 10.68.0.1 255.255.255.0 init',
      'type down signal sigterm redirect 0',
      'address no',
      'route no',
      'device no',
    ]);
  });

  it('a failing up script ends the server before it serves, naming the script', async (t) => {
    const ws: LineWatcher[] = [];
    t.after(() => stopAll(ws));
    const up = writeScript(join(s.dir, 'up-no.sh'), ['exit 3']);
    const srv = s.spawnServer({
      net: 67,
      topology: 'subnet',
      proto: 'udp',
      port: 1197,
      dev: 'swtun6',
      extra: ['script-security 2', `up ${up}`],
    });
    ws.push(srv);
    assert.notEqual(await srv.waitExit(10_000), 0, srv.tail(20));
    assert.ok(
      [...srv.out, ...srv.err].some((l) => l.includes(`up: the script failed: ${up}`)),
      srv.tail(20),
    );
    assert.throws(() => execFileSync('ip', ['-n', s.nsS, 'link', 'show', 'swtun6'], { stdio: 'pipe' }));
  });
});
