import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from '../../../src/cli/ovpn-cli/main.js';
import { formatKey, formatPeer, notificationLine, pyJson } from '../../../src/cli/ovpn-cli/print.js';
import { BufferOutput, exitCode } from '../../../src/cli/ovpn-cli/status.js';

describe('ovpn-cli output formats', () => {
  it('get_peer lines of a UDP IPv4 peer, in the tool order', () => {
    const text = formatPeer({
      id: 1,
      'tx-id': 10,
      'vpn-ipv4': '5.5.5.2',
      'keepalive-interval': 60,
      'keepalive-timeout': 120,
      'remote-ipv4': '10.10.1.2',
      'remote-port': 1,
      'local-ipv4': '10.10.1.1',
      'local-port': 1,
      'vpn-rx-bytes': 84,
      'vpn-rx-packets': 1,
      'vpn-tx-bytes': 168,
      'vpn-tx-packets': 2,
      'link-rx-bytes': 108,
      'link-rx-packets': 1,
      'link-tx-bytes': 216,
      'link-tx-packets': 2,
    });
    assert.equal(
      text,
      [
        '* Peer 1',
        '\tTX peer ID 10',
        '\tVPN IPv4: 5.5.5.2',
        '\tRemote: 10.10.1.2:1',
        '\tLocal: 10.10.1.1:1',
        '\tKeepalive interval: 60 sec',
        '\tKeepalive timeout: 120 sec',
        '\tVPN RX bytes: 84',
        '\tVPN TX bytes: 168',
        '\tVPN RX packets: 1',
        '\tVPN TX packets: 2',
        '\tLINK RX bytes: 108',
        '\tLINK TX bytes: 216',
        '\tLINK RX packets: 1',
        '\tLINK TX packets: 2',
        '',
      ].join('\n'),
    );
  });

  it('get_peer lines of an IPv6 peer: scope id, netnsid; a missing scope prints as (u32)-1', () => {
    const text = formatPeer({
      'socket-netnsid': 3,
      id: 4,
      'remote-ipv6': 'fd00:0:0:4::2',
      'remote-ipv6-scope-id': 0,
      'remote-port': 1,
      'local-ipv6': '::',
      'local-port': 1,
      'vpn-rx-bytes': '18446744073709551615',
    });
    assert.equal(
      text,
      '* Peer 4\n\tsocket NetNS ID: 3\n\tRemote: fd00:0:0:4::2:1 (scope-id: 0)\n\tLocal: :::1\n' +
        '\tVPN RX bytes: 18446744073709551615\n',
    );
    assert.match(formatPeer({ id: 1, 'remote-ipv6': '::1', 'remote-port': 5 }), /\(scope-id: 4294967295\)/);
  });

  it('get_key lines', () => {
    assert.equal(
      formatKey({ 'peer-id': 2, slot: 'secondary', 'key-id': 1, 'cipher-alg': 'chacha20-poly1305' }),
      '* Peer 2\n\t- Slot: secondary\n\t- Key ID: 1\n\t- Cipher: chacha20poly1305\n',
    );
    assert.equal(
      formatKey({ 'peer-id': 2, slot: 'primary', 'key-id': 0, 'cipher-alg': 'aes-gcm' }),
      '* Peer 2\n\t- Slot: primary\n\t- Key ID: 0\n\t- Cipher: aes-gcm\n',
    );
  });

  it('listen_mcast text lines', () => {
    assert.equal(notificationLine('peer-del-ntf'), 'received CMD_PEER_DEL_NTF\n');
    assert.equal(notificationLine('peer-float-ntf'), 'received CMD_PEER_FLOAT_NTF\n');
    assert.equal(notificationLine('key-swap-ntf'), 'received CMD_KEY_SWAP_NTF\n');
  });

  it('JSON lines exactly as YNL cli.py --output-json (Python json.dumps)', () => {
    assert.equal(
      pyJson({ name: 'peer-del-ntf', msg: { ifindex: 5, peer: { 'del-reason': 'userspace', id: 1 } } }),
      '{"name": "peer-del-ntf", "msg": {"ifindex": 5, "peer": {"del-reason": "userspace", "id": 1}}}',
    );
    assert.equal(
      pyJson({
        name: 'peer-float-ntf',
        msg: { ifindex: 0, peer: { id: 1, 'remote-ipv4': '10.10.1.3', 'remote-port': 1 } },
      }),
      '{"name": "peer-float-ntf", "msg": {"ifindex": 0, "peer": {"id": 1, "remote-ipv4": "10.10.1.3", "remote-port": 1}}}',
    );
    assert.equal(
      pyJson(['é', 2n ** 64n, null, true, [], {}]),
      '["\\u00e9", 18446744073709551616, null, true, [], {}]',
    );
  });
});

describe('ovpn-cli main: statuses of the argument stage', () => {
  it('no command: usage on stderr, exit 255', async () => {
    const o = new BufferOutput();
    assert.equal(exitCode(await main([], o)), 255);
    assert.match(o.stderr, /^Usage: ovpn-cli <command>/);
    assert.equal(o.stdout, '');
  });

  it('unknown command: message and usage, exit 255', async () => {
    const o = new BufferOutput();
    assert.equal(exitCode(await main(['bogus'], o)), 255);
    assert.match(o.stderr, /^Error: unknown command\.\n\nUsage:/);
  });

  it('--help: usage on stdout, exit 0', async () => {
    const o = new BufferOutput();
    assert.equal(await main(['--help'], o), 0);
    assert.match(o.stdout, /listen_mcast/);
  });

  it('missing arguments: invalid arguments and usage, exit 234 (-EINVAL)', async () => {
    const o = new BufferOutput();
    assert.equal(exitCode(await main(['del_peer'], o)), 234);
    assert.match(o.stderr, /^Error: invalid arguments\.\n\nUsage:/);
  });

  it('unknown interface: message, invalid arguments without usage, exit 255', async () => {
    const o = new BufferOutput();
    assert.equal(exitCode(await main(['get_peer', 'ovcli-none0'], o)), 255);
    assert.equal(o.stderr, 'cannot find interface: No such device\nError: invalid arguments.\n\n');
  });

  it('a bad value after a known interface: its message, exit 255', async () => {
    const o = new BufferOutput();
    assert.equal(exitCode(await main(['new_key', 'lo', '1', '9', '0', 'aes', '0', 'k'], o)), 255);
    assert.equal(o.stderr, 'key slot out of range\nError: invalid arguments.\n\n');
  });

  it('an unreadable key file fails in the argument stage, exit 255', async () => {
    const o = new BufferOutput();
    assert.equal(
      exitCode(await main(['new_key', 'lo', '1', '1', '0', 'aes', '0', '/nonexistent/k'], o)),
      255,
    );
    assert.equal(o.stderr, 'cannot open: /nonexistent/k\nError: invalid arguments.\n\n');
  });
});
