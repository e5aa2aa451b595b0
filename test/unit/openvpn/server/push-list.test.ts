import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildPushReplies,
  PushReplyAssembler,
  parseControlMessage,
  parsePushReply,
} from '../../../../src/control/control-message.js';
import { parseClientConfig } from '../../../../src/openvpn/server/ccd.js';
import { IfconfigPool } from '../../../../src/openvpn/server/ifconfig-pool.js';
import {
  buildPushList,
  clientAddresses,
  IV_PROTO_DATA_V2,
  IV_PROTO_TLS_KEY_EXPORT,
  type PushListInput,
  type ServerAddressing,
} from '../../../../src/openvpn/server/push-list.js';

// what a stock 2.6.14 client announces (IV_PROTO=990) and the server's pushes for
// `server 10.8.0.0 255.255.255.0`, `server-ipv6 fd00:8::/64`, two `push` lines, `keepalive 10 60`
const IV_PROTO_26 = 990;
const userPush = ['route 192.168.77.0 255.255.255.0', 'dhcp-option DNS 10.8.0.1'];
const net30Push = [...userPush, 'tun-ipv6', 'route 10.8.0.1', 'topology net30', 'ping 10', 'ping-restart 60'];
const subnetPush = [
  ...userPush,
  'tun-ipv6',
  'route-gateway 10.8.0.1',
  'topology subnet',
  'ping 10',
  'ping-restart 60',
];
const serverIpv6 = { address: 'fd00:8::1', prefix: 64 };

function pool(type: 'net30' | 'indiv'): IfconfigPool {
  const v4 =
    type === 'net30'
      ? { type, start: '10.8.0.4', end: '10.8.0.251' }
      : { type, start: '10.8.0.2', end: '10.8.0.253' };
  return new IfconfigPool({ ipv4: v4, ipv6: { base: 'fd00:8::1000', bits: 64 }, duplicateCn: false });
}

function input(serverPush: string[], over: Partial<PushListInput>): PushListInput {
  return {
    serverPush,
    client: undefined,
    addresses: { ifconfig: undefined, ifconfigIpv6: undefined },
    ivProto: IV_PROTO_26,
    peerId: 0,
    cipher: 'AES-256-GCM',
    ncp: true,
    ivMtu: 1600,
    tunMtu: 1500,
    ...over,
  };
}

const ccdText = 'push "route 192.168.88.0 255.255.255.0"\niroute 192.168.99.0 255.255.255.0\n';

describe('PUSH_REPLY options for one client', () => {
  it('net30: the PUSH_REPLY a 2.6.14 server sent, word for word', () => {
    const server: ServerAddressing = {
      topology: 'net30',
      subnetNetmask: undefined,
      serverLocal: '10.8.0.1',
      serverIpv6,
    };
    const client = parseClientConfig(ccdText, 'ccd/sp-client');
    const addresses = clientAddresses(server, pool('net30').acquire('sp-client'), client);
    const opts = buildPushList(input(net30Push, { client, addresses }));
    assert.deepEqual(buildPushReplies(opts), [
      'PUSH_REPLY,route 192.168.77.0 255.255.255.0,dhcp-option DNS 10.8.0.1,tun-ipv6,route 10.8.0.1,topology net30,ping 10,ping-restart 60,route 192.168.88.0 255.255.255.0,ifconfig-ipv6 fd00:8::1000/64 fd00:8::1,ifconfig 10.8.0.6 10.8.0.5,peer-id 0,cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500',
    ]);
  });

  it('subnet: the PUSH_REPLY a 2.6.14 server sent, word for word', () => {
    const server: ServerAddressing = {
      topology: 'subnet',
      subnetNetmask: '255.255.255.0',
      serverLocal: '10.8.0.1',
      serverIpv6,
    };
    const client = parseClientConfig(ccdText, 'ccd/sp-client');
    const addresses = clientAddresses(server, pool('indiv').acquire('sp-client'), client);
    assert.deepEqual(buildPushReplies(buildPushList(input(subnetPush, { client, addresses }))), [
      'PUSH_REPLY,route 192.168.77.0 255.255.255.0,dhcp-option DNS 10.8.0.1,tun-ipv6,route-gateway 10.8.0.1,topology subnet,ping 10,ping-restart 60,route 192.168.88.0 255.255.255.0,ifconfig-ipv6 fd00:8::1000/64 fd00:8::1,ifconfig 10.8.0.2 255.255.255.0,peer-id 0,cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500',
    ]);
  });

  it('push-remove, a ccd push before it, and a server route equal to an iroute (as 2.6.14 sent it)', () => {
    const server: ServerAddressing = {
      topology: 'subnet',
      subnetNetmask: '255.255.255.0',
      serverLocal: undefined,
      serverIpv6,
    };
    const client = parseClientConfig(
      'push "route 192.168.88.0 255.255.255.0"\npush "dhcp-option DNS 1.1.1.1"\npush-remove dhcp\n' +
        'iroute 192.168.77.0 255.255.255.0\npush "ping-timer-rem"\n',
      'ccd/sp-client',
    );
    const addresses = clientAddresses(server, pool('indiv').acquire('sp-client'), client);
    assert.deepEqual(buildPushList(input(subnetPush, { client, addresses })), [
      'tun-ipv6',
      'route-gateway 10.8.0.1',
      'topology subnet',
      'ping 10',
      'ping-restart 60',
      'route 192.168.88.0 255.255.255.0',
      'ping-timer-rem',
      'ifconfig-ipv6 fd00:8::1000/64 fd00:8::1',
      'ifconfig 10.8.0.2 255.255.255.0',
      'peer-id 0',
      'cipher AES-256-GCM',
      'protocol-flags cc-exit tls-ekm dyn-tls-crypt',
      'tun-mtu 1500',
    ]);
  });

  it('push-reset drops the server list; push-remove ifconfig blocks the address; ifconfig-push wins', () => {
    const server: ServerAddressing = {
      topology: 'subnet',
      subnetNetmask: '255.255.255.0',
      serverLocal: undefined,
      serverIpv6,
    };
    const client = parseClientConfig(
      'push-reset\npush "route 10.0.0.0 255.0.0.0"\nifconfig-push 10.8.0.77 255.255.255.0 10.8.0.78\npush-remove ifconfig-ipv6\n',
      'ccd/x',
    );
    const addresses = clientAddresses(server, undefined, client);
    assert.deepEqual(addresses.ifconfig, { local: '10.8.0.77', remoteNetmask: '255.255.255.0' });
    assert.deepEqual(buildPushList(input(subnetPush, { client, addresses, ivMtu: undefined })), [
      'route 10.0.0.0 255.0.0.0',
      'ifconfig 10.8.0.78 255.255.255.0',
      'peer-id 0',
      'cipher AES-256-GCM',
      'protocol-flags cc-exit tls-ekm dyn-tls-crypt',
    ]);
    const blocked = parseClientConfig('push-remove ifconfig\n', 'ccd/y');
    const a2 = clientAddresses(server, pool('indiv').acquire('y'), blocked);
    const o2 = buildPushList(input(['ping 10'], { client: blocked, addresses: a2 }));
    assert.ok(o2.includes('ifconfig-ipv6 fd00:8::1000/64 fd00:8::1'));
    assert.ok(!o2.some((o) => o.startsWith('ifconfig ')));
  });

  it('what an old client gets: no peer-id, no cipher, key-derivation instead of protocol-flags', () => {
    const o = buildPushList(
      input(['ping 10'], { ivProto: 0, ncp: false, ivMtu: undefined, authToken: 'SESS_ID_AT_x' }),
    );
    assert.deepEqual(o, ['ping 10', 'auth-token SESS_ID_AT_x']);
    const ekm = buildPushList(
      input([], {
        ivProto: IV_PROTO_DATA_V2 | IV_PROTO_TLS_KEY_EXPORT,
        peerId: 7,
        ivMtu: undefined,
        authToken: 'T',
      }),
    );
    assert.deepEqual(ekm, ['peer-id 7', 'auth-token T', 'cipher AES-256-GCM', 'key-derivation tls-ekm']);
  });

  it('a long push list spans several PUSH_REPLY messages that a client puts back together', () => {
    const routes = Array.from({ length: 80 }, (_, i) => `route 10.${i}.0.0 255.255.0.0`);
    const server: ServerAddressing = {
      topology: 'net30',
      subnetNetmask: undefined,
      serverLocal: '10.8.0.1',
      serverIpv6,
    };
    const addresses = clientAddresses(server, pool('net30').acquire('a'), undefined);
    const opts = buildPushList(input(routes, { addresses }));
    const msgs = buildPushReplies(opts);
    assert.ok(msgs.length >= 2, `${msgs.length} messages`);
    assert.ok(msgs.slice(0, -1).every((m) => m.endsWith(',push-continuation 2')));
    assert.ok(msgs[msgs.length - 1].endsWith(',push-continuation 1'));
    const asm = new PushReplyAssembler();
    let done: string[] | undefined;
    for (const m of msgs) {
      const msg = parseControlMessage(m);
      assert.equal(msg.type, 'PUSH_REPLY');
      assert.ok(Buffer.byteLength(m) < 1024, 'each message fits the bundle size');
      const reply = parsePushReply(m);
      assert.ok(reply);
      const r = asm.add(reply);
      if (r.state === 'done') done = r.options;
    }
    assert.deepEqual(
      done?.filter((o) => !o.startsWith('push-continuation')),
      opts,
    );
  });
});

describe('clientAddresses', () => {
  it('by topology: net30 pushes the peer, subnet the netmask, p2p the server address', () => {
    const p = pool('indiv');
    const lease = p.acquire('a');
    const base = { subnetNetmask: '255.255.255.0', serverLocal: '10.8.0.1', serverIpv6 };
    assert.deepEqual(clientAddresses({ ...base, topology: 'p2p' }, lease, undefined).ifconfig, {
      local: '10.8.0.2',
      remoteNetmask: '10.8.0.1',
    });
    assert.equal(
      clientAddresses({ ...base, topology: 'subnet', subnetNetmask: undefined }, lease, undefined).ifconfig,
      undefined,
    );
    const six = parseClientConfig('ifconfig-ipv6-push fd00:8::99/64 fd00:8::1\n', 'c');
    assert.deepEqual(clientAddresses({ ...base, topology: 'subnet' }, lease, six).ifconfigIpv6, {
      local: 'fd00:8::99',
      prefix: 64,
      remote: 'fd00:8::1',
    });
  });
});
