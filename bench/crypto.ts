/**
 * Per-packet AEAD cost for one 1400-byte DATA_V2 packet, three ways, in one run:
 *  - ovpn-ts: koffi -> OpenSSL EVP with a persistent context (src/crypto/aead.ts), in place;
 *  - node:crypto creating a cipher per packet (what a naive data path would do);
 *  - OpenSSL in C: `openssl speed -aead -evp <cipher> -bytes 1400`, which also pays a new nonce, AAD
 *    and tag per packet (encrypt only), and bench/native/aead-loop.c, the exact call sequence of
 *    aead.ts in C (built here with gcc if it is available). The two C figures agree for AES-GCM; for
 *    ChaCha20-Poly1305 `openssl speed -aead` takes OpenSSL's TLS record path, a stitched
 *    implementation that the OpenVPN packet format cannot use, so the same-sequence loop is its floor.
 * The "open" figure of ovpn-ts includes copying the 1424-byte packet into the work buffer before each
 * open (opening is in place), so it slightly overstates the cost.
 */
import { execFileSync } from 'node:child_process';
import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AeadContext } from '../src/crypto/aead.js';
import { CipherAlg } from '../src/crypto/cipher-alg.js';
import { allocPinned } from '../src/sys/address.js';
import { writeDataV2Header } from '../src/wire/data-v2.js';
import { repoRoot } from '../test/support/repo.js';
import { fmtUs, median, nsPerOp } from './stats.js';

const SIZE = 1400;

export interface CryptoResult {
  cipher: string;
  evpSealNs: number;
  evpOpenNs: number;
  nodeSealNs: number;
  nodeOpenNs: number;
  /** `openssl speed -aead`. */
  cSealNs: number | undefined;
  /** bench/native/aead-loop.c: the same calls as aead.ts, in C. */
  cSameNs: number | undefined;
}

function evpCost(alg: number): { seal: number; open: number } {
  const key = randomBytes(32);
  const tail = randomBytes(8);
  const enc = new AeadContext(alg, key, tail, 'encrypt');
  const dec = new AeadContext(alg, key, tail, 'decrypt');
  const m = allocPinned(4096);
  randomBytes(SIZE).copy(m.buf, 24);
  let pktId = 1;
  const seal = nsPerOp((n) => {
    for (let i = 0; i < n; i++) {
      writeDataV2Header(m.buf, 0, 0, 1, pktId);
      if (!enc.seal(m.buf, m.addr, 0, SIZE, pktId++)) throw new Error('seal failed');
    }
  }, 200_000);
  const wire = Buffer.from(m.buf.subarray(0, SIZE + 24));
  const id = wire.readUInt32BE(4);
  const open = nsPerOp((n) => {
    for (let i = 0; i < n; i++) {
      wire.copy(m.buf, 0);
      if (!dec.open(m.buf, m.addr, 0, SIZE, id)) throw new Error('open failed');
    }
  }, 200_000);
  enc.close();
  dec.close();
  return { seal, open };
}

function nodeCost(name: string): { seal: number; open: number } {
  const cipher = name as 'aes-256-gcm';
  const key = randomBytes(32);
  const tail = randomBytes(8);
  const iv = Buffer.alloc(12);
  tail.copy(iv, 4);
  const aad = Buffer.alloc(8);
  const pt = randomBytes(SIZE);
  let pktId = 1;
  let tag = Buffer.alloc(16);
  let ct = Buffer.alloc(0);
  const seal = nsPerOp((n) => {
    for (let i = 0; i < n; i++) {
      iv.writeUInt32BE(pktId, 0);
      aad.writeUInt32BE(pktId++, 4);
      const c = createCipheriv(cipher, key, iv, { authTagLength: 16 }) as CipherGCM;
      c.setAAD(aad, { plaintextLength: SIZE });
      ct = Buffer.concat([c.update(pt), c.final()]);
      tag = c.getAuthTag();
    }
  }, 30_000);
  const open = nsPerOp((n) => {
    for (let i = 0; i < n; i++) {
      const d = createDecipheriv(cipher, key, iv, { authTagLength: 16 }) as DecipherGCM;
      d.setAAD(aad, { plaintextLength: SIZE });
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    }
  }, 30_000);
  return { seal, open };
}

/** ns per 1400-byte packet from `openssl speed`, median of `runs`; undefined if openssl is missing. */
function cCost(name: string, runs = 3): number | undefined {
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    let out: string;
    try {
      out = execFileSync(
        'openssl',
        ['speed', '-mr', '-seconds', '1', '-aead', '-evp', name, '-bytes', `${SIZE}`],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
    } catch {
      return undefined;
    }
    const line = out.split('\n').find((l) => l.startsWith('+F:'));
    const bytesPerSec = Number(line?.split(':')[3]);
    if (!(bytesPerSec > 0)) return undefined;
    samples.push((SIZE / bytesPerSec) * 1e9);
  }
  return median(samples);
}

/** Builds bench/native/aead-loop.c against the system libcrypto; undefined if that is not possible. */
function buildAeadLoop(dir: string): string | undefined {
  const src = join(repoRoot(), 'bench', 'native', 'aead-loop.c');
  const include = existsSync('/usr/include/openssl/evp.h') ? '/usr/include' : '/usr/include/node';
  const exe = join(dir, 'aead-loop');
  try {
    execFileSync('gcc', ['-O2', `-I${include}`, src, '-o', exe, '-l:libcrypto.so.3'], { stdio: 'ignore' });
    return exe;
  } catch {
    return undefined;
  }
}

function cSameCost(exe: string | undefined, name: string): number | undefined {
  if (exe === undefined) return undefined;
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    samples.push(Number(execFileSync(exe, [name, `${SIZE}`, '300000'], { encoding: 'utf8' }).trim()));
  }
  return median(samples);
}

export function runCryptoBench(): CryptoResult[] {
  const results: CryptoResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ovpn-ts-bench-'));
  const loop = buildAeadLoop(dir);
  for (const [label, alg, nodeName] of [
    ['AES-256-GCM', CipherAlg.AES_GCM, 'aes-256-gcm'],
    ['ChaCha20-Poly1305', CipherAlg.CHACHA20_POLY1305, 'chacha20-poly1305'],
  ] as const) {
    const evp = evpCost(alg);
    const node = nodeCost(nodeName);
    results.push({
      cipher: label,
      evpSealNs: evp.seal,
      evpOpenNs: evp.open,
      nodeSealNs: node.seal,
      nodeOpenNs: node.open,
      cSealNs: cCost(nodeName),
      cSameNs: cSameCost(loop, nodeName),
    });
  }
  rmSync(dir, { recursive: true, force: true });
  return results;
}

/**
 * Prints the table and the targets of the data-channel core; returns false if one is missed:
 * every EVP figure at least 4x faster than node:crypto; AES-256-GCM seal within 2x of `openssl speed`;
 * ChaCha20-Poly1305 seal within 2x of the same call sequence in C (see the header for why).
 */
export function reportCrypto(results: CryptoResult[]): boolean {
  let ok = true;
  const col = (v: string, w = 12) => v.padStart(w);
  const us = (ns: number | undefined) => (ns === undefined ? '-' : fmtUs(ns));
  const ratio = (a: number, b: number | undefined) => (b === undefined ? '-' : `${(a / b).toFixed(2)}x`);
  console.log(`\nAEAD, one ${SIZE}-byte packet (medians; ovpn-ts and node:crypto 7 runs, C 3-5 runs)`);
  console.log(
    `${'cipher'.padEnd(18)} ${'op'.padEnd(5)}${col('ovpn-ts EVP')}${col('node:crypto')}${col('openssl spd')}${col('C same')}${col('node/EVP', 10)}${col('EVP/spd', 9)}${col('EVP/Csame', 10)}`,
  );
  for (const r of results) {
    for (const [op, evp, node, c, cSame] of [
      ['seal', r.evpSealNs, r.nodeSealNs, r.cSealNs, r.cSameNs],
      ['open', r.evpOpenNs, r.nodeOpenNs, undefined, undefined],
    ] as const) {
      console.log(
        `${r.cipher.padEnd(18)} ${op.padEnd(5)}${col(us(evp))}${col(us(node))}${col(us(c))}${col(us(cSame))}${col(`${(node / evp).toFixed(1)}x`, 10)}${col(ratio(evp, c), 9)}${col(ratio(evp, cSame), 10)}`,
      );
      if (node / evp < 4) ok = false;
    }
    const floor = r.cipher === 'AES-256-GCM' ? r.cSealNs : r.cSameNs;
    if (floor === undefined) {
      console.log(`  (no C figure for ${r.cipher}: is openssl/gcc installed?)`);
      ok = false;
    } else if (r.evpSealNs / floor > 2) ok = false;
  }
  console.log(
    'targets: EVP >= 4x faster than node:crypto; seal within 2x of C (AES-256-GCM: openssl speed;\n' +
      `  ChaCha20-Poly1305: the same calls in C, since openssl speed uses the TLS stitched path) -> ${ok ? 'MET' : 'MISSED'}`,
  );
  return ok;
}
