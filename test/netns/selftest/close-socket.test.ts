/**
 * Reproduces the kernel ovpn selftests test-close-socket.sh (UDP) and test-close-socket-tcp.sh: peers
 * set up and used, then the processes holding their sockets are killed while the peers are live.
 * Steps and checks: scenario.ts (runCloseSocket).
 */
import { describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import { runCloseSocket } from './scenario.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const TIMEOUT = 240_000;

describe('kernel selftest test-close-socket*.sh', { skip }, () => {
  it('test-close-socket.sh: UDP', { timeout: TIMEOUT }, () => runCloseSocket('udp'));
  it('test-close-socket-tcp.sh: TCP', { timeout: TIMEOUT }, () => runCloseSocket('tcp'));
});
