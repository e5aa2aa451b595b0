/**
 * Reproduces the kernel ovpn selftest test-chachapoly.sh: test.sh with ALG=chachapoly
 * (ChaCha20-Poly1305 keys everywhere).
 * Steps and checks: scenario.ts (runTestSh).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runTestSh } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test-chachapoly.sh', { skip }, () => {
  it('UDP, asymmetric ids, ChaCha20-Poly1305', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'udp', alg: 'chachapoly', float: false, symmetric: false }),
  );
});
