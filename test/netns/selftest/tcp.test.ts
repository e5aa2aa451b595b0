/**
 * Reproduces the kernel ovpn selftest test-tcp.sh: test.sh with PROTO=TCP (the server `listen`s, the
 * clients `connect`).
 * Steps and checks: scenario.ts (runTestSh).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runTestSh } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test-tcp.sh', { skip }, () => {
  it('TCP, asymmetric ids, AES-GCM', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'tcp', alg: 'aes', float: false, symmetric: false }),
  );
});
