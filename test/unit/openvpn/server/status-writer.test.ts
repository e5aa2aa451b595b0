import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { programVersion } from '../../../../src/openvpn/args.js';
import type { StatusSnapshot } from '../../../../src/openvpn/server/status-file.js';
import {
  ovpnTsTitle,
  StatusFile,
  startServerStatusFile,
  startStatusFile,
} from '../../../../src/openvpn/server/status-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'status-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function empty(title = 't'): StatusSnapshot {
  return { title, clients: [], routes: [], maxBcastQueue: 0, dcoEnabled: true };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('server status file writer (2.6 status.c)', () => {
  it('opens as 2.6: created mode 0600, an old file emptied', () => {
    const fresh = join(dir, 'fresh');
    const f = new StatusFile(fresh);
    f.close();
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
    assert.equal(readFileSync(fresh, 'utf8'), '');
    const old = join(dir, 'old');
    writeFileSync(old, 'stale content\n', { mode: 0o644 });
    new StatusFile(old).close();
    assert.equal(readFileSync(old, 'utf8'), '');
  });

  it('rewrites in place (same inode), truncating a longer old text; close leaves the content', () => {
    const p = join(dir, 'inplace');
    const f = new StatusFile(p);
    f.write('a long first status\nsecond line\n');
    const ino = statSync(p).ino;
    f.write('short\n');
    assert.equal(readFileSync(p, 'utf8'), 'short\n');
    assert.equal(statSync(p).ino, ino);
    f.write('é\n');
    assert.equal(readFileSync(p, 'utf8'), 'é\n');
    f.close();
    f.close();
    assert.equal(readFileSync(p, 'utf8'), 'é\n');
    assert.throws(() => f.write('x'), /closed/);
  });

  it('writes at once and then every `seconds`, in the configured version; close stops it', async () => {
    const p = join(dir, 'timed');
    let n = 0;
    const task = startStatusFile({
      path: p,
      seconds: 1,
      version: 2,
      snapshot: () => empty(`call ${++n}`),
      now: () => 1893553445,
    });
    assert.match(readFileSync(p, 'utf8'), /^TITLE,call 1\nTIME,.*,1893553445\n/);
    await sleep(1300);
    assert.match(readFileSync(p, 'utf8'), /^TITLE,call 2\n/);
    task.close();
    await sleep(1200);
    assert.equal(n, 2);
    assert.match(readFileSync(p, 'utf8'), /^TITLE,call 2\n.*END\n$/s);
    task.writeNow();
    assert.equal(n, 2);
  });

  it('seconds 0: the file is created empty and never written (2.6 arms no timer)', async () => {
    const p = join(dir, 'never');
    writeFileSync(p, 'old\n');
    let n = 0;
    const task = startStatusFile({
      path: p,
      seconds: 0,
      version: 1,
      snapshot: () => {
        n++;
        return empty();
      },
    });
    await sleep(50);
    assert.equal(readFileSync(p, 'utf8'), '');
    assert.equal(n, 0);
    task.close();
  });

  it('a file that cannot be opened is reported, not thrown; the server runs on without it', () => {
    const errors: string[] = [];
    const p = join(dir, 'no-such-dir', 'status');
    const task = startStatusFile({
      path: p,
      seconds: 1,
      version: 1,
      snapshot: () => empty(),
      onError: (m) => errors.push(m),
    });
    task.writeNow();
    task.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0], new RegExp(`^Note: cannot open ${p} for WRITE: .*ENOENT`));
  });

  it('a failing snapshot is reported once until a write succeeds again', () => {
    const errors: string[] = [];
    let fail = true;
    const task = startStatusFile({
      path: join(dir, 'flaky'),
      seconds: 60,
      version: 1,
      snapshot: () => {
        if (fail) throw new Error('boom');
        return empty();
      },
      onError: (m) => errors.push(m),
    });
    task.writeNow();
    assert.equal(errors.length, 1);
    assert.match(errors[0], /cannot write the status file .*boom/);
    fail = false;
    task.writeNow();
    assert.match(readFileSync(join(dir, 'flaky'), 'utf8'), /^OpenVPN CLIENT LIST\n/);
    fail = true;
    task.writeNow();
    assert.equal(errors.length, 2);
    task.close();
  });

  it('from ServerOptions: the path relative to the config directory, the configured version', () => {
    const none = startServerStatusFile({ status: undefined, statusVersion: 3 }, () => empty());
    assert.equal(none, undefined);
    const task = startServerStatusFile(
      { status: { ref: { kind: 'path', path: 'rel-status.log', dir }, seconds: 30 }, statusVersion: 3 },
      () => empty('from options'),
    );
    assert.ok(task !== undefined);
    task.close();
    assert.match(readFileSync(join(dir, 'rel-status.log'), 'utf8'), /^TITLE\tfrom options\n/);
  });

  it('the title names ovpn-ts and its version, not OpenVPN', () => {
    const t = ovpnTsTitle();
    assert.ok(t.startsWith(`ovpn-ts ${programVersion()} ${process.arch}-${process.platform} `), t);
    assert.ok(!t.includes('OpenVPN'), t);
    assert.ok(!t.includes(',') && !t.includes('\t') && !t.includes('\n'), t);
  });
});
