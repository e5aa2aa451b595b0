/**
 * Reproduces the kernel ovpn selftest test.sh (PROTO=UDP, the default): MP server + 6 P2P clients over
 * UDP (clients 1-3 over IPv4, 4-6 over IPv6), asymmetric peer ids, AES-GCM.
 * Steps and checks: scenario.ts (runTestSh).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runTestSh } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test.sh over UDP', { skip }, () => {
  it('UDP, asymmetric ids, AES-GCM', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'udp', alg: 'aes', float: false, symmetric: false }),
  );
});
