/**
 * Reproduces the kernel ovpn selftest test-large-mtu.sh: test.sh with MTU=1500 on every tun device,
 * the transport's own MTU, so that the encrypted packets are fragmented on the veth links.
 * Steps and checks: scenario.ts (runTestSh).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runTestSh } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test-large-mtu.sh', { skip }, () => {
  it('UDP, tunnel MTU 1500', { timeout: TIMEOUT }, () =>
    runTestSh({ proto: 'udp', alg: 'aes', float: false, symmetric: false, mtu: 1500 }),
  );
});
