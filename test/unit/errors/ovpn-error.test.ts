import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERRNO, einval, enoent, OvpnError } from '../../../src/errors/ovpn-error.js';

describe('OvpnError', () => {
  it('carries code, Linux errno, message and attribute', () => {
    const e = einval('remote-port needs a remote address', 'remote-port');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'OvpnError');
    assert.equal(e.code, 'EINVAL');
    assert.equal(e.errno, 22);
    assert.equal(e.attr, 'remote-port');
    assert.equal(enoent('no such peer').errno, 2);
  });

  it('maps every code to the Linux errno number', () => {
    const linux: Record<string, number> = {
      EPERM: 1,
      ENOENT: 2,
      EIO: 5,
      EAGAIN: 11,
      ENOMEM: 12,
      EBUSY: 16,
      EEXIST: 17,
      ENODEV: 19,
      EINVAL: 22,
      ENOSPC: 28,
      ERANGE: 34,
      ENOTSOCK: 88,
      EOPNOTSUPP: 95,
      EAFNOSUPPORT: 97,
      EADDRINUSE: 98,
    };
    assert.deepEqual({ ...ERRNO }, linux);
    for (const code of Object.keys(ERRNO) as (keyof typeof ERRNO)[]) {
      assert.equal(new OvpnError(code, 'x').errno, linux[code]);
    }
  });
});
