import assert from 'node:assert/strict';
import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  aeadCipher,
  dataChannelKeys,
  EKM_DATA_KEYS_LABEL,
  KEY2_LEN,
  key2FromEkm,
  key2FromLegacyPrf,
  tls1Prf,
} from '../../../src/control/key-expansion.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/**
 * An independent TLS 1.0 PRF, written straight from RFC 2246 §5 in another shape: HMAC built by hand
 * from the hash (ipad/opad), the A(i) chain kept as an array, the halves taken by explicit indices.
 */
function hmacByHand(alg: 'md5' | 'sha1', key: Buffer, data: Buffer): Buffer {
  const block = 64;
  let k = key.length > block ? createHash(alg).update(key).digest() : key;
  k = Buffer.concat([k, Buffer.alloc(block - k.length)]);
  const ipad = Buffer.from(k.map((b) => b ^ 0x36));
  const opad = Buffer.from(k.map((b) => b ^ 0x5c));
  const inner = createHash(alg).update(ipad).update(data).digest();
  return createHash(alg).update(opad).update(inner).digest();
}

function prfByHand(secret: Buffer, seed: Buffer, n: number): Buffer {
  const ls = Math.floor((secret.length + 1) / 2);
  const s1 = secret.subarray(0, ls);
  const s2 = secret.subarray(secret.length - ls, secret.length);
  const expand = (alg: 'md5' | 'sha1', s: Buffer) => {
    const a: Buffer[] = [seed];
    let out = Buffer.alloc(0);
    for (let i = 1; out.length < n; i++) {
      a[i] = hmacByHand(alg, s, a[i - 1]);
      out = Buffer.concat([out, hmacByHand(alg, s, Buffer.concat([a[i], seed]))]);
    }
    return out.subarray(0, n);
  };
  const m = expand('md5', s1);
  const h = expand('sha1', s2);
  return Buffer.from(m.map((b, i) => b ^ h[i]));
}

describe('TLS 1.0 PRF', () => {
  it('matches the OpenVPN unit-test vector (test_crypto.c crypto_test_tls_prf)', () => {
    const secret = Buffer.from(
      'Lorem ipsum dolor sit amet, consectetur adipisici elit, sed eiusmod tempor incidunt ut labore et dolore magna aliqua.',
    );
    assert.equal(secret.length, 117, 'odd length: the halves overlap by one byte');
    const seed = Buffer.from('Quis aute iure reprehenderit in voluptate velit esse cillum dolore');
    const want = hex('d98c8518c85e946927916acfc2d592fbb1567e4b4b1459e6a904ac2ddab72d67');
    assert.deepEqual(tls1Prf(secret, seed, 32), want);
    assert.deepEqual(prfByHand(secret, seed, 32), want);
  });

  it('agrees with the step-by-step version on other lengths', () => {
    for (const [sl, n] of [
      [48, 48],
      [48, 256],
      [1, 20],
      [0, 16],
      [70, 100],
    ]) {
      const secret = Buffer.from(Array.from({ length: sl }, (_, i) => (i * 7 + 3) & 0xff));
      const seed = Buffer.from(`seed ${sl} ${n}`);
      assert.deepEqual(tls1Prf(secret, seed, n), prfByHand(secret, seed, n), `secret ${sl}, out ${n}`);
    }
  });
});

describe('legacy OpenVPN key expansion', () => {
  const client = {
    preMaster: Buffer.alloc(48, 0x11),
    random1: Buffer.alloc(32, 0x22),
    random2: Buffer.alloc(32, 0x33),
  };
  const server = { random1: Buffer.alloc(32, 0x44), random2: Buffer.alloc(32, 0x55) };
  const clientSessionId = hex('d79737a77a5c589e');
  const serverSessionId = hex('4511534316d86a51');

  it('is two PRF rounds with the labels, randoms and session ids of ssl.c', () => {
    const key2 = key2FromLegacyPrf({ client, server, clientSessionId, serverSessionId });
    const master = prfByHand(
      client.preMaster,
      Buffer.concat([Buffer.from('OpenVPN master secret'), client.random1, server.random1]),
      48,
    );
    const want = prfByHand(
      master,
      Buffer.concat([
        Buffer.from('OpenVPN key expansion'),
        client.random2,
        server.random2,
        clientSessionId,
        serverSessionId,
      ]),
      256,
    );
    assert.equal(key2.length, KEY2_LEN);
    assert.deepEqual(key2, want);
    // the session ids matter, in this order
    const swapped = key2FromLegacyPrf({
      client,
      server,
      clientSessionId: serverSessionId,
      serverSessionId: clientSessionId,
    });
    assert.notDeepEqual(swapped, key2);
  });

  it('checks its inputs', () => {
    assert.throws(() =>
      key2FromLegacyPrf({
        client: { ...client, preMaster: undefined },
        server,
        clientSessionId,
        serverSessionId,
      }),
    );
    assert.throws(() =>
      key2FromLegacyPrf({ client, server, clientSessionId: Buffer.alloc(4), serverSessionId }),
    );
    assert.throws(() =>
      key2FromLegacyPrf({
        client,
        server: { ...server, random1: Buffer.alloc(31) },
        clientSessionId,
        serverSessionId,
      }),
    );
  });
});

describe('key2 to data channel keys', () => {
  // §2.7: key material and packets of a live 2.6.14 session
  const key2 = Buffer.alloc(256);
  hex('fc1514409da89a32757aa4471e0ff3e1b8761dccd032693055d67ffacfda7a12').copy(key2, 0);
  hex('7a80ba210537f1dd').copy(key2, 64);
  hex('be621466f590bbd14ea39ffd01394011605f929328b90d06e2e416ce4932b643').copy(key2, 128);
  hex('7e6daeeee1eef9f0').copy(key2, 192);
  const ping = hex('2a187bf3641eb4cb07ed2d0a981fc748');
  const c2s = hex('48000000 00000001 8fa608030c38a43031545cb93dc8f020 cef7cd951d96ec15fac62cca687b32dd');
  const s2c = hex('48000000 00000001 444a6968b07d53badaddd1385ae28377 ba7962368a73bf0db9380a345fb32203');

  function open(k: { key: Buffer; nonceTail: Buffer }, wire: Buffer): Buffer {
    const nonce = Buffer.concat([wire.subarray(4, 8), k.nonceTail]);
    const d = createDecipheriv('aes-256-gcm', k.key, nonce);
    d.setAAD(wire.subarray(0, 8));
    d.setAuthTag(wire.subarray(8, 24));
    return Buffer.concat([d.update(wire.subarray(24)), d.final()]);
  }

  it('maps the directions as 2.6 does, checked by decrypting the LAB packets', () => {
    const client = dataChannelKeys(key2, 'client', 'AES-256-GCM');
    const server = dataChannelKeys(key2, 'server', 'aes-256-gcm');
    assert.equal(
      client.encrypt.key.toString('hex'),
      'fc1514409da89a32757aa4471e0ff3e1b8761dccd032693055d67ffacfda7a12',
    );
    assert.equal(client.encrypt.nonceTail.toString('hex'), '7a80ba210537f1dd');
    assert.deepEqual(server.decrypt, client.encrypt);
    assert.deepEqual(server.encrypt, client.decrypt);
    assert.deepEqual(open(server.decrypt, c2s), ping);
    assert.deepEqual(open(client.decrypt, s2c), ping);
    assert.throws(() => open(client.encrypt, s2c));
  });

  it('takes a prefix of each slot sized for the cipher', () => {
    const k = dataChannelKeys(key2, 'client', 'AES-128-GCM');
    assert.equal(k.encrypt.key.toString('hex'), 'fc1514409da89a32757aa4471e0ff3e1');
    assert.equal(k.encrypt.nonceTail.length, 8);
    assert.equal(dataChannelKeys(key2, 'server', 'CHACHA20-POLY1305').encrypt.key.length, 32);
    assert.equal(aeadCipher('aes-192-gcm').keyLen, 24);
    assert.throws(() => dataChannelKeys(key2, 'client', 'AES-256-CBC'), /AEAD/);
    assert.throws(() => dataChannelKeys(key2.subarray(1), 'client', 'AES-256-GCM'));
  });

  it('takes TLS-EKM output as key2 unchanged', () => {
    assert.equal(EKM_DATA_KEYS_LABEL, 'EXPORTER-OpenVPN-datakeys');
    const ekm = createHmac('sha256', 'x').update('y').digest();
    const full = Buffer.concat([ekm, ekm, ekm, ekm, ekm, ekm, ekm, ekm]);
    assert.deepEqual(key2FromEkm(full), full);
    assert.throws(() => key2FromEkm(full.subarray(0, 255)));
  });
});
