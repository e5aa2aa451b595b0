/**
 * examples/c/ovpnd-info.c: compiles with plain gcc (warnings are errors), prints the daemon-info reply
 * of the daemon of its namespace, and fails with the errno name where no daemon runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OvpndClient } from '../../src/client/ovpnd-client.js';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { repoRoot } from '../support/repo.js';

const gcc = spawnSync('gcc', ['--version']).status === 0;
const skip = !canUseNetns() ? 'needs root (network namespaces)' : !gcc ? 'needs gcc' : false;

describe('examples/c/ovpnd-info.c', { skip }, () => {
  const lab = new NetnsLab('ovpy-c');
  const dir = mkdtempSync(join(tmpdir(), 'ovpnd-info-'));
  const bin = join(dir, 'ovpnd-info');
  const clients: OvpndClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('compiles, prints daemon-info, and names the errno when no daemon runs', async () => {
    const src = join(repoRoot(), 'examples', 'c', 'ovpnd-info.c');
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, src], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);

    const idle = lab.ns('none');
    const refused = await lab.run(idle, bin, [], 10_000);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /connect @ovpn-ts\/ovpnd: ECONNREFUSED/);

    const ns = lab.ns('d');
    const c = await OvpndClient.connect({ netns: ns, start: true });
    clients.push(c);
    await c.devNew({ ifname: 'ovpyc0', mode: 'mp' });
    const info = await c.daemonInfo();
    const r = await lab.run(ns, bin, [], 10_000);
    assert.equal(r.code, 0, r.stderr);
    const reply = JSON.parse(r.stdout) as { seq: number; reply: Record<string, unknown> };
    assert.equal(reply.seq, 1);
    assert.equal(reply.reply.pid, info.pid);
    assert.equal(reply.reply.netns, ns);
    assert.equal(reply.reply.devices, 1);
    assert.equal(reply.reply.clients, 2, 'the TypeScript client and the C program');
  });
});
