/**
 * The layering rules of docs/architecture.md, checked on the sources: each folder under src/ may only
 * import the folders listed for it. A new import across layers must be added here on purpose.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../support/repo.js';

const ALLOWED: Record<string, string[]> = {
  errors: [],
  clock: [],
  sys: ['errors'],
  batch: ['sys'],
  net: ['errors', 'sys'],
  wire: ['errors'],
  pktid: [],
  crypto: ['errors', 'sys', 'wire'],
  keys: ['crypto', 'pktid', 'wire', 'errors'],
  tun: ['batch', 'sys', 'errors'],
  routing: ['sys', 'errors', 'net'],
  transport: ['batch', 'sys', 'net', 'errors', 'wire'],
  // routing decisions (peer by destination, reverse path) live beside the peer table, as in peer.c
  peer: ['keys', 'wire', 'errors', 'clock', 'net', 'transport', 'routing'],
  // the data path sees devices, routing and transports only through their interfaces and types
  datapath: [
    'peer',
    'keys',
    'wire',
    'crypto',
    'pktid',
    'clock',
    'sys',
    'batch',
    'net',
    'tun',
    'routing',
    'transport',
  ],
  device: [
    'datapath',
    'peer',
    'keys',
    'tun',
    'routing',
    'transport',
    'batch',
    'clock',
    'net',
    'sys',
    'errors',
  ],
  // the management layer drives devices; it never reaches into the data path's pipelines
  api: [
    'device',
    'peer',
    'keys',
    'net',
    'errors',
    'clock',
    'sys',
    'crypto',
    'datapath/upcalls',
    // the names of the per-peer compression framings (an attribute of ours)
    'wire/comp-framing',
    'datapath/datapath',
    'datapath/drop-reason',
  ],
  // like the daemon, the stdio agent names handed-over sockets by their identity
  mgmt: ['api', 'errors', 'transport', 'sys', 'net', 'device/sockets'],
  // the daemon serves the API on a socket; it sees devices only through the API and socket identities
  daemon: ['api', 'mgmt', 'errors', 'device/sockets', 'sys'],
  // the client library knows the protocol, the API's types and the syscalls; nothing of the data plane
  client: ['api/messages', 'mgmt/protocol', 'sys'],
  lab: ['client'],
  // the OpenVPN config language: text in, typed options out (reading files is the caller's)
  config: ['errors', 'net'],
  // the OpenVPN control plane's protocol core: no socket, no clock, no file (anchors §5); node:crypto only
  control: ['errors', 'wire', 'net', 'config'],
  // the OpenVPN program: client and server shells around the control core, driving the data plane
  openvpn: ['*'],
  cli: ['*'],
  demo: ['*'],
  '.': ['*'],
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

describe('layering', () => {
  it('every src folder imports only the layers it is allowed to', () => {
    const src = join(repoRoot(), 'src');
    const bad: string[] = [];
    for (const file of tsFiles(src)) {
      const rel = relative(src, file);
      const layer = rel.includes('/') ? rel.split('/')[0] : '.';
      const allowed = ALLOWED[layer];
      assert.ok(allowed, `src/${layer} has no layering rule in this test`);
      if (allowed.includes('*')) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = relative(src, join(file, '..', m[1])).replace(/\.js$/, '');
        const targetLayer = target.split('/')[0];
        if (targetLayer !== layer && !allowed.includes(targetLayer) && !allowed.includes(target)) {
          bad.push(`${rel} -> ${target}`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });
});
