/**
 * Per-client data ciphers on one ovpn-ts server (`data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305`):
 * three stock 2.6 clients offer different lists (AES-128-GCM alone, CHACHA20-POLY1305 alone,
 * AES-256-GCM:AES-128-GCM) and each is served with its own cipher, as 2.6's ncp picks it (the first
 * of the server's list the client offers). The cipher shows in the client's log, in the server's log
 * and in the status file's CLIENT_LIST (`--status-version 2`, last column); all three ping at once.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerLab, serverLabSkip, startServerLab } from './fixture.js';

const OFFERS = ['AES-128-GCM', 'CHACHA20-POLY1305', 'AES-256-GCM:AES-128-GCM'];
const EXPECTED = ['AES-128-GCM', 'CHACHA20-POLY1305', 'AES-256-GCM'];

/** CN -> Data Channel Cipher from a version-2 status file, or undefined while it is being written. */
function statusCiphers(path: string): Map<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  if (!text.includes('\nEND')) return undefined;
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const c = line.split(',');
    if (c[0] === 'CLIENT_LIST') m.set(c[1], c[c.length - 1]);
  }
  return m;
}

describe('ovpn-ts server: a data cipher per client', { skip: serverLabSkip() }, () => {
  let s: ServerLab;
  before(async () => {
    s = await startServerLab('sl', 3);
  });
  after(async () => {
    const left = await s?.cleanup();
    assert.deepEqual(left ?? [], []);
  });

  it('three clients, three ciphers, all pinging', async () => {
    const statusPath = join(s.dir, 'status.txt');
    const srv = await s.startServer({
      net: 75,
      topology: 'subnet',
      proto: 'udp',
      port: 1194,
      dev: 'sltun0',
      extra: [`status ${statusPath} 1`, 'status-version 2'],
    });
    const clients = [];
    for (let i = 1; i <= 3; i++)
      clients.push(await s.startClient(i, 'udp', 1194, ['--data-ciphers', OFFERS[i - 1]]));
    for (const [i, c] of clients.entries()) {
      // 2.6 prints "Initialization Sequence Completed" before "Data Channel: cipher" (init.c do_up
      // calls initialization_sequence_completed, then tls_print_deferred_options_results): wait for it
      const line = await c.waitFor((l) => l.includes('Data Channel: cipher'), 5000, 'the cipher line', 0);
      assert.ok(line.includes(`'${EXPECTED[i]}'`), `client ${i + 1} uses ${EXPECTED[i]}: ${line}`);
      const sline = await srv.waitFor(
        (l) => l.includes(`sl-c${i + 1}/`) && l.includes('Data Channel: cipher'),
        5000,
        `the server's cipher line for client ${i + 1}`,
        0,
      );
      assert.ok(
        sline.includes(`'${EXPECTED[i]}'`),
        `the server serves client ${i + 1} with ${EXPECTED[i]}: ${sline}`,
      );
    }
    const pings = await Promise.all(s.clientNs.map((ns) => s.ping(ns, '10.75.0.1', 20)));
    for (const [i, p] of pings.entries()) assert.equal(p.received, 20, `client ${i + 1}: ${p.out}`);
    let seen: Map<string, string> | undefined;
    for (let t = 0; t < 40; t++) {
      seen = statusCiphers(statusPath);
      if (seen?.size === 3) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(
      [...(seen ?? new Map<string, string>()).entries()].sort(),
      EXPECTED.map((c, i) => [`sl-c${i + 1}`, c]),
      'the status file lists each client with its cipher',
    );
  });
});
