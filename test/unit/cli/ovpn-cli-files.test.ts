import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  decodeKeyText,
  KeyFileError,
  keyMaterial,
  keyNewMsg,
  readKeyFile,
} from '../../../src/cli/ovpn-cli/key-file.js';
import {
  PeersFileError,
  parseTcpPeers,
  parseUdpPeers,
  txIdFor,
} from '../../../src/cli/ovpn-cli/peers-file.js';

describe('ovpn-cli peer tables', () => {
  it('UDP 7.1 form: tx_id column, remote from columns 5/6', () => {
    const t = '1 10 10.10.1.1 1 10.10.1.2 1 5.5.5.2\n4 13 fd00:0:0:4::1 1 fd00:0:0:4::2 1 5.5.5.5\n';
    assert.deepEqual(parseUdpPeers(t), [
      { line: 1, peerId: 1, txId: 10, raddr: '10.10.1.2', rport: '1', vpnaddr: '5.5.5.2' },
      { line: 2, peerId: 4, txId: 13, raddr: 'fd00:0:0:4::2', rport: '1', vpnaddr: '5.5.5.5' },
    ]);
  });

  it('UDP 6.16 form: no tx_id column', () => {
    assert.deepEqual(parseUdpPeers('2 10.10.2.1 1 10.10.2.2 1 5.5.5.3'), [
      { line: 1, peerId: 2, raddr: '10.10.2.2', rport: '1', vpnaddr: '5.5.5.3' },
    ]);
  });

  it('TCP forms: <id> <tx_id> <vpnaddr> and <id> <vpnaddr>', () => {
    assert.deepEqual(parseTcpPeers('1 10 5.5.5.2\n\n# comment\n2 5.5.5.3\n'), [
      { line: 1, peerId: 1, txId: 10, vpnaddr: '5.5.5.2' },
      { line: 4, peerId: 2, vpnaddr: '5.5.5.3' },
    ]);
  });

  it('rejects wrong column counts and out-of-range IDs with the line number', () => {
    assert.throws(
      () => parseUdpPeers('1 10 10.10.1.1 1 10.10.1.2 1 5.5.5.2\n1 2 3'),
      (e: unknown) => e instanceof PeersFileError && e.line === 2,
    );
    assert.throws(
      () => parseTcpPeers('16777216 1 5.5.5.2'),
      (e: unknown) => e instanceof PeersFileError && /rx peer ID/.test(e.message),
    );
    assert.throws(
      () => parseTcpPeers('1 16777216 5.5.5.2'),
      (e: unknown) => e instanceof PeersFileError && /tx peer ID/.test(e.message),
    );
  });

  it('tx-id only with ASYMM, which needs the column', () => {
    const [v71] = parseTcpPeers('1 10 5.5.5.2');
    const [v616] = parseTcpPeers('1 5.5.5.2');
    assert.equal(txIdFor(v71, true), 10);
    assert.equal(txIdFor(v71, false), undefined);
    assert.equal(txIdFor(v616, false), undefined);
    assert.throws(() => txIdFor(v616, true), PeersFileError);
  });
});

describe('ovpn-cli key file', () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const oneLine = bytes.toString('base64');
  const multiLine = `${(oneLine.match(/.{1,76}/g) ?? []).join('\n')}\n`;

  it('direction 0 encrypts with key A and decrypts with key B; 1 the other way; one nonce tail', () => {
    const m0 = keyMaterial(decodeKeyText(oneLine.slice(0, 256)), 0);
    assert.deepEqual(m0.encryptKey, bytes.subarray(0, 32));
    assert.deepEqual(m0.decryptKey, bytes.subarray(32, 64));
    assert.deepEqual(m0.nonceTail, bytes.subarray(64, 72));
    const m1 = keyMaterial(decodeKeyText(oneLine.slice(0, 256)), 1);
    assert.deepEqual(m1.encryptKey, bytes.subarray(32, 64));
    assert.deepEqual(m1.decryptKey, bytes.subarray(0, 32));
    assert.deepEqual(m1.nonceTail, bytes.subarray(64, 72));
  });

  it('reads only the first 256 characters, single-line (7.1) and multi-line (6.16) files alike', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovpn-cli-key-'));
    try {
      for (const text of [oneLine, multiLine]) {
        const f = join(dir, 'k');
        writeFileSync(f, text);
        const m = readKeyFile(f, 0);
        assert.deepEqual(m.encryptKey, bytes.subarray(0, 32));
        assert.deepEqual(m.nonceTail, bytes.subarray(64, 72));
      }
      assert.equal(decodeKeyText(oneLine.slice(0, 256)).length, 192);
      assert.ok(decodeKeyText(multiLine.slice(0, 256)).length >= 189);
      assert.throws(() => readKeyFile(join(dir, 'missing'), 0), /cannot open/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs 72 decoded bytes and valid base64', () => {
    assert.throws(
      () => keyMaterial(decodeKeyText(bytes.subarray(0, 71).toString('base64')), 0),
      /found 71B but needs 72B/,
    );
    assert.throws(() => decodeKeyText('AAAA*AAA'), KeyFileError);
    assert.throws(() => decodeKeyText('AA AA'), KeyFileError);
    assert.throws(() => decodeKeyText('AA==AA'), KeyFileError);
    assert.deepEqual(decodeKeyText('AAEC  \r\nAwQF\n'), Buffer.from([0, 1, 2, 3, 4, 5]));
  });

  it('key-new message: hex keys, same nonce tail in both directions', () => {
    const m = keyMaterial(bytes, 1);
    const msg = keyNewMsg(5, { peerId: 1, slot: 'primary', keyId: 0, cipher: 'aes-gcm' }, m) as {
      ifindex: number;
      keyconf: Record<string, unknown>;
    };
    assert.equal(msg.ifindex, 5);
    assert.deepEqual(msg.keyconf['encrypt-dir'], {
      'cipher-key': bytes.subarray(32, 64).toString('hex'),
      'nonce-tail': bytes.subarray(64, 72).toString('hex'),
    });
    assert.deepEqual(msg.keyconf['decrypt-dir'], {
      'cipher-key': bytes.subarray(0, 32).toString('hex'),
      'nonce-tail': bytes.subarray(64, 72).toString('hex'),
    });
    assert.equal(msg.keyconf['cipher-alg'], 'aes-gcm');
  });
});
