/**
 * tls-crypt-v2-verify (src/openvpn/server/tls-crypt-v2-verify.ts): metadata of client keys made by
 * stock `openvpn --genkey tls-crypt-v2-client` (type 1 timestamp without metadata, type 0 with),
 * unwrapped with the server key by control/wrap/tls-crypt-v2.ts; the script's own small environment
 * and metadata file, with a scripted runner and with a real script.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTlsCryptV2ClientKey, parseTlsCryptV2ServerKey } from '../../../../src/control/static-key.js';
import { unwrapClientKey } from '../../../../src/control/wrap/tls-crypt-v2.js';
import { WrapError } from '../../../../src/control/wrap/wrap.js';
import { spawnScriptRunner } from '../../../../src/openvpn/server/script-runner.js';
import { nodeTempFiles } from '../../../../src/openvpn/server/temp-file.js';
import {
  describeTlsCryptV2Metadata,
  parseTlsCryptV2Metadata,
  runTlsCryptV2Verify,
} from '../../../../src/openvpn/server/tls-crypt-v2-verify.js';
import { FakeRunner, FakeTemp } from './fakes.js';

describe('tls-crypt-v2-verify', () => {
  let dir: string;
  const metadataOf = (file: string): Buffer => {
    const server = parseTlsCryptV2ServerKey(readFileSync(join(dir, 's.key'), 'utf8'));
    const client = parseTlsCryptV2ClientKey(readFileSync(join(dir, file), 'utf8'));
    const k = unwrapClientKey(server, client.wkc);
    assert.ok(!(k instanceof WrapError));
    return k.metadata;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sa-tcv2-'));
    const ovpn = (...a: string[]) => execFileSync('openvpn', a, { cwd: dir, stdio: 'pipe' });
    ovpn('--genkey', 'tls-crypt-v2-server', 's.key');
    ovpn('--tls-crypt-v2', 's.key', '--genkey', 'tls-crypt-v2-client', 'c-time.key');
    ovpn(
      '--tls-crypt-v2',
      's.key',
      '--genkey',
      'tls-crypt-v2-client',
      'c-user.key',
      Buffer.from('user=alice;x').toString('base64'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('metadata type 1: the creation time of a key made without metadata', () => {
    const before = BigInt(Math.floor(Date.now() / 1000)) - 120n;
    const m = parseTlsCryptV2Metadata(metadataOf('c-time.key'));
    assert.ok(m !== undefined);
    assert.equal(m.type, 1);
    assert.equal(m.data.length, 8);
    assert.ok(m.createdAt !== undefined && m.createdAt >= before && m.createdAt <= before + 240n);
    assert.match(describeTlsCryptV2Metadata(m), /^timestamp \d+ \(20\d\d-/);
  });

  it('metadata type 0: the user data given to --genkey', () => {
    const m = parseTlsCryptV2Metadata(metadataOf('c-user.key'));
    assert.equal(m?.type, 0);
    assert.equal(m?.data.toString(), 'user=alice;x');
    assert.equal(m?.createdAt, undefined);
    assert.equal(parseTlsCryptV2Metadata(Buffer.alloc(0)), undefined);
    assert.equal(parseTlsCryptV2Metadata(Buffer.from([1, 2, 3]))?.createdAt, undefined, 'a short timestamp');
  });

  it('runs the script with only script_type, metadata_type and metadata_file (the data after the type)', async () => {
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp);
    const logs: string[] = [];
    const ok = await runTlsCryptV2Verify('/etc/v "a b"', Buffer.from('\x00hello'), '/t', {
      runner,
      tmp,
      log: (l) => logs.push(l),
    });
    assert.equal(ok, true);
    const c = runner.calls[0];
    assert.deepEqual(c.argv, ['/etc/v', 'a b']);
    assert.deepEqual(Object.keys(c.env).sort(), ['metadata_file', 'metadata_type', 'script_type']);
    assert.equal(c.env.script_type, 'tls-crypt-v2-verify');
    assert.equal(c.env.metadata_type, '0');
    assert.equal(c.files.get(c.env.metadata_file), 'hello');
    assert.equal(tmp.created[0].prefix, 'tls_crypt_v2_metadata_');
    assert.equal(tmp.files.size, 0);
    assert.ok(logs.includes('TLS CRYPT V2 VERIFY SCRIPT OK'));
  });

  it('refuses empty metadata without running anything, and a failing script', async () => {
    const tmp = new FakeTemp();
    const runner = new FakeRunner(tmp, () => ({ exitCode: 1 }));
    const deps = { runner, tmp, log: () => {} };
    assert.equal(await runTlsCryptV2Verify('/etc/v', Buffer.alloc(0), '/t', deps), false);
    assert.equal(runner.calls.length, 0);
    assert.equal(
      await runTlsCryptV2Verify('/etc/v', Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 1]), '/t', deps),
      false,
    );
    assert.equal(runner.calls[0].env.metadata_type, '1');
    assert.equal(tmp.files.size, 0);
  });

  it('a real script reads the metadata file, which is gone afterwards', async () => {
    const t = mkdtempSync(join(dir, 'tmp-'));
    const script = join(dir, 'v.sh');
    writeFileSync(
      script,
      '#!/bin/sh\n[ "$metadata_type" = 0 ] && [ "$(cat "$metadata_file")" = "user=alice;x" ]\n',
    );
    chmodSync(script, 0o755);
    const deps = { runner: spawnScriptRunner(), tmp: nodeTempFiles, log: () => {} };
    assert.equal(await runTlsCryptV2Verify(script, metadataOf('c-user.key'), t, deps), true);
    assert.equal(await runTlsCryptV2Verify(script, metadataOf('c-time.key'), t, deps), false);
    assert.deepEqual(readdirSync(t), []);
  });
});
