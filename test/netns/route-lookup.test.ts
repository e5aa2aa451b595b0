/**
 * RouteLookup against a real routing table, inside a namespace: direct routes answer the address,
 * gateway routes the gateway, missing or unusable routes nothing; answers are cached and the cache is
 * dropped when routes or addresses change. IPv4 and IPv6. The lookup runs in a child process in the
 * namespace (children/route-child.ts); routes are changed from here with `ip`.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import type { RouteLookupStats } from '../../src/routing/index.js';
import { RpcClient } from './children/rpc.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'children', 'route-child.js');
const IF = 'ovt1ra';

describe('RouteLookup (netns)', { skip: canUseNetns() ? false : 'needs root' }, () => {
  let lab: NetnsLab;
  let ns: string;
  let rpc: RpcClient;

  const ip = (...args: string[]): string => lab.exec(ns, 'ip', args);
  const nh4 = (dst: string): Promise<string> => rpc.call<string>('nh4', dst);
  const nh6 = (dst: string): Promise<string | null> => rpc.call<string | null>('nh6', dst);
  const stats = (): Promise<RouteLookupStats> => rpc.call<RouteLookupStats>('stats');
  /** Changes routes with `ip`, then gives the child's event loop time to see the notification. */
  const change = async (...args: string[]): Promise<void> => {
    ip(...args);
    await rpc.call('settle', 100);
  };

  before(async () => {
    lab = new NetnsLab('ovt1r');
    ns = lab.ns('a');
    const peer = lab.ns('b');
    lab.veth(ns, IF, ['10.77.1.1/24', 'fd77:1::1/64'], peer, 'ovt1rb', ['10.77.1.2/24', 'fd77:1::2/64']);
    rpc = new RpcClient(lab.spawn(ns, process.execPath, [script]));
    await rpc.ready();
    await rpc.call('open');
  });

  after(async () => {
    await rpc?.end();
    await lab?.cleanup();
    assert.deepEqual(lab?.leftovers() ?? [], []);
  });

  it('answers the destination itself on a direct route, then from the cache', async () => {
    const s0 = await stats();
    assert.equal(await nh4('10.77.1.9'), '10.77.1.9');
    assert.equal(await nh4('10.77.1.9'), '10.77.1.9');
    const s1 = await stats();
    assert.equal(s1.misses - s0.misses, 1);
    assert.equal(s1.hits - s0.hits, 1);
    assert.equal(await nh4('10.77.1.1'), '10.77.1.1', 'a local address');
    assert.equal(await nh4('127.0.0.1'), '127.0.0.1');
  });

  it('answers 0 without a route', async () => {
    assert.equal(await nh4('10.88.0.1'), '0.0.0.0');
    assert.equal(await nh4('10.88.0.1'), '0.0.0.0');
  });

  it('answers the gateway of a route via a gateway, following add, replace and del', async () => {
    const inv0 = (await stats()).invalidations;
    await change('route', 'add', '10.88.0.0/16', 'via', '10.77.1.2');
    assert.ok((await stats()).invalidations > inv0, 'the monitor dropped the cache');
    assert.equal(await nh4('10.88.0.1'), '10.77.1.2');
    assert.equal(await nh4('10.77.1.9'), '10.77.1.9', 'other answers are still right after the drop');
    await change('route', 'replace', '10.88.0.0/16', 'via', '10.77.1.3');
    assert.equal(await nh4('10.88.0.1'), '10.77.1.3');
    await change('route', 'del', '10.88.0.0/16');
    assert.equal(await nh4('10.88.0.1'), '0.0.0.0');
  });

  it('uses the default route and the longest prefix', async () => {
    await change('route', 'add', 'default', 'via', '10.77.1.2');
    await change('route', 'add', '10.88.5.0/24', 'via', '10.77.1.4');
    assert.equal(await nh4('10.88.0.1'), '10.77.1.2');
    assert.equal(await nh4('10.88.5.7'), '10.77.1.4');
    await change('route', 'del', '10.88.5.0/24');
    assert.equal(await nh4('10.88.5.7'), '10.77.1.2');
    await change('route', 'del', 'default');
    assert.equal(await nh4('10.88.5.7'), '0.0.0.0');
  });

  it('treats unreachable, blackhole and prohibit routes as no route', async () => {
    await change('route', 'add', 'unreachable', '10.89.0.0/16');
    await change('route', 'add', 'blackhole', '10.90.0.0/16');
    await change('route', 'add', 'prohibit', '10.91.0.0/16');
    for (const a of ['10.89.0.1', '10.90.0.1', '10.91.0.1']) assert.equal(await nh4(a), '0.0.0.0', a);
  });

  it('drops the cache when an address (and its prefix route) goes away', async () => {
    await change('addr', 'add', '10.92.0.1/24', 'dev', IF);
    assert.equal(await nh4('10.92.0.5'), '10.92.0.5');
    await change('addr', 'del', '10.92.0.1/24', 'dev', IF);
    assert.equal(await nh4('10.92.0.5'), '0.0.0.0');
  });

  it('looks up IPv6: direct, gateway, none, unusable', async () => {
    assert.equal(await nh6('fd77:1::9'), 'fd77:1::9');
    assert.equal(await nh6('fd88::1'), null);
    await change('-6', 'route', 'add', 'fd88::/32', 'via', 'fd77:1::2');
    assert.equal(await nh6('fd88::1'), 'fd77:1::2');
    assert.equal(await rpc.call('nh6InPlace', 'fd88::1'), 'fd77:1::2');
    assert.equal(await nh6('fd88::1'), 'fd77:1::2', 'a cache hit answers the same');
    await change('-6', 'route', 'replace', 'fd88::/32', 'via', 'fd77:1::3');
    assert.equal(await nh6('fd88::1'), 'fd77:1::3');
    await change('-6', 'route', 'del', 'fd88::/32');
    assert.equal(await nh6('fd88::1'), null);
    await change('-6', 'route', 'add', 'blackhole', 'fd89::/32');
    await change('-6', 'route', 'add', 'unreachable', 'fd8a::/32');
    assert.equal(await nh6('fd89::1'), null);
    assert.equal(await nh6('fd8a::1'), null);
  });

  it('answers hits from the cache without asking the kernel', async () => {
    await nh4('10.77.1.9');
    await nh6('fd77:1::9');
    const s0 = await stats();
    assert.equal(await rpc.call<number>('repeat', '10.77.1.9', 'fd77:1::9', 1000), 2000);
    const s1 = await stats();
    assert.equal(s1.misses, s0.misses);
    assert.equal(s1.failures, 0);
  });

  it('keeps the cache within maxEntries', async () => {
    await rpc.call('close');
    await rpc.call('open', 4);
    for (let i = 1; i <= 10; i++) assert.equal(await nh4(`10.77.1.${i + 20}`), `10.77.1.${i + 20}`);
    for (let i = 1; i <= 10; i++) assert.equal(await nh6(`fd77:1::${i + 20}`), `fd77:1::${i + 20}`);
    const s = await stats();
    // a full cache is emptied before the next answer goes in: 10 answers into 4 places leave 2
    assert.equal(s.entries4, 2, 'entries4');
    assert.equal(s.entries6, 2, 'entries6');
    assert.equal(await nh4('10.77.1.30'), '10.77.1.30', 'the newest answer is cached');
    assert.equal((await stats()).hits, s.hits + 1);
  });

  it('close is idempotent; lookups after close answer no route', async () => {
    assert.deepEqual(await rpc.call('close'), { after4: 0 });
  });
});
