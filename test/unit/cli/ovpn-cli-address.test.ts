import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AddressError,
  parsePort,
  remoteAttrs,
  resolveHost,
  vpnAttrs,
} from '../../../src/cli/ovpn-cli/address.js';

const ifindex = (name: string) => (name === 'veth1' ? 7 : 0);

describe('ovpn-cli addresses', () => {
  it('numeric IPv4 and IPv6, with the scope of an IPv6 address as its id', async () => {
    assert.deepEqual(await resolveHost('10.10.1.2', 0, ifindex), {
      family: 4,
      address: '10.10.1.2',
      scopeId: 0,
    });
    assert.deepEqual(await resolveHost('fd00:0:0:4::2', 0, ifindex), {
      family: 6,
      address: 'fd00:0:0:4::2',
      scopeId: 0,
    });
    assert.deepEqual(await resolveHost('fe80::1%veth1', 0, ifindex), {
      family: 6,
      address: 'fe80::1',
      scopeId: 7,
    });
    assert.deepEqual(await resolveHost('fe80::1%3', 0, ifindex), {
      family: 6,
      address: 'fe80::1',
      scopeId: 3,
    });
    await assert.rejects(resolveHost('fe80::1%nosuch', 0, ifindex), AddressError);
  });

  it('a family hint refuses the other family (connect is IPv4 only)', async () => {
    await assert.rejects(resolveHost('::1', 4, ifindex), AddressError);
    await assert.rejects(resolveHost('127.0.0.1', 6, ifindex), AddressError);
    assert.equal((await resolveHost('127.0.0.1', 4, ifindex)).family, 4);
  });

  it('ports are decimal 0..65535', () => {
    assert.equal(parsePort('1'), 1);
    assert.equal(parsePort('65535'), 65535);
    assert.throws(() => parsePort('65536'), AddressError);
    assert.throws(() => parsePort('x1'), AddressError);
  });

  it('peer-new attributes', () => {
    assert.deepEqual(remoteAttrs({ family: 4, address: '10.0.0.1', scopeId: 0 }, 1), {
      'remote-ipv4': '10.0.0.1',
      'remote-port': 1,
    });
    assert.deepEqual(remoteAttrs({ family: 6, address: 'fe80::1', scopeId: 7 }, 2), {
      'remote-ipv6': 'fe80::1',
      'remote-ipv6-scope-id': 7,
      'remote-port': 2,
    });
    assert.deepEqual(vpnAttrs({ family: 6, address: 'fd00::2', scopeId: 0 }), { 'vpn-ipv6': 'fd00::2' });
  });
});
