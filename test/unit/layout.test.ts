/**
 * The layering rules of docs/architecture.md, checked on the sources: each folder under src/ may only
 * import the folders listed for it. A new import across layers must be added here on purpose.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
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
  control: ['errors', 'wire'],
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

  it('src/control uses no Node built-in but node:crypto, and no clock or timer', () => {
    const src = join(repoRoot(), 'src', 'control');
    const bad: string[] = [];
    for (const file of tsFiles(src)) {
      for (const v of controlViolations(readFileSync(file, 'utf8')))
        bad.push(`control/${relative(src, file)}: ${v}`);
    }
    assert.deepEqual(bad, []);
  });

  it('the control rule catches what it forbids', () => {
    assert.deepEqual(controlViolations("import { randomBytes } from 'node:crypto';\nconst x = 1;"), []);
    assert.equal(controlViolations("import { readFileSync } from 'node:fs';").length, 1);
    assert.equal(controlViolations("import { Socket } from 'net';").length, 1);
    assert.equal(controlViolations("import type { Socket } from 'node:dgram';").length, 1);
    assert.equal(controlViolations("const fs = await import('node:fs');").length, 1);
    assert.equal(controlViolations("const os = require('os');").length, 1);
    assert.equal(controlViolations('const t = Date.now();').length, 1);
    assert.equal(controlViolations('setTimeout(() => {}, 5);').length, 1);
    assert.equal(controlViolations('const h = setInterval(f, 5);').length, 1);
    assert.equal(controlViolations('const t = performance.now();').length, 1);
    assert.equal(controlViolations('const t = globalThis.setTimeout;').length, 1);
  });
});

/** Node's built-in modules, with or without the `node:` scheme. */
const NODE_BUILTINS = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));

/**
 * What src/control may not do (anchors §5: no socket, no clock, no file): import a Node built-in other
 * than node:crypto, or read the clock / set a timer (time is handed in as `now`).
 */
function controlViolations(text: string): string[] {
  const out: string[] = [];
  const specifiers = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)'([^']+)'/g;
  for (const m of text.matchAll(specifiers)) {
    const name = m[1].replace(/^node:/, '');
    if (name.startsWith('.')) continue;
    if (NODE_BUILTINS.has(name.split('/')[0]) && name !== 'crypto') out.push(`imports ${m[1]}`);
  }
  for (const m of text.matchAll(/\b(Date\.now|performance\.now|setTimeout|setInterval|setImmediate)\b/g)) {
    out.push(`uses ${m[1]}`);
  }
  return out;
}
