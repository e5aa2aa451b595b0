import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnectionEntry, Remote } from '../../../src/config/client-options.js';
import { tcpFrame } from '../../../src/openvpn/data-plane-link.js';
import {
  type LookupAllFn,
  occLinkMtu,
  occProto,
  openServerTransport,
  resolveRemote,
  type TcpConnectFn,
} from '../../../src/openvpn/transport-connect.js';

function remote(r: Partial<Remote>): Remote {
  return { host: 'vpn.example', port: 1194, proto: 'udp', family: 'any', ...r };
}

function entry(r: Partial<Remote>, connectTimeout = 120): ConnectionEntry {
  return {
    remote: remote(r),
    connectRetry: 1,
    connectRetryMax: 0,
    connectTimeout,
    explicitExitNotify: 0,
    tunMtu: 1500,
    mssfix: { value: 1492, mode: 'default' },
    float: false,
    tlsWrap: undefined,
    file: 'c.ovpn',
    line: 3,
  };
}

/** A resolver answering with v6 first then v4, recording the family asked for. */
function fakeLookup(asked: (0 | 4 | 6)[]): LookupAllFn {
  return async (host, family) => {
    asked.push(family);
    if (host !== 'vpn.example') throw new Error('getaddrinfo ENOTFOUND');
    const all = [
      { address: '2001:db8::7', family: 6 },
      { address: '192.0.2.7', family: 4 },
      { address: '2001:db8::8', family: 6 },
    ];
    return family === 0 ? all : all.filter((a) => a.family === family);
  };
}

describe('openvpn/transport-connect: resolving the remote', () => {
  it("keeps the resolver's order for proto udp/tcp (family any), and asks for AF_UNSPEC", async () => {
    const asked: (0 | 4 | 6)[] = [];
    const got = await resolveRemote(remote({}), 'c.ovpn:3', fakeLookup(asked));
    assert.deepEqual(asked, [0]);
    assert.deepEqual(got, [
      { address: '2001:db8::7', family: 6 },
      { address: '192.0.2.7', family: 4 },
      { address: '2001:db8::8', family: 6 },
    ]);
  });

  it('asks for one family with udp4/tcp6 and keeps only that one', async () => {
    const asked: (0 | 4 | 6)[] = [];
    assert.deepEqual(await resolveRemote(remote({ family: 4 }), 'c.ovpn:3', fakeLookup(asked)), [
      { address: '192.0.2.7', family: 4 },
    ]);
    // a resolver that answers with more than asked for is filtered
    const loose: LookupAllFn = async () => [
      { address: '192.0.2.7', family: 4 },
      { address: '2001:db8::7', family: 6 },
    ];
    assert.deepEqual(await resolveRemote(remote({ family: 6, proto: 'tcp' }), 'c.ovpn:3', loose), [
      { address: '2001:db8::7', family: 6 },
    ]);
    assert.deepEqual(asked, [4]);
  });

  it('takes a numeric address as it is, without the resolver, and refuses one of the wrong family', async () => {
    const never: LookupAllFn = async () => {
      throw new Error('resolver called');
    };
    assert.deepEqual(await resolveRemote(remote({ host: 'fd00::1' }), 'c.ovpn:3', never), [
      { address: 'fd00::1', family: 6 },
    ]);
    assert.deepEqual(await resolveRemote(remote({ host: '10.0.0.1', family: 4 }), 'c.ovpn:3', never), [
      { address: '10.0.0.1', family: 4 },
    ]);
    await assert.rejects(
      resolveRemote(remote({ host: 'fd00::1', family: 4, proto: 'tcp' }), 'c.ovpn:3', never),
      /^Error: c\.ovpn:3: remote fd00::1 is an IPv6 address but proto tcp4 asks for IPv4$/,
    );
  });

  it('names the remote and where it was written when it does not resolve or has no address', async () => {
    await assert.rejects(
      resolveRemote(remote({ host: 'nowhere.example' }), 'c.ovpn:3', fakeLookup([])),
      /c\.ovpn:3: cannot resolve remote nowhere\.example: getaddrinfo ENOTFOUND/,
    );
    await assert.rejects(
      resolveRemote(remote({ family: 4 }), 'c.ovpn:3', async () => []),
      /c\.ovpn:3: remote vpn\.example has no IPv4 address/,
    );
  });
});

describe('openvpn/transport-connect: the transport to the server', () => {
  it('UDP takes the first address, with its family, and connects nothing', async () => {
    const logs: string[] = [];
    const connect: TcpConnectFn = async () => {
      throw new Error('no TCP for UDP');
    };
    const t = await openServerTransport(entry({}), {
      log: (m) => logs.push(m),
      lookup: fakeLookup([]),
      connect,
    });
    assert.deepEqual(t, { proto: 'udp', address: '2001:db8::7', family: 6, port: 1194 });
    assert.deepEqual(logs, ['UDP link remote: [AF_INET6]2001:db8::7:1194']);
  });

  it("TCP tries the addresses in the resolver's order, each with connect-timeout, until one connects", async () => {
    const tried: string[] = [];
    const connect: TcpConnectFn = async (o) => {
      tried.push(`${o.addr}:${o.port}/${o.timeoutMs}`);
      if (o.addr !== '2001:db8::8') throw new Error('connect: Connection refused');
      return 42;
    };
    const logs: string[] = [];
    const t = await openServerTransport(entry({ proto: 'tcp' }, 7), {
      log: (m) => logs.push(m),
      lookup: fakeLookup([]),
      connect,
    });
    assert.deepEqual(t, { proto: 'tcp', address: '2001:db8::8', family: 6, port: 1194, fd: 42 });
    assert.deepEqual(tried, ['2001:db8::7:1194/7000', '192.0.2.7:1194/7000', '2001:db8::8:1194/7000']);
    assert.ok(logs.includes('TCP: connect to [AF_INET]192.0.2.7:1194 failed: connect: Connection refused'));
    assert.equal(logs.at(-1), 'TCP_CLIENT link remote: [AF_INET6]2001:db8::8:1194');
  });

  it('TCP fails with every address named when none answers; one address gives its own error', async () => {
    const refuse: TcpConnectFn = async (o) => {
      throw new Error(`connect ${o.addr}: Connection refused`);
    };
    await assert.rejects(
      openServerTransport(entry({ proto: 'tcp' }), {
        log: () => {},
        lookup: fakeLookup([]),
        connect: refuse,
      }),
      (e: Error) =>
        /^TCP: no address of vpn\.example answered: /.test(e.message) &&
        e.message.includes('[AF_INET6]2001:db8::7:1194') &&
        e.message.includes('[AF_INET]192.0.2.7:1194') &&
        e.message.includes('[AF_INET6]2001:db8::8:1194'),
    );
    await assert.rejects(
      openServerTransport(entry({ proto: 'tcp', host: '10.0.0.1' }), { log: () => {}, connect: refuse }),
      /^Error: TCP: connect to \[AF_INET\]10\.0\.0\.1:1194 failed: connect 10\.0\.0\.1: Connection refused$/,
    );
  });

  it('a huge connect-timeout is clamped to what a timer can wait', async () => {
    let timeout = 0;
    const connect: TcpConnectFn = async (o) => {
      timeout = o.timeoutMs ?? 0;
      return 3;
    };
    await openServerTransport(entry({ proto: 'tcp', host: '10.0.0.1' }, 10_000_000), {
      log: () => {},
      connect,
    });
    assert.equal(timeout, 2 ** 31 - 1);
  });

  it('an abandoned TCP connect tries no further address and fails', async () => {
    const ac = new AbortController();
    const tried: string[] = [];
    const connect: TcpConnectFn = async (o) => {
      tried.push(o.addr);
      assert.equal(o.signal, ac.signal);
      ac.abort();
      throw new Error('connect aborted');
    };
    await assert.rejects(
      openServerTransport(entry({ proto: 'tcp' }), {
        log: () => {},
        lookup: fakeLookup([]),
        connect,
        signal: ac.signal,
      }),
      /the connection was abandoned/,
    );
    assert.deepEqual(tried, ['2001:db8::7']);
  });
});

describe('openvpn/transport-connect: OCC and framing', () => {
  it('OCC proto is UDPv4 for UDP of either family and TCPv4_CLIENT for TCP; TCP adds 2 to link-mtu', () => {
    assert.equal(occProto('udp'), 'UDPv4');
    assert.equal(occProto('tcp'), 'TCPv4_CLIENT');
    assert.equal(occLinkMtu('udp'), 1541);
    assert.equal(occLinkMtu('tcp'), 1543);
  });

  it('a TCP frame is the 2-byte big-endian length, then the packet', () => {
    assert.deepEqual(tcpFrame(Buffer.from([0x38, 1, 2])), Buffer.from([0, 3, 0x38, 1, 2]));
    assert.equal(tcpFrame(Buffer.alloc(0xffff)).readUInt16BE(0), 0xffff);
    assert.throws(() => tcpFrame(Buffer.alloc(0x10000)), RangeError);
  });
});
