/**
 * Reproduces the kernel ovpn selftests test-symmetric-id.sh, test-symmetric-id-tcp.sh and
 * test-symmetric-id-float.sh: test.sh with SYMMETRIC_ID=1 (both ends of tunnel p use peer id p, no
 * tx-id), over UDP, over TCP, and over UDP with floating clients.
 * Steps and checks: scenario.ts (runTestSh).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runTestSh } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test-symmetric-id*.sh', { skip }, () => {
  it('test-symmetric-id.sh: UDP', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'udp', alg: 'aes', float: false, symmetric: true }),
  );
  it('test-symmetric-id-tcp.sh: TCP', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'tcp', alg: 'aes', float: false, symmetric: true }),
  );
  it('test-symmetric-id-float.sh: UDP, clients float', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'udp', alg: 'aes', float: true, symmetric: true }),
  );
});
