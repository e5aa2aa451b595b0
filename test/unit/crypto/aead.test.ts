import assert from 'node:assert/strict';
import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { AeadContext } from '../../../src/crypto/aead.js';
import { CipherAlg } from '../../../src/crypto/cipher-alg.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import { writeDataV2Header } from '../../../src/wire/data-v2.js';
import { plaintextAt, wireAt } from '../../support/packets.js';
import { readVector } from '../../support/repo.js';

interface Vectors {
  keys: Record<string, { cipherKey: string; nonceTail: string }>;
  packets: {
    direction: string;
    keyId: number;
    peerId: number;
    packetId: number;
    plaintext: string;
    wire: string;
    tag: string;
    ciphertext: string;
  }[];
}
const vectors = readVector<Vectors>('openvpn-2.6.14-aes-256-gcm.json');
const hex = (s: string) => Buffer.from(s, 'hex');

describe('AEAD against the OpenVPN 2.6.14 capture', () => {
  for (const pkt of vectors.packets) {
    const k = vectors.keys[pkt.direction];
    const wire = Buffer.concat([hex(pkt.wire), hex(pkt.tag), hex(pkt.ciphertext)]);

    it(`seal reproduces the ${pkt.direction} packet byte for byte`, () => {
      const enc = new AeadContext(CipherAlg.AES_GCM, hex(k.cipherKey), hex(k.nonceTail), 'encrypt');
      const p = plaintextAt(hex(pkt.plaintext), 7);
      writeDataV2Header(p.buf, 7, pkt.keyId, pkt.peerId, pkt.packetId);
      assert.ok(enc.seal(p.buf, p.addr, 7, 16, pkt.packetId));
      assert.equal(p.buf.subarray(7, 7 + wire.length).toString('hex'), wire.toString('hex'));
      enc.close();
    });

    it(`open authenticates and decrypts the ${pkt.direction} packet`, () => {
      const dec = new AeadContext(CipherAlg.AES_GCM, hex(k.cipherKey), hex(k.nonceTail), 'decrypt');
      const p = wireAt(wire, 3);
      assert.ok(dec.open(p.buf, p.addr, 3, 16, pkt.packetId));
      assert.equal(p.buf.subarray(3 + 24, 3 + 40).toString('hex'), pkt.plaintext);
      dec.close();
    });

    it(`changing any byte of the ${pkt.direction} packet makes authentication fail`, () => {
      const dec = new AeadContext(CipherAlg.AES_GCM, hex(k.cipherKey), hex(k.nonceTail), 'decrypt');
      const p = wireAt(wire);
      for (let i = 0; i < wire.length; i++) {
        for (const flip of [0x01, 0x80]) {
          wire.copy(p.buf, 0);
          p.buf[i] ^= flip;
          const id = p.buf.readUInt32BE(4);
          assert.equal(dec.open(p.buf, p.addr, 0, 16, id), false, `byte ${i} ^ ${flip} still authenticated`);
        }
      }
      // and the untouched packet still opens with the same context afterwards
      wire.copy(p.buf, 0);
      assert.ok(dec.open(p.buf, p.addr, 0, 16, pkt.packetId));
      dec.close();
    });
  }

  it('a packet opened with the other direction key fails', () => {
    const k = vectors.keys.serverToClient;
    const pkt = vectors.packets[0];
    const dec = new AeadContext(CipherAlg.AES_GCM, hex(k.cipherKey), hex(k.nonceTail), 'decrypt');
    const p = wireAt(Buffer.concat([hex(pkt.wire), hex(pkt.tag), hex(pkt.ciphertext)]));
    assert.equal(dec.open(p.buf, p.addr, 0, 16, 1), false);
    dec.close();
  });
});

// node:crypto's typings split GCM and ChaCha names into overloads; the cast below picks the AEAD one,
// which both share at run time.
const CIPHERS = [
  { alg: CipherAlg.AES_GCM, keyLen: 16, node: 'aes-128-gcm' },
  { alg: CipherAlg.AES_GCM, keyLen: 24, node: 'aes-192-gcm' },
  { alg: CipherAlg.AES_GCM, keyLen: 32, node: 'aes-256-gcm' },
  { alg: CipherAlg.CHACHA20_POLY1305, keyLen: 32, node: 'chacha20-poly1305' },
] as const;

describe('round trips cross-checked with node:crypto', () => {
  for (const c of CIPHERS) {
    for (const len of [1, 16, 100, 1400, 9000]) {
      it(`${c.node}, ${len} bytes, both directions`, () => {
        // Two key directions, as two peers hold them: A encrypts with k1/t1 and decrypts with k2/t2.
        const k1 = randomBytes(c.keyLen);
        const k2 = randomBytes(c.keyLen);
        const t1 = randomBytes(8);
        const t2 = randomBytes(8);
        const aEnc = new AeadContext(c.alg, k1, t1, 'encrypt');
        const bDec = new AeadContext(c.alg, k1, t1, 'decrypt');
        const bEnc = new AeadContext(c.alg, k2, t2, 'encrypt');
        const aDec = new AeadContext(c.alg, k2, t2, 'decrypt');
        for (const [enc, dec, key, tail] of [
          [aEnc, bDec, k1, t1],
          [bEnc, aDec, k2, t2],
        ] as const) {
          const pt = randomBytes(len);
          const pktId = 1 + Math.floor(Math.random() * 0xfffffffe);
          const p = plaintextAt(pt);
          writeDataV2Header(p.buf, 0, 3, 0x123456, pktId);
          assert.ok(enc.seal(p.buf, p.addr, 0, len, pktId));
          const wire = Buffer.from(p.buf.subarray(0, 24 + len));

          // node:crypto opens what we sealed
          const iv = Buffer.concat([wire.subarray(4, 8), tail]);
          const d = createDecipheriv(c.node as 'aes-256-gcm', key, iv, { authTagLength: 16 }) as DecipherGCM;
          d.setAAD(wire.subarray(0, 8), { plaintextLength: len });
          d.setAuthTag(wire.subarray(8, 24));
          const viaNode = Buffer.concat([d.update(wire.subarray(24)), d.final()]);
          assert.ok(viaNode.equals(pt));

          // node:crypto seals the same bytes as we do
          const n = createCipheriv(c.node as 'aes-256-gcm', key, iv, { authTagLength: 16 }) as CipherGCM;
          n.setAAD(wire.subarray(0, 8), { plaintextLength: len });
          const ct = Buffer.concat([n.update(pt), n.final()]);
          assert.ok(ct.equals(wire.subarray(24)));
          assert.ok(n.getAuthTag().equals(wire.subarray(8, 24)));

          // and we open it
          const q = wireAt(wire);
          assert.ok(dec.open(q.buf, q.addr, 0, len, pktId));
          assert.ok(q.buf.subarray(24, 24 + len).equals(pt));
        }
        for (const x of [aEnc, bDec, bEnc, aDec]) x.close();
      });
    }
  }

  it('a wrong nonce tail or packet-id fails authentication', () => {
    const key = randomBytes(32);
    const tail = randomBytes(8);
    const enc = new AeadContext(CipherAlg.CHACHA20_POLY1305, key, tail, 'encrypt');
    const p = plaintextAt(randomBytes(64));
    writeDataV2Header(p.buf, 0, 0, 1, 5);
    assert.ok(enc.seal(p.buf, p.addr, 0, 64, 5));
    const wire = Buffer.from(p.buf.subarray(0, 88));
    const otherTail = Buffer.from(tail);
    otherTail[7] ^= 1;
    const wrongTail = new AeadContext(CipherAlg.CHACHA20_POLY1305, key, otherTail, 'decrypt');
    const q = wireAt(wire);
    assert.equal(wrongTail.open(q.buf, q.addr, 0, 64, 5), false);
    const right = new AeadContext(CipherAlg.CHACHA20_POLY1305, key, tail, 'decrypt');
    wire.copy(q.buf);
    assert.equal(right.open(q.buf, q.addr, 0, 64, 6), false, 'nonce from another packet-id');
    for (const x of [enc, wrongTail, right]) x.close();
  });
});

describe('AeadContext setup and lifetime', () => {
  it('refuses cipher none, bad key lengths and bad nonce tails with EINVAL', () => {
    const cases: [number, number, number][] = [
      [CipherAlg.NONE, 32, 8],
      [CipherAlg.AES_GCM, 31, 8],
      [CipherAlg.AES_GCM, 0, 8],
      [CipherAlg.CHACHA20_POLY1305, 16, 8],
      [3, 32, 8],
      [CipherAlg.AES_GCM, 32, 7],
      [CipherAlg.AES_GCM, 32, 12],
    ];
    for (const [alg, keyLen, tailLen] of cases) {
      assert.throws(
        () => new AeadContext(alg, Buffer.alloc(keyLen), Buffer.alloc(tailLen), 'encrypt'),
        (e: unknown) => e instanceof OvpnError && e.code === 'EINVAL' && e.errno === 22,
        `alg ${alg} key ${keyLen} tail ${tailLen}`,
      );
    }
  });

  it('after close, seal and open refuse instead of touching freed memory', () => {
    const enc = new AeadContext(CipherAlg.AES_GCM, randomBytes(16), randomBytes(8), 'encrypt');
    const dec = new AeadContext(CipherAlg.AES_GCM, randomBytes(16), randomBytes(8), 'decrypt');
    enc.close();
    enc.close();
    dec.close();
    assert.ok(enc.closed);
    const p = plaintextAt(Buffer.alloc(10));
    assert.equal(enc.seal(p.buf, p.addr, 0, 10, 1), false);
    assert.equal(dec.open(p.buf, p.addr, 0, 10, 1), false);
  });

  it('refuses a packet that does not fit in the buffer', () => {
    const enc = new AeadContext(CipherAlg.AES_GCM, randomBytes(16), randomBytes(8), 'encrypt');
    const p = plaintextAt(Buffer.alloc(10), 0, 4096);
    assert.equal(enc.seal(p.buf, p.addr, 4096 - 30, 10, 1), false);
    assert.equal(enc.seal(p.buf, p.addr, -1, 10, 1), false);
    enc.close();
  });
});
