import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Command, type ParseResult, PEER_ID_UNDEF, parseArgs } from '../../../src/cli/ovpn-cli/args.js';
import { asInt, asU32, strtoll, strtoul } from '../../../src/cli/ovpn-cli/c-numbers.js';

const env = { ifindex: (name: string) => (name === 'tun0' ? 5 : name === 'tun1' ? 6 : 0) };
const parse = (line: string): ParseResult => parseArgs(line === '' ? [] : line.split(' '), env);

function ok(line: string): Command {
  const r = parse(line);
  if (!r.ok) assert.fail(`${line}: ${JSON.stringify(r.error)}`);
  return r.command;
}

function invalid(line: string): { status: number; message?: string } {
  const r = parse(line);
  if (r.ok || r.error.kind !== 'invalid') assert.fail(`${line}: expected invalid, got ${JSON.stringify(r)}`);
  return { status: r.error.status, message: r.error.message };
}

describe('ovpn-cli C number parsing', () => {
  it('reads like strtoul: prefix digits, no digits is 0, negative wraps, overflow is ERANGE', () => {
    assert.deepEqual(strtoul('42'), { value: 42n, erange: false });
    assert.deepEqual(strtoul('  7abc'), { value: 7n, erange: false });
    assert.deepEqual(strtoul('abc'), { value: 0n, erange: false });
    assert.deepEqual(strtoul('-1'), { value: 2n ** 64n - 1n, erange: false });
    assert.deepEqual(strtoul('99999999999999999999999'), { value: 2n ** 64n - 1n, erange: true });
    assert.deepEqual(strtoll('-3'), { value: -3n, erange: false });
    assert.equal(asInt(strtoul('-1').value), -1);
    assert.equal(asU32(strtoul('4294967297').value), 1);
  });
});

describe('ovpn-cli arguments', () => {
  it('no command, unknown command and help', () => {
    assert.deepEqual(parse(''), { ok: false, error: { kind: 'no-command' } });
    assert.deepEqual(parse('frobnicate tun0'), {
      ok: false,
      error: { kind: 'unknown-command', name: 'frobnicate' },
    });
    assert.deepEqual(parse('--help'), { ok: false, error: { kind: 'help' } });
  });

  it('missing interface is -EINVAL; an unknown interface is -1 and checked before the rest', () => {
    assert.equal(invalid('del_peer').status, -22);
    assert.deepEqual(invalid('del_peer nosuch'), {
      status: -1,
      message: 'cannot find interface: No such device',
    });
    assert.deepEqual(invalid('set_peer nosuch'), {
      status: -1,
      message: 'cannot find interface: No such device',
    });
    assert.equal(invalid('set_peer tun0 1').status, -22);
  });

  it('new_iface: mode optional, P2P/MP only, name cut to 15 characters, no lookup', () => {
    const base = { cmd: 'new_iface', ifname: 'tun9', ifindex: 0, offloadsOff: [] };
    assert.deepEqual(ok('new_iface tun9'), base);
    assert.deepEqual(ok('new_iface tun9 MP'), { ...base, mode: 'mp' });
    assert.deepEqual(ok('new_iface tun9 P2P'), { ...base, mode: 'p2p' });
    assert.deepEqual(invalid('new_iface tun9 mp'), { status: -1, message: 'Cannot parse iface mode: mp' });
    const c = ok('new_iface abcdefghijklmnopqrstu');
    assert.equal(c.cmd === 'new_iface' && c.ifname, 'abcdefghijklmno');
  });

  it('new_iface: offload switches after the mode, each named; anything else is refused', () => {
    assert.deepEqual(ok('new_iface tun9 MP no-udp-gso no-tun-offload'), {
      cmd: 'new_iface',
      ifname: 'tun9',
      ifindex: 0,
      mode: 'mp',
      offloadsOff: ['udp-gso', 'tun-offload'],
    });
    assert.deepEqual(ok('new_iface tun9 P2P no-udp-gro'), {
      cmd: 'new_iface',
      ifname: 'tun9',
      ifindex: 0,
      mode: 'p2p',
      offloadsOff: ['udp-gro'],
    });
    assert.deepEqual(invalid('new_iface tun9 MP gso'), {
      status: -1,
      message: 'Cannot parse offload switch: gso (no-tun-offload, no-udp-gso, no-udp-gro)',
    });
  });

  it('new_peer: 7.1 form with tx_id or none, and the 6.16 form', () => {
    assert.deepEqual(ok('new_peer tun1 10 1 1 10.10.1.1 1'), {
      cmd: 'new_peer',
      ifname: 'tun1',
      ifindex: 6,
      peerId: 10,
      txId: 1,
      lport: 1,
      raddr: '10.10.1.1',
      rport: '1',
      vpnaddr: undefined,
    });
    const symm = ok('new_peer tun1 1 none 1 fd00:0:0:4::1 1');
    assert.equal(symm.cmd === 'new_peer' && symm.txId, undefined);
    assert.equal(symm.cmd === 'new_peer' && symm.raddr, 'fd00:0:0:4::1');
    const withVpn = ok('new_peer tun1 10 1 1 10.10.1.1 1 5.5.5.1');
    assert.equal(withVpn.cmd === 'new_peer' && withVpn.vpnaddr, '5.5.5.1');
    // 6.16: <peer_id> <lport> <raddr> <rport> [vpnaddr]
    assert.deepEqual(ok('new_peer tun1 1 1 10.10.1.1 1'), {
      cmd: 'new_peer',
      ifname: 'tun1',
      ifindex: 6,
      peerId: 1,
      lport: 1,
      raddr: '10.10.1.1',
      rport: '1',
      vpnaddr: undefined,
    });
    const legacyVpn = ok('new_peer tun1 1 1 10.10.1.1 1 5.5.5.1');
    assert.equal(legacyVpn.cmd === 'new_peer' && legacyVpn.vpnaddr, '5.5.5.1');
    assert.equal(legacyVpn.cmd === 'new_peer' && legacyVpn.txId, undefined);
    assert.equal(invalid('new_peer tun1 1 1 10.10.1.1').status, -22);
    assert.deepEqual(invalid('new_peer tun1 1 1 70000 10.10.1.1 1'), {
      status: -1,
      message: 'lport value out of range',
    });
    assert.deepEqual(invalid('new_peer tun1 16777216 1 1 10.10.1.1 1'), {
      status: -1,
      message: 'rx peer ID value out of range',
    });
    assert.deepEqual(invalid('new_peer tun1 1 16777216 1 10.10.1.1 1'), {
      status: -1,
      message: 'tx peer ID value out of range',
    });
  });

  it('connect: 7.1 and 6.16 forms, key file optional', () => {
    assert.deepEqual(ok('connect tun1 10 1 10.10.1.1 1 data64.key'), {
      cmd: 'connect',
      ifname: 'tun1',
      ifindex: 6,
      peerId: 10,
      txId: 1,
      raddr: '10.10.1.1',
      rport: '1',
      keyFile: 'data64.key',
    });
    const noKey = ok('connect tun1 10 1 10.10.1.1 1');
    assert.equal(noKey.cmd === 'connect' && noKey.keyFile, undefined);
    assert.equal(noKey.cmd === 'connect' && noKey.txId, 1);
    const symm = ok('connect tun1 1 none 10.10.1.1 1');
    assert.equal(symm.cmd === 'connect' && symm.txId, undefined);
    const legacy = ok('connect tun1 1 10.10.1.1 1 data64.key');
    assert.deepEqual(legacy, {
      cmd: 'connect',
      ifname: 'tun1',
      ifindex: 6,
      peerId: 1,
      raddr: '10.10.1.1',
      rport: '1',
      keyFile: 'data64.key',
    });
    const legacyNoKey = ok('connect tun1 1 10.10.1.1 1');
    assert.equal(legacyNoKey.cmd === 'connect' && legacyNoKey.raddr, '10.10.1.1');
    assert.equal(invalid('connect tun1 1 10.10.1.1').status, -22);
  });

  it('listen and new_multi_peer: id type, 6.16 form without it, ipv6 flag and mark', () => {
    assert.deepEqual(ok('listen tun0 1 ASYMM tcp_peers.txt'), {
      cmd: 'listen',
      ifname: 'tun0',
      ifindex: 5,
      lport: 1,
      asymm: true,
      peersFile: 'tcp_peers.txt',
      ipv6: false,
    });
    const v6 = ok('listen tun0 1 SYMM tcp_peers.txt ipv6');
    assert.equal(v6.cmd === 'listen' && v6.ipv6, true);
    assert.equal(v6.cmd === 'listen' && v6.asymm, false);
    const legacy = ok('listen tun0 1 tcp_peers.txt ipv6');
    assert.equal(legacy.cmd === 'listen' && legacy.peersFile, 'tcp_peers.txt');
    assert.equal(legacy.cmd === 'listen' && legacy.ipv6, true);
    assert.deepEqual(invalid('listen tun0 1 FOO tcp_peers.txt'), {
      status: -1,
      message: 'Cannot parse id type: FOO',
    });
    assert.equal(invalid('listen tun0 1 SYMM').status, -22);

    assert.deepEqual(ok('new_multi_peer tun0 1 ASYMM udp_peers.txt 1056'), {
      cmd: 'new_multi_peer',
      ifname: 'tun0',
      ifindex: 5,
      lport: 1,
      asymm: true,
      peersFile: 'udp_peers.txt',
      mark: 1056,
    });
    const noMark = ok('new_multi_peer tun0 1 SYMM udp_peers.txt');
    assert.equal(noMark.cmd === 'new_multi_peer' && noMark.mark, 0);
    const legacyMulti = ok('new_multi_peer tun0 1 udp_peers.txt');
    assert.equal(legacyMulti.cmd === 'new_multi_peer' && legacyMulti.asymm, false);
    assert.deepEqual(invalid('new_multi_peer tun0 1 SYMM f 4294967296'), {
      status: -1,
      message: 'mark value out of range',
    });
    assert.equal(invalid('new_multi_peer tun0 1').status, -22);
  });

  it('peer commands: set_peer, del_peer, get_peer (dump without id or with the undefined id)', () => {
    assert.deepEqual(ok('set_peer tun0 3 60 120'), {
      cmd: 'set_peer',
      ifname: 'tun0',
      ifindex: 5,
      peerId: 3,
      keepaliveInterval: 60,
      keepaliveTimeout: 120,
    });
    assert.deepEqual(ok('del_peer tun0 2'), { cmd: 'del_peer', ifname: 'tun0', ifindex: 5, peerId: 2 });
    assert.deepEqual(ok('get_peer tun0'), { cmd: 'get_peer', ifname: 'tun0', ifindex: 5 });
    assert.deepEqual(ok('get_peer tun0 20'), { cmd: 'get_peer', ifname: 'tun0', ifindex: 5, peerId: 20 });
    assert.deepEqual(ok(`get_peer tun0 ${PEER_ID_UNDEF}`), { cmd: 'get_peer', ifname: 'tun0', ifindex: 5 });
    assert.deepEqual(invalid('del_peer tun0 16777216'), {
      status: -1,
      message: 'peer ID value out of range',
    });
  });

  it('key commands: slots 1/2, key id 0..2, ciphers, key direction', () => {
    assert.deepEqual(ok('new_key tun0 1 2 1 chachapoly 0 data64.key'), {
      cmd: 'new_key',
      ifname: 'tun0',
      ifindex: 5,
      peerId: 1,
      slot: 'secondary',
      keyId: 1,
      cipher: 'chacha20-poly1305',
      keyDir: 0,
      keyFile: 'data64.key',
    });
    const aes = ok('new_key tun0 1 1 0 aes 1 k');
    assert.equal(aes.cmd === 'new_key' && aes.cipher, 'aes-gcm');
    const none = ok('new_key tun0 1 1 0 none 1 k');
    assert.equal(none.cmd === 'new_key' && none.cipher, 'none');
    // the peer ID is not range-checked by the key commands: the daemon answers ERANGE
    const big = ok('new_key tun0 16777216 1 0 aes 1 k');
    assert.equal(big.cmd === 'new_key' && big.peerId, 16777216);
    assert.deepEqual(invalid('new_key tun0 1 3 0 aes 1 k'), { status: -1, message: 'key slot out of range' });
    assert.deepEqual(invalid('new_key tun0 1 1 3 aes 1 k'), { status: -1, message: 'key ID out of range' });
    assert.equal(invalid('new_key tun0 1 1 0 des 1 k').status, -1);
    assert.deepEqual(invalid('new_key tun0 1 1 0 aes 2 k'), {
      status: -1,
      message: 'invalid key direction provided. Can be 0 or 1 only',
    });
    assert.equal(invalid('new_key tun0 1 1 0 aes 1').status, -22);
    assert.deepEqual(ok('del_key tun0 1'), {
      cmd: 'del_key',
      ifname: 'tun0',
      ifindex: 5,
      peerId: 1,
      slot: 'primary',
    });
    assert.deepEqual(ok('del_key tun0 1 2'), {
      cmd: 'del_key',
      ifname: 'tun0',
      ifindex: 5,
      peerId: 1,
      slot: 'secondary',
    });
    assert.deepEqual(ok('get_key tun0 1 1'), {
      cmd: 'get_key',
      ifname: 'tun0',
      ifindex: 5,
      peerId: 1,
      slot: 'primary',
    });
    assert.equal(invalid('get_key tun0 1').status, -22);
    assert.deepEqual(ok('swap_keys tun0 4'), { cmd: 'swap_keys', ifname: 'tun0', ifindex: 5, peerId: 4 });
  });

  it('listen_mcast: text, --json, --duration, and the YNL cli.py form', () => {
    assert.deepEqual(ok('listen_mcast'), { cmd: 'listen_mcast', json: false, durationSec: undefined });
    assert.deepEqual(ok('listen_mcast --json --duration 40'), {
      cmd: 'listen_mcast',
      json: true,
      durationSec: 40,
    });
    assert.deepEqual(ok('--family ovpn --subscribe peers --output-json --duration 40'), {
      cmd: 'listen_mcast',
      json: true,
      durationSec: 40,
    });
    assert.equal(invalid('listen_mcast --bogus').status, -1);
    assert.equal(invalid('--family ovpn --output-json').status, -1);
  });
});
