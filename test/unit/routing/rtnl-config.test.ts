/** rtnetlink requests for links, addresses and routes (rtnl-config.ts encoders; no sockets). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIPv4, parseIPv6 } from '../../../src/net/ip-address.js';
import { RTA_DST, RTA_GATEWAY, RTA_OIF, RTM_DELROUTE, RTM_NEWROUTE } from '../../../src/routing/rtnetlink.js';
import {
  decodeRoute,
  describeRoute,
  encodeAddr,
  encodeDumpRoutes,
  encodeGetRoute,
  encodeRoute,
  encodeSetLink,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_LOCAL,
  IFLA_MTU,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA_PRIORITY,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
} from '../../../src/routing/rtnl-config.js';

/** Attributes after a fixed header of `fixed` bytes: [type, payload hex]. */
function attrs(buf: Buffer, len: number, fixed: number): [number, string][] {
  const out: [number, string][] = [];
  for (let a = 16 + fixed; a < len; ) {
    const alen = buf.readUInt16LE(a);
    out.push([buf.readUInt16LE(a + 2), buf.subarray(a + 4, a + alen).toString('hex')]);
    a += (alen + 3) & ~3;
  }
  return out;
}

describe('rtnl-config encoders', () => {
  it('RTM_NEWLINK: up flag with its change mask, and IFLA_MTU', () => {
    const b = Buffer.alloc(256);
    const len = encodeSetLink(b, 7, 5, { up: true, mtu: 1400 });
    assert.equal(b.readUInt32LE(0), len);
    assert.equal(b.readUInt16LE(4), 16);
    assert.equal(b.readUInt16LE(6), 1 | NLM_F_ACK);
    assert.equal(b.readUInt32LE(8), 7);
    assert.equal(b.readInt32LE(20), 5);
    assert.equal(b.readUInt32LE(24), 1);
    assert.equal(b.readUInt32LE(28), 1);
    assert.deepEqual(attrs(b, len, 16), [[IFLA_MTU, '78050000']]);
    const l2 = encodeSetLink(b, 8, 5, { mtu: 1500 });
    assert.equal(b.readUInt32LE(28), 0, 'no flag change without `up`');
    assert.equal(l2, 16 + 16 + 8);
  });

  it('RTM_NEWADDR: a point-to-point IPv4 address, and IPv6 with NODAD', () => {
    const b = Buffer.alloc(256);
    let len = encodeAddr(b, 1, 'add', 9, parseIPv4('10.8.0.6'), 32, parseIPv4('10.8.0.5'));
    assert.equal(b.readUInt16LE(6), 1 | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
    assert.deepEqual([b[16], b[17], b.readUInt32LE(20)], [2, 32, 9]);
    assert.deepEqual(attrs(b, len, 8), [
      [IFA_LOCAL, '0a080006'],
      [IFA_ADDRESS, '0a080005'],
    ]);
    len = encodeAddr(b, 2, 'add', 9, parseIPv6('fd00::2'), 64);
    assert.deepEqual([b[16], b[17]], [10, 64]);
    const a = attrs(b, len, 8);
    assert.equal(a.length, 3);
    assert.deepEqual(a[2], [IFA_FLAGS, '02000000']);
  });

  it('RTM_NEWROUTE: exclusive create in the main table, gateway, oif, metric; on-link is scope link', () => {
    const b = Buffer.alloc(256);
    const len = encodeRoute(b, 3, 'add', {
      dst: parseIPv4('10.99.1.0'),
      prefixLen: 24,
      gateway: parseIPv4('10.98.0.1'),
      oif: 4,
      metric: 7,
    });
    assert.equal(b.readUInt16LE(4), RTM_NEWROUTE);
    assert.equal(b.readUInt16LE(6), 1 | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    assert.deepEqual(
      [...b.subarray(16, 24)],
      [2, 24, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, 1],
    );
    assert.deepEqual(attrs(b, len, 12), [
      [RTA_DST, '0a630100'],
      [RTA_GATEWAY, '0a620001'],
      [RTA_OIF, '04000000'],
      [RTA_PRIORITY, '07000000'],
    ]);
    assert.equal(b.readUInt32LE(24), 0, 'no rtm_flags');
    encodeRoute(b, 4, 'add', { dst: parseIPv6('fd99::'), prefixLen: 64, oif: 4 });
    assert.equal(b[22], RT_SCOPE_LINK);
    // an on-link gateway (a server's iroute via a client address): rtm_flags RTNH_F_ONLINK
    encodeRoute(b, 5, 'add', {
      dst: parseIPv4('192.168.7.0'),
      prefixLen: 24,
      gateway: parseIPv4('10.8.0.6'),
      oif: 4,
      metric: 100,
      onlink: true,
    });
    assert.equal(b.readUInt32LE(24), RTNH_F_ONLINK);
    assert.equal(b[22], RT_SCOPE_UNIVERSE);
  });

  it('RTM_DELROUTE: scope nowhere, no create flags', () => {
    const b = Buffer.alloc(256);
    encodeRoute(b, 5, 'del', { dst: parseIPv4('0.0.0.0'), prefixLen: 1, gateway: parseIPv4('10.98.0.1') });
    assert.equal(b.readUInt16LE(4), RTM_DELROUTE);
    assert.equal(b.readUInt16LE(6), 1 | NLM_F_ACK);
    assert.equal(b[22], RT_SCOPE_NOWHERE);
  });

  it('RTM_GETROUTE for one address and a dump; decodeRoute reads what the kernel answers', () => {
    const b = Buffer.alloc(256);
    encodeGetRoute(b, 6, parseIPv4('10.97.0.1'));
    assert.deepEqual([b[16], b[17]], [2, 32]);
    encodeDumpRoutes(b, 7, 2);
    assert.equal(b.readUInt16LE(6), 1 | NLM_F_DUMP);
    // an answer: 10.97.0.1 via 10.97.0.254 dev #3 metric 5
    const len = encodeRoute(b, 8, 'add', {
      dst: parseIPv4('10.97.0.1'),
      prefixLen: 32,
      gateway: parseIPv4('10.97.0.254'),
      oif: 3,
      metric: 5,
    });
    b.writeUInt16LE(RTM_NEWROUTE, 4);
    const r = decodeRoute(b.subarray(0, len), 0);
    assert.equal(r.family, 2);
    assert.equal(r.dstLen, 32);
    assert.equal(r.table, RT_TABLE_MAIN);
    assert.equal(r.gateway?.toString('hex'), '0a6100fe');
    assert.equal(r.oif, 3);
    assert.equal(r.metric, 5);
    assert.equal(
      describeRoute({
        dst: parseIPv4('10.97.0.1'),
        prefixLen: 32,
        gateway: parseIPv4('10.97.0.254'),
        oif: 3,
        metric: 5,
      }),
      '10.97.0.1/32 via 10.97.0.254 dev #3 metric 5',
    );
  });
});
