/** rtnetlink message encoding and decoding for route lookups (no sockets). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  countRoutingChanges,
  encodeGetRoute4,
  encodeGetRoute6,
  NLMSG_DONE,
  NLMSG_ERROR,
  nlAlign,
  nlmsgNext,
  parseRouteReply,
  ROUTE_DIRECT,
  ROUTE_GATEWAY,
  ROUTE_NONE,
  RouteReply,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_VIA,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWROUTE,
  RTN_BLACKHOLE,
  RTN_LOCAL,
  RTN_UNICAST,
  RTN_UNREACHABLE,
  rtaPayloadLen,
  rtmFindAttr,
} from '../../../src/routing/rtnetlink.js';

const AF_INET = 2;
const AF_INET6 = 10;
const RTM_NEWNEIGH = 28;

/** A netlink message: header, body and attributes [type, payload]. */
function msg(type: number, seq: number, body: Buffer, attrs: [number, Buffer][] = []): Buffer {
  const parts: Buffer[] = [body];
  for (const [t, p] of attrs) {
    const a = Buffer.alloc(nlAlign(4 + p.length));
    a.writeUInt16LE(4 + p.length, 0);
    a.writeUInt16LE(t, 2);
    p.copy(a, 4);
    parts.push(a);
  }
  const payload = Buffer.concat(parts);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(4242, 12);
  return Buffer.concat([h, payload, Buffer.alloc(nlAlign(payload.length) - payload.length)]);
}

function rtmsg(family: number, rtmType: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = family;
  b[1] = family === AF_INET ? 32 : 128;
  b[4] = 254; // main table
  b[7] = rtmType;
  return b;
}

function errorMsg(seq: number, errno: number): Buffer {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno, 0);
  return msg(NLMSG_ERROR, seq, body);
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
};
const v6 = (last: number): Buffer => {
  const b = Buffer.alloc(16);
  b.writeUInt16BE(0xfd77, 0);
  b[15] = last;
  return b;
};

describe('rtnetlink route messages', () => {
  it('encodes an IPv4 RTM_GETROUTE request', () => {
    const buf = Buffer.alloc(64, 0xff);
    const len = encodeGetRoute4(buf, 4, 0x01020304, 0x0a4d0109);
    assert.equal(len, 36);
    const m = buf.subarray(4, 4 + len);
    assert.equal(m.readUInt32LE(0), 36);
    assert.equal(m.readUInt16LE(4), RTM_GETROUTE);
    assert.equal(m.readUInt16LE(6), 1); // NLM_F_REQUEST, no ACK
    assert.equal(m.readUInt32LE(8), 0x01020304);
    assert.equal(m.readUInt32LE(12), 0);
    assert.deepEqual([...m.subarray(16, 28)], [AF_INET, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(m.readUInt16LE(28), 8);
    assert.equal(m.readUInt16LE(30), RTA_DST);
    assert.deepEqual([...m.subarray(32, 36)], [10, 77, 1, 9]);
    assert.equal(buf[3], 0xff, 'nothing written before the offset');
    assert.equal(buf[40], 0xff, 'nothing written after the message');
  });

  it('encodes an IPv6 RTM_GETROUTE request from an offset of the source', () => {
    const src = Buffer.concat([Buffer.alloc(5, 0xaa), v6(9)]);
    const buf = Buffer.alloc(64);
    const len = encodeGetRoute6(buf, 0, 7, src, 5);
    assert.equal(len, 48);
    assert.equal(buf.readUInt32LE(0), 48);
    assert.equal(buf[16], AF_INET6);
    assert.equal(buf[17], 128);
    assert.equal(buf.readUInt16LE(28), 20);
    assert.equal(buf.readUInt16LE(30), RTA_DST);
    assert.deepEqual(buf.subarray(32, 48), v6(9));
  });

  it('decodes a route with a gateway', () => {
    const m = msg(RTM_NEWROUTE, 5, rtmsg(AF_INET, RTN_UNICAST), [
      [RTA_DST, Buffer.from([10, 88, 0, 1])],
      [RTA_OIF, u32(3)],
      [RTA_GATEWAY, Buffer.from([10, 77, 1, 2])],
    ]);
    const r = new RouteReply();
    assert.equal(parseRouteReply(m, m.length, 5, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_GATEWAY);
    assert.equal(r.rtmType, RTN_UNICAST);
    assert.equal(r.gatewayFamily, AF_INET);
    assert.equal(m.readUInt32BE(r.gatewayOff), 0x0a4d0102);
    assert.equal(rtaPayloadLen(m, r.gatewayOff), 4);
    assert.equal(rtmFindAttr(m, 0, RTA_OIF) > 0, true);
    assert.equal(m.readUInt32LE(rtmFindAttr(m, 0, RTA_OIF)), 3);
    assert.equal(rtmFindAttr(m, 0, 99), -1);
  });

  it('decodes direct, local and IPv6 gateway routes', () => {
    const r = new RouteReply();
    const direct = msg(RTM_NEWROUTE, 1, rtmsg(AF_INET, RTN_UNICAST), [
      [RTA_DST, Buffer.from([10, 77, 1, 9])],
    ]);
    assert.equal(parseRouteReply(direct, direct.length, 1, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_DIRECT);
    assert.equal(r.gatewayOff, -1);
    const local = msg(RTM_NEWROUTE, 2, rtmsg(AF_INET, RTN_LOCAL), []);
    assert.equal(parseRouteReply(local, local.length, 2, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_DIRECT);
    assert.equal(r.rtmType, RTN_LOCAL);
    const gw6 = msg(RTM_NEWROUTE, 3, rtmsg(AF_INET6, RTN_UNICAST), [
      [RTA_DST, v6(1)],
      [RTA_GATEWAY, v6(2)],
    ]);
    assert.equal(parseRouteReply(gw6, gw6.length, 3, AF_INET6, r), true);
    assert.equal(r.kind, ROUTE_GATEWAY);
    assert.deepEqual(gw6.subarray(r.gatewayOff, r.gatewayOff + 16), v6(2));
  });

  it('decodes an IPv4 route via an IPv6 gateway (RTA_VIA)', () => {
    const via = Buffer.concat([Buffer.from([AF_INET6, 0]), v6(2)]);
    const m = msg(RTM_NEWROUTE, 4, rtmsg(AF_INET, RTN_UNICAST), [[RTA_VIA, via]]);
    const r = new RouteReply();
    assert.equal(parseRouteReply(m, m.length, 4, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_GATEWAY);
    assert.equal(r.gatewayFamily, AF_INET6);
    assert.deepEqual(m.subarray(r.gatewayOff, r.gatewayOff + 16), v6(2));
  });

  it('treats errors and unusable route types as no route', () => {
    const r = new RouteReply();
    const err = errorMsg(9, 101);
    assert.equal(parseRouteReply(err, err.length, 9, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_NONE);
    assert.equal(r.error, 101);
    for (const t of [RTN_UNREACHABLE, RTN_BLACKHOLE]) {
      const m = msg(RTM_NEWROUTE, 10, rtmsg(AF_INET6, t), [[RTA_GATEWAY, v6(2)]]);
      assert.equal(parseRouteReply(m, m.length, 10, AF_INET6, r), true);
      assert.equal(r.kind, ROUTE_NONE);
      assert.equal(r.rtmType, t);
    }
  });

  it('skips answers to other requests and stops at truncated messages', () => {
    const stale = msg(RTM_NEWROUTE, 1, rtmsg(AF_INET, RTN_UNICAST), [
      [RTA_GATEWAY, Buffer.from([1, 2, 3, 4])],
    ]);
    const mine = msg(RTM_NEWROUTE, 2, rtmsg(AF_INET, RTN_UNICAST), []);
    const both = Buffer.concat([stale, mine]);
    const r = new RouteReply();
    assert.equal(parseRouteReply(stale, stale.length, 2, AF_INET, r), false);
    assert.equal(parseRouteReply(both, both.length, 2, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_DIRECT);
    assert.equal(parseRouteReply(both, both.length - 4, 2, AF_INET, r), false, 'truncated');
    assert.equal(nlmsgNext(both, 0, both.length), stale.length);
    assert.equal(nlmsgNext(both, 0, 10), -1);
    // A gateway attribute of the wrong size is not used.
    const odd = msg(RTM_NEWROUTE, 3, rtmsg(AF_INET, RTN_UNICAST), [[RTA_GATEWAY, Buffer.from([1, 2, 3])]]);
    assert.equal(parseRouteReply(odd, odd.length, 3, AF_INET, r), true);
    assert.equal(r.kind, ROUTE_DIRECT);
  });

  it('counts the monitor messages that invalidate cached answers', () => {
    const route = msg(RTM_DELROUTE, 0, rtmsg(AF_INET, RTN_UNICAST));
    const addr = msg(RTM_NEWADDR, 0, Buffer.alloc(8));
    const neigh = msg(RTM_NEWNEIGH, 0, Buffer.alloc(12));
    const done = msg(NLMSG_DONE, 0, Buffer.alloc(4));
    const all = Buffer.concat([route, neigh, addr, done]);
    assert.equal(countRoutingChanges(all, all.length), 2);
    assert.equal(countRoutingChanges(neigh, neigh.length), 0);
  });
});
