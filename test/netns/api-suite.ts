/**
 * The netlink-equivalent API as a client sees it inside a namespace: every precheck and error code of
 * spec ovpn-kernel §2.4, the replies of peer-get/key-get, and the notifications of device teardown and
 * P2P replacement. Table-driven: one case per refusal. Run through each management front end: the
 * stdio agent (api.test.ts) and the ovpnd daemon (api-ovpnd.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const KEY = { 'cipher-key': '11'.repeat(32), 'nonce-tail': '22'.repeat(8) };

async function refused(p: Promise<unknown>, code: string, attr?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const reply = (e as { reply?: { code: string; 'bad-attr'?: string } }).reply;
    assert.ok(reply !== undefined, String(e));
    assert.equal(reply.code, code, String(e));
    if (attr !== undefined) assert.equal(reply['bad-attr'], attr, String(e));
    return true;
  });
}

/** What the suite needs of a front end: requests, the notifications it got, and a UDP socket. */
export interface ApiTestClient {
  request<T = unknown>(op: string, msg?: unknown, dump?: boolean): Promise<T>;
  readonly notifications: ({ name: string; msg: Record<string, unknown> } | undefined)[];
  waitFor(pred: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** A UDP socket in the namespace, as the number to give in `socket`. */
  udpSocket(family: 4 | 6, port: number): Promise<number>;
  close(): Promise<void>;
}

export function apiSuite(
  frontEnd: string,
  prefix: string,
  connect: (netns: string) => Promise<ApiTestClient>,
): void {
  describe(`management API through ${frontEnd}: validation order and error codes`, { skip }, () => {
    const lab = new NetnsLab(prefix);
    let a: ApiTestClient;
    let mp: number;
    let p2p: number;
    let fd: number;
    let fd2: number;

    before(async () => {
      const ns = lab.ns('a');
      a = await connect(ns);
      mp = (await a.request<{ ifindex: number }>('dev-new', { ifname: 'mp0', mode: 'mp' })).ifindex;
      p2p = (await a.request<{ ifindex: number }>('dev-new', { ifname: 'p2p0', mode: 'p2p' })).ifindex;
      fd = await a.udpSocket(6, 1194);
      fd2 = await a.udpSocket(4, 1195);
    });
    after(async () => {
      await a?.close();
      await lab.cleanup();
    });

    const peer = (extra: Record<string, unknown> = {}) => ({
      id: 1,
      socket: fd,
      'remote-ipv4': '10.0.0.2',
      'remote-port': 1194,
      'vpn-ipv4': '5.5.5.2',
      ...extra,
    });

    it('resolves ifindex like the kernel: missing EINVAL, unknown ENODEV, not ovpn EINVAL', async () => {
      await refused(a.request('peer-get', { peer: { id: 1 } }), 'EINVAL', 'ifindex');
      await refused(a.request('peer-get', { ifindex: 999, peer: { id: 1 } }), 'ENODEV', 'ifindex');
      await refused(a.request('peer-get', { ifindex: 1, peer: { id: 1 } }), 'EINVAL', 'ifindex'); // lo
    });

    it('rejects attributes outside the operation input set', async () => {
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ 'local-port': 5 }) }),
        'EINVAL',
        'local-port',
      );
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ 'vpn-rx-bytes': 5 }) }),
        'EINVAL',
        'vpn-rx-bytes',
      );
      await refused(a.request('peer-set', { ifindex: mp, peer: { id: 1, socket: fd } }), 'EINVAL', 'socket');
      await refused(a.request('peer-get', { ifindex: mp, peer: { id: 1, 'tx-id': 2 } }), 'EINVAL', 'tx-id');
      await refused(
        a.request('peer-del', { ifindex: mp, peer: { id: 1, 'remote-port': 2 } }),
        'EINVAL',
        'remote-port',
      );
      await refused(
        a.request('key-get', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 0, 'key-id': 1 } }),
        'EINVAL',
        'key-id',
      );
      await refused(
        a.request('key-swap', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 0 } }),
        'EINVAL',
        'slot',
      );
      await refused(a.request('peer-new', { ifindex: mp, keyconf: {} }), 'EINVAL', 'keyconf');
      await refused(a.request('peer-new', { ifindex: mp, peer: peer({ bogus: 1 }) }), 'EINVAL', 'bogus');
    });

    it('checks types and ranges (ERANGE for out-of-range values and lengths)', async () => {
      await refused(a.request('peer-new', { ifindex: mp, peer: peer({ id: 0x1000000 }) }), 'ERANGE', 'id');
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ 'tx-id': 0x1000000 }) }),
        'ERANGE',
        'tx-id',
      );
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ 'remote-port': 0 }) }),
        'ERANGE',
        'remote-port',
      );
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ 'remote-ipv4': '10.0.0' }) }),
        'EINVAL',
        'remote-ipv4',
      );
      await refused(a.request('peer-new', { ifindex: mp, peer: peer({ id: 'x' }) }), 'EINVAL', 'id');
      const k = {
        'peer-id': 1,
        slot: 'primary',
        'key-id': 8,
        'cipher-alg': 'aes-gcm',
        'encrypt-dir': KEY,
        'decrypt-dir': KEY,
      };
      await refused(a.request('key-new', { ifindex: mp, keyconf: k }), 'ERANGE', 'key-id');
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'key-id': 0, slot: 2 } }),
        'ERANGE',
        'slot',
      );
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'key-id': 0, 'cipher-alg': 3 } }),
        'ERANGE',
        'cipher-alg',
      );
      const shortTail = { ...KEY, 'nonce-tail': '22'.repeat(7) };
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'key-id': 0, 'encrypt-dir': shortTail } }),
        'ERANGE',
        'nonce-tail',
      );
      const longKey = { ...KEY, 'cipher-key': '11'.repeat(257) };
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'key-id': 0, 'decrypt-dir': longKey } }),
        'ERANGE',
        'cipher-key',
      );
    });

    it('applies the peer prechecks in order', async () => {
      const cases: [Record<string, unknown>, string, number?][] = [
        [{ id: undefined }, 'id'],
        [{ 'remote-ipv6': 'fd00::2' }, 'remote-ipv6'],
        [{ 'remote-ipv4': undefined }, 'remote-port'],
        [{ 'remote-port': undefined }, 'remote-port'],
        [{ 'remote-ipv4': undefined, 'remote-port': undefined, 'local-ipv4': '10.0.0.1' }, 'local-ipv4'],
        [{ 'local-ipv6': 'fd00::1' }, 'local-ipv6'],
        [
          { 'remote-ipv4': undefined, 'remote-ipv6': 'fd00::2', 'local-ipv6': '::ffff:10.0.0.1' },
          'local-ipv6',
        ],
        [{ 'remote-ipv6-scope-id': 3 }, 'remote-ipv6-scope-id'],
        [
          { 'remote-ipv4': undefined, 'remote-ipv6': '::ffff:10.0.0.2', 'remote-ipv6-scope-id': 3 },
          'remote-ipv6-scope-id',
        ],
        [{ 'keepalive-interval': 10 }, 'keepalive-timeout'],
        [{ 'keepalive-timeout': 10 }, 'keepalive-timeout'],
        [{ socket: undefined }, 'socket'],
        [{ 'vpn-ipv4': undefined }, 'vpn-ipv4'],
        [{ 'vpn-ipv4': '0.0.0.0' }, 'vpn-ipv4'],
        [{ 'vpn-ipv4': '5.5.5.2' }, 'vpn-ipv4', p2p],
        [{ 'vpn-ipv4': undefined, 'vpn-ipv6': 'fd55::2' }, 'vpn-ipv6', p2p],
      ];
      for (const [change, attr, ifindex] of cases) {
        await refused(a.request('peer-new', { ifindex: ifindex ?? mp, peer: peer(change) }), 'EINVAL', attr);
      }
    });

    it('checks the socket: ENOTSOCK for a non-socket, EINVAL for a UDP peer without remote', async () => {
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ socket: 9999 }) }),
        'ENOTSOCK',
        'socket',
      );
      await refused(a.request('peer-new', { ifindex: mp, peer: peer({ socket: 0 }) }), 'ENOTSOCK', 'socket'); // stdin: a pipe
      await refused(
        a.request('peer-new', {
          ifindex: mp,
          peer: peer({ 'remote-ipv4': undefined, 'remote-port': undefined }),
        }),
        'EINVAL',
        'remote-ipv4',
      );
    });

    it('MP: duplicate id EEXIST, duplicate VPN address EADDRINUSE, shared socket, other device ENOTSOCK', async () => {
      await a.request('peer-new', { ifindex: mp, peer: peer() });
      await refused(
        a.request('peer-new', { ifindex: mp, peer: peer({ 'vpn-ipv4': '5.5.5.9' }) }),
        'EEXIST',
        'id',
      );
      await refused(a.request('peer-new', { ifindex: mp, peer: peer({ id: 2 }) }), 'EADDRINUSE', 'vpn-ipv4');
      await a.request('peer-new', {
        ifindex: mp,
        peer: peer({ id: 2, 'vpn-ipv4': '5.5.5.3', 'vpn-ipv6': 'fd55::3' }),
      });
      await refused(
        a.request('peer-new', {
          ifindex: mp,
          peer: peer({ id: 3, 'vpn-ipv4': '5.5.5.4', 'vpn-ipv6': 'fd55::3' }),
        }),
        'EADDRINUSE',
        'vpn-ipv6',
      );
      // the same UDP socket cannot serve a second device
      await refused(
        a.request('peer-new', { ifindex: p2p, peer: peer({ 'vpn-ipv4': undefined }) }),
        'ENOTSOCK',
        'socket',
      );
      const dump = await a.request<{ id: number; 'local-port': number }[]>('peer-get', { ifindex: mp }, true);
      assert.deepEqual(
        dump.map((p) => p.id),
        [1, 2],
      );
      assert.ok(dump.every((p) => p['local-port'] === 1194));
    });

    it('peer-get replies in the kernel shape; peer-set changes and re-checks; unknown ids ENOENT', async () => {
      const p = await a.request<Record<string, unknown>>('peer-get', { ifindex: mp, peer: { id: 1 } });
      assert.deepEqual(Object.keys(p).slice(0, 9), [
        'id',
        'tx-id',
        'vpn-ipv4',
        'keepalive-interval',
        'keepalive-timeout',
        'remote-ipv4',
        'remote-port',
        'local-ipv4',
        'local-port',
      ]);
      assert.equal(p['local-ipv4'], '0.0.0.0');
      await a.request('peer-set', {
        ifindex: mp,
        peer: {
          id: 1,
          'tx-id': 77,
          'keepalive-interval': 5,
          'keepalive-timeout': 30,
          'remote-ipv6': 'fd00::9',
          'remote-port': 7,
        },
      });
      const q = await a.request<Record<string, unknown>>('peer-get', { ifindex: mp, peer: { id: 1 } });
      assert.equal(q['tx-id'], 77);
      assert.equal(q['keepalive-timeout'], 30);
      assert.equal(q['remote-ipv6'], 'fd00::9');
      assert.equal(q['remote-ipv4'], undefined);
      await refused(
        a.request('peer-set', { ifindex: mp, peer: { id: 1, 'vpn-ipv4': '5.5.5.3' } }),
        'EADDRINUSE',
        'vpn-ipv4',
      );
      await refused(a.request('peer-set', { ifindex: mp, peer: { id: 42 } }), 'ENOENT', 'id');
      await refused(a.request('peer-get', { ifindex: mp, peer: { id: 42 } }), 'ENOENT', 'id');
      await refused(a.request('peer-del', { ifindex: mp, peer: { id: 42 } }), 'ENOENT', 'id');
    });

    it('keys: required attributes, cipher none, unknown peer before key length, empty slots', async () => {
      const k = {
        'peer-id': 1,
        slot: 'primary',
        'key-id': 0,
        'cipher-alg': 'aes-gcm',
        'encrypt-dir': KEY,
        'decrypt-dir': KEY,
      };
      for (const missing of ['peer-id', 'slot', 'key-id', 'cipher-alg', 'encrypt-dir', 'decrypt-dir']) {
        await refused(
          a.request('key-new', { ifindex: mp, keyconf: { ...k, [missing]: undefined } }),
          'EINVAL',
          missing,
        );
      }
      await refused(
        a.request('key-new', {
          ifindex: mp,
          keyconf: { ...k, 'encrypt-dir': { 'nonce-tail': KEY['nonce-tail'] } },
        }),
        'EINVAL',
        'cipher-key',
      );
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'cipher-alg': 'none' } }),
        'EINVAL',
        'cipher-alg',
      );
      const badLen = { ...KEY, 'cipher-key': '11'.repeat(20) };
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'peer-id': 9, 'encrypt-dir': badLen } }),
        'ENOENT',
        'peer-id',
      );
      await refused(
        a.request('key-new', { ifindex: mp, keyconf: { ...k, 'encrypt-dir': badLen } }),
        'EINVAL',
        'cipher-key',
      );
      await refused(
        a.request('key-get', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 'primary' } }),
        'ENOENT',
        'slot',
      );
      await a.request('key-new', { ifindex: mp, keyconf: k });
      await a.request('key-new', {
        ifindex: mp,
        keyconf: { ...k, slot: 'secondary', 'key-id': 1, 'cipher-alg': 'chacha20-poly1305' },
      });
      assert.deepEqual(
        await a.request('key-get', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 'secondary' } }),
        {
          'peer-id': 1,
          slot: 'secondary',
          'key-id': 1,
          'cipher-alg': 'chacha20-poly1305',
        },
      );
      await a.request('key-swap', { ifindex: mp, keyconf: { 'peer-id': 1 } });
      const prim = await a.request<{ 'key-id': number }>('key-get', {
        ifindex: mp,
        keyconf: { 'peer-id': 1, slot: 'primary' },
      });
      assert.equal(prim['key-id'], 1);
      await a.request('key-del', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 'secondary' } });
      await a.request('key-del', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 'secondary' } }); // empty: silent
      await refused(
        a.request('key-get', { ifindex: mp, keyconf: { 'peer-id': 1, slot: 'secondary' } }),
        'ENOENT',
        'slot',
      );
      await refused(a.request('key-swap', { ifindex: mp, keyconf: { 'peer-id': 5 } }), 'ENOENT', 'peer-id');
    });

    it('P2P: a new peer replaces the old one (teardown notification), carrier follows', async () => {
      const base = { socket: fd2, 'remote-ipv4': '10.0.0.2', 'remote-port': 1194 };
      await a.request('peer-new', { ifindex: p2p, peer: { id: 10, ...base } });
      await a.request('peer-new', { ifindex: p2p, peer: { id: 11, ...base } });
      await a.waitFor(() => a.notifications.some((n) => n?.msg.ifindex === p2p), 5000, 'peer-del-ntf');
      assert.deepEqual(
        a.notifications.filter((n) => n?.msg.ifindex === p2p),
        [{ name: 'peer-del-ntf', msg: { ifindex: p2p, peer: { 'del-reason': 'teardown', id: 10 } } }],
      );
      const dump = await a.request<{ id: number }[]>('peer-get', { ifindex: p2p }, true);
      assert.deepEqual(
        dump.map((p) => p.id),
        [11],
      );
    });

    it('devices: names are unique, deleting one tears its peers down with reason teardown', async () => {
      await refused(a.request('dev-new', { ifname: 'mp0', mode: 'mp' }), 'EEXIST', 'ifname');
      await refused(a.request('dev-new', { ifname: 'x'.repeat(16), mode: 'mp' }), 'ERANGE', 'ifname');
      await refused(a.request('dev-new', { ifname: 'bad', mode: 'star' }), 'EINVAL', 'mode');
      const before = a.notifications.length;
      await a.request('dev-del', { ifname: 'mp0' });
      await a.waitFor(() => a.notifications.length >= before + 2, 5000, 'teardown notifications');
      const ntf = a.notifications.slice(before).map((n) => n?.msg.peer);
      assert.deepEqual(ntf, [
        { 'del-reason': 'teardown', id: 1 },
        { 'del-reason': 'teardown', id: 2 },
      ]);
      await refused(a.request('peer-get', { ifindex: mp, peer: { id: 1 } }), 'ENODEV', 'ifindex');
    });
  });
}
