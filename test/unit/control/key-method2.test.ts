import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildPeerInfo,
  decodeKeyMethod2,
  encodeKeyMethod2,
  IvProto,
  ivProtoFor,
  type KeyMethod2Message,
  parsePeerInfo,
} from '../../../src/control/key-method2.js';

const fill = (n: number, v: number) => Buffer.alloc(n, v);
const OCC =
  'V4,dev-type tun,link-mtu 1549,tun-mtu 1500,proto UDPv4,cipher AES-256-GCM,auth [null-digest],keysize 256,key-method 2,tls-client';

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const str = (s: string) => Buffer.concat([u16(Buffer.byteLength(s) + 1), Buffer.from(s), Buffer.alloc(1)]);

describe('key-method 2 message', () => {
  it('lays out a client message byte by byte', () => {
    const msg: KeyMethod2Message = {
      keySource: { preMaster: fill(48, 0xaa), random1: fill(32, 0xbb), random2: fill(32, 0xcc) },
      options: OCC,
      username: 'alice',
      password: '',
      peerInfo: 'IV_VER=0.1\n',
    };
    const want = Buffer.concat([
      Buffer.from('0000000002', 'hex'),
      fill(48, 0xaa),
      fill(32, 0xbb),
      fill(32, 0xcc),
      str(OCC),
      str('alice'),
      Buffer.from('000100', 'hex'), // an empty password is written with its NUL
      str('IV_VER=0.1\n'),
    ]);
    const got = encodeKeyMethod2(msg, 'client');
    assert.deepEqual(got, want);
    assert.deepEqual(decodeKeyMethod2(got, 'client'), { ...msg, credentialsTooLong: false });
  });

  it('lays out a server message: no pre-master, three absent strings', () => {
    const msg: KeyMethod2Message = {
      keySource: { random1: fill(32, 1), random2: fill(32, 2) },
      options: OCC.replace('tls-client', 'tls-server'),
    };
    const got = encodeKeyMethod2(msg, 'server');
    assert.equal(got.length, 5 + 64 + 2 + OCC.length + 1 + 6);
    assert.deepEqual(got.subarray(-6), Buffer.alloc(6));
    const back = decodeKeyMethod2(got, 'server');
    assert.equal(back.keySource.preMaster, undefined);
    assert.deepEqual(back.keySource.random2, fill(32, 2));
    assert.equal(back.options, msg.options);
    assert.equal(back.username, undefined);
    assert.equal(back.peerInfo, undefined);
  });

  it('reads as the source does: skips the leading word, checks the low 4 bits, drops what follows', () => {
    const msg: KeyMethod2Message = {
      keySource: { random1: fill(32, 1), random2: fill(32, 2) },
      options: 'V4',
    };
    const b = Buffer.concat([encodeKeyMethod2(msg, 'server'), Buffer.from('PUSH_REPLY\0')]);
    b.writeUInt32BE(0xdeadbeef, 0);
    b[4] = 0x12;
    assert.equal(decodeKeyMethod2(b, 'server').options, 'V4');
    b[4] = 0x01;
    assert.throws(() => decodeKeyMethod2(b, 'server'), /unknown key method/);
  });

  it('flags over-long credentials instead of failing, and rejects a bad options string', () => {
    const long = 'x'.repeat(128); // 129 with the NUL
    const msg: KeyMethod2Message = {
      keySource: { preMaster: fill(48, 0), random1: fill(32, 1), random2: fill(32, 2) },
      options: 'V4',
      username: 'bob',
      password: long,
      peerInfo: 'IV_PROTO=2\n',
    };
    const d = decodeKeyMethod2(encodeKeyMethod2(msg, 'client'), 'client');
    assert.equal(d.credentialsTooLong, true);
    assert.equal(d.password, undefined);
    assert.equal(d.peerInfo, 'IV_PROTO=2\n', 'the peer-info after a skipped password is still read');
    assert.equal(
      decodeKeyMethod2(encodeKeyMethod2({ ...msg, password: long.slice(1) }, 'client'), 'client').password,
      long.slice(1),
    );
    assert.throws(() => encodeKeyMethod2({ ...msg, options: 'o'.repeat(512) }, 'client'), /more than 511/);
    assert.doesNotThrow(() => encodeKeyMethod2({ ...msg, options: 'o'.repeat(511) }, 'client'));
    const tooLongOcc = Buffer.concat([
      Buffer.from('0000000002', 'hex'),
      fill(64, 0),
      str('o'.repeat(512)),
      u16(0),
      u16(0),
    ]);
    assert.throws(() => decodeKeyMethod2(tooLongOcc, 'server'), /options string/);
  });

  it('treats a zero-length options string as empty and a cut-short peer-info as absent', () => {
    const b = Buffer.concat([
      Buffer.from('0000000002', 'hex'),
      fill(64, 0),
      u16(0),
      u16(0),
      u16(0),
      u16(50),
      Buffer.from('IV_'),
    ]);
    const d = decodeKeyMethod2(b, 'server');
    assert.equal(d.options, '');
    assert.equal(d.peerInfo, undefined);
  });

  it('rejects short or malformed input and bad arguments', () => {
    const msg: KeyMethod2Message = {
      keySource: { preMaster: fill(48, 0), random1: fill(32, 1), random2: fill(32, 2) },
      options: 'V4',
    };
    const b = encodeKeyMethod2(msg, 'client');
    for (const cut of [0, 3, 5, 50, 100, 117, 118, 121, b.length - 3]) {
      assert.throws(() => decodeKeyMethod2(b.subarray(0, cut), 'client'), /key-method 2/, `cut at ${cut}`);
    }
    assert.throws(() => encodeKeyMethod2(msg, 'server'), /no pre-master/);
    assert.throws(() =>
      encodeKeyMethod2({ ...msg, keySource: { random1: fill(32, 1), random2: fill(32, 2) } }, 'client'),
    );
    assert.throws(() => encodeKeyMethod2({ ...msg, username: 'a' }, 'client'), /together/);
    assert.throws(() => encodeKeyMethod2({ ...msg, username: 'a\0b', password: 'c' }, 'client'), /NUL/);
  });
});

describe('peer-info', () => {
  const ciphers = ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'];

  it('reproduces the LAB block of a 2.6.14 client when asked for the same features', () => {
    const info = buildPeerInfo({
      version: '2.6.14',
      dataCiphers: ciphers,
      features: { authPendingKeywords: true, authFailTemp: true, dnsOption: true, dynTlsCrypt: true },
      compressionStubs: true,
    });
    assert.equal(
      info,
      'IV_VER=2.6.14\nIV_PLAT=linux\nIV_TCPNL=1\nIV_MTU=1600\nIV_NCP=2\n' +
        'IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\nIV_PROTO=990\n' +
        'IV_LZO_STUB=1\nIV_COMP_STUB=1\nIV_COMP_STUBv2=1\n',
    );
  });

  it('announces by default only what ovpn-ts does: DATA_V2, request-push, TLS-EKM, cc-exit', () => {
    const o = { version: '2.6.14', dataCiphers: ['CHACHA20-POLY1305', 'AES-256-GCM'] };
    assert.equal(ivProtoFor(o), 142);
    assert.equal(
      ivProtoFor(o),
      IvProto.DATA_V2 | IvProto.REQUEST_PUSH | IvProto.TLS_KEY_EXPORT | IvProto.CC_EXIT_NOTIFY,
    );
    const vars = parsePeerInfo(buildPeerInfo(o));
    assert.equal(vars.get('IV_PROTO'), '142');
    assert.equal(vars.has('IV_NCP'), false, 'IV_NCP=2 needs both AES-GCM sizes');
    assert.equal(vars.get('IV_CIPHERS'), 'CHACHA20-POLY1305:AES-256-GCM');
    assert.equal(ivProtoFor({ ...o, pull: false, features: { authFailTemp: true } }), 2 | 8 | 128);
  });

  it('passes setenv variables through the 2.6 filter', () => {
    const env = [
      ['UV_GROUP', 'ops'],
      ['IV_GUI_VER', 'ovpn-ts 0.1'],
      ['IV_SSO', 'webauth'],
      ['OTHER', 'x'],
    ] as const;
    const plain = buildPeerInfo({ version: '1', dataCiphers: ['AES-256-GCM'], env });
    assert.match(plain, /IV_GUI_VER=ovpn-ts 0\.1\nIV_SSO=webauth\n$/);
    assert.doesNotMatch(plain, /UV_GROUP|OTHER/);
    const detailed = buildPeerInfo({
      version: '1',
      dataCiphers: ['AES-256-GCM'],
      env,
      pushPeerInfo: true,
      sslVersion: 'OpenSSL 3.0.19',
      platformVersion: '6.1.0',
    });
    assert.match(detailed, /IV_SSL=OpenSSL 3\.0\.19\nIV_PLAT_VER=6\.1\.0\nUV_GROUP=ops\nIV_GUI_VER/);
    assert.throws(() => buildPeerInfo({ version: '1\nIV_PROTO=990', dataCiphers: [] }));
  });
});
