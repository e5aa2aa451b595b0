/**
 * Reproduces the kernel ovpn selftest test-float.sh: test.sh with FLOAT=1 (after the first pings every
 * client moves from 10.10.p.2 to 10.10.p.3; the server follows and reports peer-float-ntf for the IPv4
 * clients 1-3).
 * Steps and checks: scenario.ts (runTestSh).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runTestSh } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test-float.sh', { skip }, () => {
  it('UDP, clients float, asymmetric ids', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'udp', alg: 'aes', float: true, symmetric: false }),
  );
});
