/**
 * Key files (src/control/static-key.ts): 2.6's static key reader rules, key directions, the tls-crypt-v2
 * PEM keys, and keys written by the Debian `openvpn` binary when it is installed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  directionSlots,
  formatPem,
  formatStaticKey,
  keySlot,
  parseKeyDirection,
  parsePem,
  parseStaticKey,
  parseTlsCryptV2ClientKey,
  parseTlsCryptV2ServerKey,
  TLS_CRYPT_V2_CLIENT_PEM,
  TLS_CRYPT_V2_SERVER_PEM,
} from '../../../src/control/static-key.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import { openvpnAvailable, TEST_PKT_STATIC_KEY_HEX } from './wrap-vectors.js';

const KEY = Buffer.from(TEST_PKT_STATIC_KEY_HEX, 'hex');
const einval = (e: unknown): boolean => e instanceof OvpnError && e.code === 'EINVAL';

function keyText(hex: string, opts: { comments?: boolean; crlf?: boolean } = {}): string {
  const lines: string[] = opts.comments ? ['#', '# 2048 bit OpenVPN static key', '#'] : [];
  lines.push('-----BEGIN OpenVPN Static key V1-----');
  for (let i = 0; i < hex.length; i += 32) lines.push(hex.slice(i, i + 32));
  lines.push('-----END OpenVPN Static key V1-----', '');
  return lines.join(opts.crlf ? '\r\n' : '\n');
}

describe('static key file (2.6 read_key_file)', () => {
  it('reads the key of spec §4.6, with comments and CRLF', () => {
    assert.deepEqual(parseStaticKey(keyText(TEST_PKT_STATIC_KEY_HEX)), KEY);
    assert.deepEqual(parseStaticKey(keyText(TEST_PKT_STATIC_KEY_HEX, { comments: true, crlf: true })), KEY);
    assert.deepEqual(parseStaticKey(`<tls-auth>\n${keyText(TEST_PKT_STATIC_KEY_HEX)}</tls-auth>\n`), KEY);
    assert.equal(KEY.subarray(0, 8).toString('hex'), '37268ea8f95d7f71');
    assert.equal(KEY.subarray(252).toString('hex'), 'eeb8b9e6');
  });

  it('white space inside the hex is skipped; upper case hex is fine', () => {
    const spaced = TEST_PKT_STATIC_KEY_HEX.toUpperCase().replace(/(..)/g, '$1 ');
    assert.deepEqual(parseStaticKey(keyText(spaced)), KEY);
  });

  it('formatStaticKey writes what parseStaticKey reads', () => {
    assert.deepEqual(parseStaticKey(formatStaticKey(KEY)), KEY);
  });

  const bad: [string, string][] = [
    ['no header', TEST_PKT_STATIC_KEY_HEX],
    ['header not at line start', ` ${keyText(TEST_PKT_STATIC_KEY_HEX)}`],
    [
      'non-hex character in the data (2.6: fatal)',
      keyText(`${TEST_PKT_STATIC_KEY_HEX.slice(0, 100)}#${TEST_PKT_STATIC_KEY_HEX.slice(100)}`),
    ],
    ['128 bytes only', keyText(TEST_PKT_STATIC_KEY_HEX.slice(0, 256))],
    ['255 bytes', keyText(TEST_PKT_STATIC_KEY_HEX.slice(0, 510))],
    ['no footer', keyText(TEST_PKT_STATIC_KEY_HEX).replace('-----END OpenVPN Static key V1-----', '')],
    ['wrong footer', keyText(TEST_PKT_STATIC_KEY_HEX).replace('END OpenVPN', 'END OpenVPM')],
    ['empty', ''],
  ];
  for (const [name, text] of bad)
    it(`refuses: ${name}`, () => assert.throws(() => parseStaticKey(text), einval));

  it('bytes after the 256th are ignored up to the footer', () => {
    assert.deepEqual(parseStaticKey(keyText(`${TEST_PKT_STATIC_KEY_HEX}abcd`)), KEY);
  });
});

describe('key directions (2.6 key_direction_state_init)', () => {
  it('normal sends keys[0] and receives keys[1]; inverse the reverse; bidirectional keys[0] both', () => {
    const n = directionSlots(KEY, 'normal');
    assert.deepEqual(n.send.hmac, KEY.subarray(64, 128));
    assert.deepEqual(n.recv.hmac, KEY.subarray(192, 256));
    const i = directionSlots(KEY, 'inverse');
    assert.deepEqual(i.send.cipher, KEY.subarray(128, 192));
    assert.deepEqual(i.recv.cipher, KEY.subarray(0, 64));
    const b = directionSlots(KEY, 'bidirectional');
    assert.deepEqual(b.send, keySlot(KEY, 0));
    assert.deepEqual(b.recv, keySlot(KEY, 0));
  });

  it('key-direction arguments', () => {
    assert.equal(parseKeyDirection('0'), 'normal');
    assert.equal(parseKeyDirection('1'), 'inverse');
    assert.equal(parseKeyDirection(undefined), 'bidirectional');
    for (const a of ['2', '', 'normal', ' 1']) assert.throws(() => parseKeyDirection(a), einval);
  });

  it('a key that is not 256 bytes is refused', () => {
    assert.throws(() => directionSlots(Buffer.alloc(255), 'normal'), einval);
  });
});

describe('tls-crypt-v2 PEM keys', () => {
  it('server key: 128 bytes, Ke and Ka are the 32-byte prefixes of the two slots', () => {
    const raw = Buffer.from(Array.from({ length: 128 }, (_, i) => i));
    const k = parseTlsCryptV2ServerKey(formatPem(raw, TLS_CRYPT_V2_SERVER_PEM));
    assert.deepEqual(k.cipher, raw.subarray(0, 32));
    assert.deepEqual(k.hmac, raw.subarray(64, 96));
    assert.throws(
      () => parseTlsCryptV2ServerKey(formatPem(raw.subarray(0, 127), TLS_CRYPT_V2_SERVER_PEM)),
      einval,
    );
    assert.throws(() => parseTlsCryptV2ServerKey(formatPem(raw, TLS_CRYPT_V2_CLIENT_PEM)), einval);
  });

  it('client key: Kc then a WKc whose length field is its own length', () => {
    const wkc = Buffer.alloc(32 + 256 + 9 + 2, 7);
    wkc.writeUInt16BE(wkc.length, wkc.length - 2);
    const k = parseTlsCryptV2ClientKey(formatPem(Buffer.concat([KEY, wkc]), TLS_CRYPT_V2_CLIENT_PEM));
    assert.deepEqual(k.key2, KEY);
    assert.deepEqual(k.wkc, wkc);
    wkc.writeUInt16BE(wkc.length - 1, wkc.length - 2);
    assert.throws(
      () => parseTlsCryptV2ClientKey(formatPem(Buffer.concat([KEY, wkc]), TLS_CRYPT_V2_CLIENT_PEM)),
      einval,
    );
    assert.throws(
      () => parseTlsCryptV2ClientKey(formatPem(KEY.subarray(0, 200), TLS_CRYPT_V2_CLIENT_PEM)),
      einval,
    );
  });

  it('PEM: text before the block is skipped; bad base64 and missing END are refused', () => {
    const pem = formatPem(Buffer.from('abc'), 'X Y');
    assert.deepEqual(parsePem(`comment\n${pem}`, 'X Y', 'a'), Buffer.from('abc'));
    assert.throws(() => parsePem(pem.replace('YWJj', 'YW*j'), 'X Y', 'a'), einval);
    assert.throws(() => parsePem(pem.replace('-----END X Y-----', ''), 'X Y', 'a'), einval);
    assert.throws(() => parsePem('nothing', 'X Y', 'a'), einval);
  });
});

describe('keys written by openvpn --genkey', { skip: !openvpnAvailable() && 'openvpn not installed' }, () => {
  it('secret, tls-crypt-v2-server and tls-crypt-v2-client keys parse', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ovpn-ts-genkey-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const run = (...args: string[]): void => {
      execFileSync('openvpn', args, { cwd: dir, stdio: 'ignore' });
    };
    run('--genkey', 'secret', 's.key');
    run('--genkey', 'tls-crypt-v2-server', 'srv.key');
    run('--tls-crypt-v2', 'srv.key', '--genkey', 'tls-crypt-v2-client', 'cli.key');
    const s = readFileSync(join(dir, 's.key'), 'utf8');
    assert.ok(s.startsWith('#'));
    const key = parseStaticKey(s);
    assert.equal(key.length, 256);
    assert.deepEqual(parseStaticKey(formatStaticKey(key)), key);
    parseTlsCryptV2ServerKey(readFileSync(join(dir, 'srv.key'), 'utf8'));
    const cli = parseTlsCryptV2ClientKey(readFileSync(join(dir, 'cli.key'), 'utf8'));
    assert.equal(cli.key2.length, 256);
    assert.equal(cli.wkc.length, 32 + 256 + 9 + 2);
  });
});
