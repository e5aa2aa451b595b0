/**
 * A stock client's exit notification (UDP): a 2.6 client with `explicit-exit-notify 1` stopped with
 * SIGTERM tells the server it is going, and the ovpn-ts server removes it at once — its log says so,
 * its CLIENT_LIST row leaves the status file within a couple of seconds (keepalive would take 60 s),
 * the other client is untouched, and the same client connecting again gets its address back.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

/** The CNs of the CLIENT_LIST rows of a complete version-2 status file, or undefined. */
function statusCns(path: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  if (!text.includes('\nEND')) return undefined;
  return text
    .split('\n')
    .filter((l) => l.startsWith('CLIENT_LIST,'))
    .map((l) => l.split(',')[1])
    .sort();
}

async function waitStatus(path: string, want: string[], ms: number): Promise<string[] | undefined> {
  const end = Date.now() + ms;
  let seen: string[] | undefined;
  while (Date.now() < end) {
    seen = statusCns(path);
    if (seen !== undefined && JSON.stringify(seen) === JSON.stringify(want)) return seen;
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

function pushedAddress(out: readonly string[]): string | undefined {
  const line = out.find((l) => l.includes('PUSH_REPLY'));
  return line === undefined ? undefined : /ifconfig (\d+\.\d+\.\d+\.\d+) /.exec(line)?.[1];
}

describe('ovpn-ts server: a client exit notification', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sl', 2);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('a client stopped with explicit-exit-notify is removed at once', async () => {
    const statusPath = join(s.dir, 'status-exit.txt');
    const srv = await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sltun0',
      extra: [`status ${statusPath} 1`, 'status-version 2'],
    });
    const c1 = await s.startClient(1, 'udp', 1194, ['--explicit-exit-notify', '1']);
    const c2 = await s.startClient(2, 'udp', 1194);
    const a1 = pushedAddress(c1.out);
    assert.ok(a1, 'client 1 got an address');
    assert.deepEqual(await waitStatus(statusPath, ['sl-c1', 'sl-c2'], 5000), ['sl-c1', 'sl-c2']);
    const mark = srv.out.length;
    const t0 = Date.now();
    c1.child.kill('SIGTERM');
    await srv.waitFor(
      (l) => l.includes('sl-c1/') && l.includes('removed: client exit'),
      4000,
      'the server to remove client 1 on its exit notification',
      mark,
    );
    const removedMs = Date.now() - t0;
    assert.ok(removedMs < 3000, `removed after ${removedMs} ms`);
    assert.equal(await c1.waitExit(5000), 0, c1.tail(10));
    assert.deepEqual(
      await waitStatus(statusPath, ['sl-c2'], 3000),
      ['sl-c2'],
      'client 1 left the status file',
    );
    const p2 = await s.ping(s.clientNs[1], '10.75.0.1', 5);
    assert.equal(p2.received, 5, `client 2 is untouched: ${p2.out}`);
    assert.equal(c2.child.exitCode, null, 'client 2 still runs');
    // back again: the released address is its own again (2.6's pool prefers the last holder's name)
    const c1b = await s.startClient(1, 'udp', 1194, ['--explicit-exit-notify', '1']);
    assert.equal(pushedAddress(c1b.out), a1, 'client 1 got its address back');
    const p1 = await s.ping(s.clientNs[0], '10.75.0.1', 5);
    assert.equal(p1.received, 5, `client 1 pings again: ${p1.out}`);
    assert.ok(
      !srv.out.slice(mark).some((l) => /sl-c1\/.*removed: (?!client exit)/.test(l)),
      `client 1 was removed once, by its exit:\n${srv.tail(30)}`,
    );
  });
});
