/**
 * Reproduces the kernel ovpn selftest test-mark.sh: the server's UDP socket carries SO_MARK 1056 and
 * an nftables rule dropping that mark stops exactly the tunnel's packets.
 * Steps and checks: scenario.ts (runMark).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runMark } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';

describe('kernel selftest test-mark.sh', { skip }, () => {
  it('SO_MARK on the server socket, nftables drop by mark', { timeout: 180_000 }, () => runMark());
});
