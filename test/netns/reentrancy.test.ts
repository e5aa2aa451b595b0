/**
 * Re-entrancy of the data path (issue 9): a control plane answers events at once, from inside the
 * event. Here the control listener sets keepalive on a peer (the keepalive timer is kicked and sends
 * another peer's due keepalive) and answers with control-send, while the receive batch that carried
 * the control packet still has a data packet before and after it. Every data packet must reach the
 * TUN, once, and the child must not crash (before the fix, the keepalive send reused the receive
 * batch's scratch and the batch then read a cleared slot: TypeError, process gone).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import { repoRoot } from '../support/repo.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';

describe('re-entrancy', { skip }, () => {
  it('a control listener that sets keepalive and answers mid-batch loses no packet and crashes nothing', async () => {
    const lab = new NetnsLab('ovre');
    try {
      const ns = lab.ns('a');
      const child = join(repoRoot(), 'dist', 'test', 'netns', 'children', 'reentrancy-child.js');
      let out: string;
      try {
        out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, child], {
          encoding: 'utf8',
          timeout: 20_000,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (e) {
        const err = e as { status?: number; stderr?: string };
        assert.fail(`the child failed (status ${err.status}):\n${err.stderr}`);
      }
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
        seen: string[];
        vpnRxPackets: number;
        linkRxPackets: number;
        controlAnswers: string[];
      };
      assert.deepEqual(r.seen, ['control']);
      assert.equal(r.linkRxPackets, 2);
      assert.equal(r.vpnRxPackets, 2);
      // peer 1 also receives DATA_V2 (keepalives, ICMP port-unreachable for the delivered packets):
      // the control channel's part of what it received is exactly the one answer
      const control = r.controlAnswers.filter((h) => !h.startsWith('48'));
      assert.deepEqual(control, ['28090909090909090900']);
    } finally {
      await lab.cleanup();
    }
  });
});
