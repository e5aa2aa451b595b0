/**
 * tls-crypt-v2 (src/control/wrap/tls-crypt-v2.ts): WKc wrap/unwrap against keys written by the Debian
 * `openvpn` binary (our wrap of its Kc and metadata must give its WKc byte for byte), the client's V3 and
 * WKC_V1 packets through the server side, and the typed drops.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EARLY_NEG_START } from '../../../src/control/packet.js';
import {
  parseTlsCryptV2ClientKey,
  parseTlsCryptV2ServerKey,
  tlsCryptV2ServerKey,
} from '../../../src/control/static-key.js';
import {
  announcesEarlyNegotiation,
  METADATA_TYPE_TIMESTAMP,
  METADATA_TYPE_USER,
  splitWkc,
  TlsCryptV2ClientWrap,
  TlsCryptV2ServerWrap,
  timestampMetadata,
  unwrapClientKey,
  wrapClientKey,
} from '../../../src/control/wrap/tls-crypt-v2.js';
import { WrapError } from '../../../src/control/wrap/wrap.js';
import { OvpnError } from '../../../src/errors/ovpn-error.js';
import { openvpnAvailable } from './wrap-vectors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const NOW = 1_700_000_000;
const SERVER = tlsCryptV2ServerKey(randomBytes(128));
const KC = randomBytes(256);
const CLIENT = { key2: KC, wkc: wrapClientKey(SERVER, KC, timestampMetadata(BigInt(NOW))) };
const RESET_V3 = hex('50 0102030405060708 00 00000000');

describe('tls-crypt-v2 wrapped client key', () => {
  it('WKc = tag | ciphertext | len; unwrap gives Kc and metadata back', () => {
    assert.equal(CLIENT.wkc.length, 32 + 256 + 9 + 2);
    assert.equal(CLIENT.wkc.readUInt16BE(CLIENT.wkc.length - 2), CLIENT.wkc.length);
    const k = unwrapClientKey(SERVER, CLIENT.wkc);
    assert.ok(!(k instanceof WrapError));
    assert.deepEqual(k.key2, KC);
    assert.equal(k.metadata[0], METADATA_TYPE_TIMESTAMP);
    assert.equal(k.metadata.readBigUInt64BE(1), BigInt(NOW));
  });

  it('drops: wrong server key, tampering, bad length field, too long', () => {
    assert.equal(unwrapClientKey(tlsCryptV2ServerKey(randomBytes(128)), CLIENT.wkc), WrapError.WKC_AUTH);
    for (const at of [0, 20, 40, 200, 296]) {
      const bad = Buffer.from(CLIENT.wkc);
      bad[at] ^= 1;
      assert.equal(unwrapClientKey(SERVER, bad), WrapError.WKC_AUTH, `flip at ${at}`);
    }
    const badLen = Buffer.from(CLIENT.wkc);
    badLen.writeUInt16BE(badLen.length + 1, badLen.length - 2);
    assert.equal(unwrapClientKey(SERVER, badLen), WrapError.WKC_LENGTH);
    assert.equal(unwrapClientKey(SERVER, Buffer.alloc(1)), WrapError.WKC_LENGTH);
    const big = Buffer.alloc(1025);
    big.writeUInt16BE(1025, 1023);
    assert.equal(unwrapClientKey(SERVER, big), WrapError.WKC_LENGTH);
    // authenticates but holds less than a Kc: the tag covers it, so build one on purpose
    assert.throws(() => wrapClientKey(SERVER, KC, Buffer.alloc(0)), OvpnError);
    assert.throws(() => wrapClientKey(SERVER, KC, Buffer.alloc(735)), OvpnError);
    assert.equal(wrapClientKey(SERVER, KC, Buffer.alloc(734)).length, 1024);
  });
});

describe('tls-crypt-v2 packets', () => {
  it('the client reset V3 carries the WKc after the tls-crypt part and an early-negotiation id', () => {
    const client = new TlsCryptV2ClientWrap({ clientKey: CLIENT });
    const w = client.wrap(RESET_V3, NOW);
    assert.equal(w.length, RESET_V3.length + 40 + CLIENT.wkc.length);
    assert.deepEqual(w.subarray(w.length - CLIENT.wkc.length), CLIENT.wkc);
    assert.equal(w.readUInt32BE(9), EARLY_NEG_START + 1);
    assert.ok(announcesEarlyNegotiation(w));
    const split = splitWkc(w);
    assert.ok(!(split instanceof WrapError));
    assert.deepEqual(split.wkc, CLIENT.wkc);
    const noEarly = new TlsCryptV2ClientWrap({ clientKey: CLIENT, earlyNegotiation: false }).wrap(
      RESET_V3,
      NOW,
    );
    assert.equal(noEarly.readUInt32BE(9), 1);
    assert.ok(!announcesEarlyNegotiation(noEarly));
  });

  it('server: V3 sets up Kc, then plain tls-crypt both ways; P_CONTROL_WKC_V1 later is accepted too', () => {
    const client = new TlsCryptV2ClientWrap({ clientKey: CLIENT });
    const server = new TlsCryptV2ServerWrap({ serverKey: SERVER });
    const ctl = hex('20 0102030405060708 01 00000000 1112131415161718 00000001 160301');
    assert.equal(
      server.unwrap(client.wrap(ctl, NOW), NOW),
      WrapError.NO_CLIENT_KEY,
      'CONTROL_V1 before any WKc',
    );
    assert.throws(() => server.wrap(ctl, NOW), OvpnError);
    assert.deepEqual(server.unwrap(client.wrap(RESET_V3, NOW), NOW), RESET_V3);
    assert.equal(server.hasClientKey, true);
    assert.equal(server.metadata?.[0], METADATA_TYPE_TIMESTAMP);
    const reply = hex('40 1111111111111111 01 00000000 0102030405060708 00000000');
    assert.deepEqual(client.unwrap(server.wrap(reply, NOW), NOW), reply);
    const wkcV1 = hex('58 0102030405060708 01 00000000 1111111111111111 00000001');
    const w = client.wrap(wkcV1, NOW);
    assert.deepEqual(w.subarray(w.length - CLIENT.wkc.length), CLIENT.wkc);
    assert.deepEqual(server.unwrap(w, NOW), wkcV1);
    assert.deepEqual(server.unwrap(client.wrap(ctl, NOW), NOW), ctl);
    assert.equal(server.unwrap(w, NOW), WrapError.REPLAY);
  });

  it('server drops: a WKc from another server key, a good WKc on a forged packet, bad lengths', () => {
    const client = new TlsCryptV2ClientWrap({ clientKey: CLIENT });
    const other = new TlsCryptV2ServerWrap({ serverKey: tlsCryptV2ServerKey(randomBytes(128)) });
    assert.equal(other.unwrap(client.wrap(RESET_V3, NOW), NOW), WrapError.WKC_AUTH);
    const server = new TlsCryptV2ServerWrap({ serverKey: SERVER });
    const forged = client.wrap(RESET_V3, NOW);
    forged[20] ^= 1;
    assert.equal(server.unwrap(forged, NOW), WrapError.AUTH);
    assert.equal(server.hasClientKey, false, 'a forged packet with a replayed WKc sets up nothing');
    const w = client.wrap(RESET_V3, NOW);
    w.writeUInt16BE(w.length, w.length - 2);
    assert.equal(server.unwrap(w, NOW), WrapError.WKC_LENGTH);
    assert.equal(server.unwrap(hex('50 00'), NOW), WrapError.WKC_LENGTH);
    assert.equal(server.unwrap(Buffer.alloc(0), NOW), WrapError.SHORT);
  });
});

describe('keys from openvpn --genkey', { skip: !openvpnAvailable() && 'openvpn not installed' }, () => {
  it('our WKc of its Kc and metadata equals its WKc; the server side unwraps it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ovpn-ts-tcv2-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const run = (...args: string[]): void => {
      execFileSync('openvpn', args, { cwd: dir, stdio: 'ignore' });
    };
    run('--genkey', 'tls-crypt-v2-server', 'srv.key');
    run('--tls-crypt-v2', 'srv.key', '--genkey', 'tls-crypt-v2-client', 'cli.key');
    run(
      '--tls-crypt-v2',
      'srv.key',
      '--genkey',
      'tls-crypt-v2-client',
      'user.key',
      Buffer.from('hello').toString('base64'),
    );
    const server = parseTlsCryptV2ServerKey(readFileSync(join(dir, 'srv.key'), 'utf8'));
    for (const [file, type] of [
      ['cli.key', METADATA_TYPE_TIMESTAMP],
      ['user.key', METADATA_TYPE_USER],
    ] as const) {
      const cli = parseTlsCryptV2ClientKey(readFileSync(join(dir, file), 'utf8'));
      const k = unwrapClientKey(server, cli.wkc);
      assert.ok(!(k instanceof WrapError), `${file}: ${k instanceof WrapError ? k.reason : ''}`);
      assert.deepEqual(k.key2, cli.key2);
      assert.equal(k.metadata[0], type);
      if (type === METADATA_TYPE_USER) assert.equal(k.metadata.subarray(1).toString(), 'hello');
      else assert.ok(Math.abs(Number(k.metadata.readBigUInt64BE(1)) - Date.now() / 1000) < 600);
      assert.deepEqual(wrapClientKey(server, cli.key2, k.metadata), cli.wkc);
      const wrapped = new TlsCryptV2ClientWrap({ clientKey: cli }).wrap(RESET_V3, NOW);
      assert.deepEqual(new TlsCryptV2ServerWrap({ serverKey: server }).unwrap(wrapped, NOW), RESET_V3);
    }
  });
});
