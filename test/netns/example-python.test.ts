/**
 * examples/python/ovpnd_client.py against real daemons: two namespaces joined by veth; in `a` the
 * Python example (spawning bin/ovpnd itself) sets up one side of a P2P UDP tunnel, in `b` the
 * TypeScript client sets up the other. Pings cross the tunnel, a control packet sent by the TypeScript
 * side reaches the Python client, which answers it with control-send, reads the peer's counters,
 * deletes the peer and prints the peer-del-ntf it receives.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OvpndClient } from '../../src/client/ovpnd-client.js';
import { canUseNetns, NetnsLab } from '../../src/lab/netns.js';
import type { ControlPacketEvent } from '../../src/mgmt/protocol.js';
import { close } from '../../src/sys/libc.js';
import { inNetns } from '../../src/sys/netns.js';
import { createUdpSocket } from '../../src/transport/udp-socket.js';
import { repoRoot } from '../support/repo.js';

const skip = canUseNetns() ? false : 'needs root (network namespaces)';
const SCRIPT = join(repoRoot(), 'examples', 'python', 'ovpnd_client.py');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The output of a running program, line by line, and its exit. */
class Output {
  readonly lines: string[] = [];
  stderr = '';
  exit: number | undefined;
  private partial = '';

  constructor(child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      const parts = (this.partial + d.toString()).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    child.on('close', (code, signal) => {
      this.exit = code ?? (signal === null ? 1 : 128);
    });
  }

  /** Waits until `pred` holds; fails early, with the output, if the program exits first. */
  async until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (this.exit !== undefined && !pred())
        throw new Error(`exited (${this.exit}) before ${what}\n${this}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${this}`);
      await sleep(20);
    }
  }

  line(re: RegExp): RegExpExecArray | undefined {
    for (const l of this.lines) {
      const m = re.exec(l);
      if (m !== null) return m;
    }
    return undefined;
  }

  toString(): string {
    return `stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`;
  }
}

describe('examples/python/ovpnd_client.py', { skip }, () => {
  const lab = new NetnsLab('ovpy-p');
  const clients: OvpndClient[] = [];
  const fds: number[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const fd of fds) close(fd);
    await lab.cleanup();
    assert.deepEqual(lab.leftovers(), []);
  });

  it('drives one side of a tunnel the TypeScript client completes: ping, control packet, peer-del-ntf', async () => {
    const a = lab.ns('a');
    const b = lab.ns('b');
    lab.veth(a, 'ovpy-va', ['10.9.0.1/24'], b, 'ovpy-vb', ['10.9.0.2/24']);
    const dir = () => ({
      'cipher-key': randomBytes(32).toString('hex'),
      'nonce-tail': randomBytes(8).toString('hex'),
    });
    const a2b = dir();
    const b2a = dir();
    const arg = (k: { 'cipher-key': string; 'nonce-tail': string }) =>
      `${k['cipher-key']}:${k['nonce-tail']}`;

    // Side a: the Python example, which starts the daemon of `a` itself.
    const py = lab.spawn(a, 'python3', [
      SCRIPT,
      'tunnel',
      '--ifname',
      'ovpy0',
      '--vpn-addr',
      '5.5.8.1/24',
      '--local',
      '10.9.0.1:1194',
      '--remote',
      '10.9.0.2:1194',
      '--peer-id',
      '1',
      '--tx-id',
      '2',
      '--encrypt',
      arg(a2b),
      '--decrypt',
      arg(b2a),
      '--wait',
      '30',
    ]);
    py.stdin?.end();
    const out = new Output(py);
    await out.until(() => out.lines.includes('ready'), '"ready"');

    // Side b: the TypeScript client, the mirror image (ids swapped, keys reversed).
    const c = await OvpndClient.connect({ netns: b, start: true });
    clients.push(c);
    const controls: ControlPacketEvent['msg'][] = [];
    c.onControl((m) => controls.push(m));
    const { ifindex } = await c.devNew({ ifname: 'ovpy1', mode: 'p2p' });
    lab.exec(b, 'ip', ['addr', 'add', '5.5.8.2/24', 'dev', 'ovpy1']);
    lab.exec(b, 'ip', ['link', 'set', 'ovpy1', 'up']);
    const fd = inNetns(b, () => createUdpSocket({ family: 4, port: 1194, address: '10.9.0.2' }));
    fds.push(fd);
    await c.peerNew({
      ifindex,
      peer: { id: 2, 'tx-id': 1, socket: fd, 'remote-ipv4': '10.9.0.1', 'remote-port': 1194 },
    });
    await c.keyNew({
      ifindex,
      keyconf: {
        'peer-id': 2,
        slot: 'primary',
        'key-id': 0,
        'cipher-alg': 'aes-gcm',
        'encrypt-dir': b2a,
        'decrypt-dir': a2b,
      },
    });

    const ping = await lab.run(
      b,
      'ping',
      ['-n', '-q', '-c', '3', '-i', '0.2', '-w', '10', '5.5.8.1'],
      15_000,
    );
    assert.match(ping.stdout, / 3 received/, ping.stdout + ping.stderr);

    // A non-data packet (P_CONTROL_HARD_RESET_CLIENT_V2) goes to the Python client, which answers.
    const hello = `38${randomBytes(8).toString('hex')}0000000000`;
    await c.controlSend({
      ifindex,
      socket: fd,
      'remote-addr': '10.9.0.1',
      'remote-port': 1194,
      packet: hello,
    });
    await out.until(() => out.exit !== undefined, 'the program to finish');
    assert.equal(out.exit, 0, String(out));

    assert.match(out.lines[0], /^daemon: pid \d+ netns ovpy-p-a clients 1$/, String(out));
    assert.ok(out.line(/^dev-new: ovpy0 ifindex \d+ mode p2p$/), String(out));
    assert.ok(out.line(/^peer-new: peer 1 -> 10\.9\.0\.2:1194 over fd \d+$/), String(out));
    assert.ok(
      out.lines.includes(`control-packet: ${hello.length / 2} bytes from 10.9.0.2:1194: ${hello}`),
      String(out),
    );
    const stats = out.line(/^peer-get: peer 1 vpn-rx-packets (\d+) vpn-tx-packets (\d+)$/);
    assert.ok(stats, String(out));
    assert.ok(Number(stats[1]) >= 3 && Number(stats[2]) >= 3, `the pings crossed the tunnel: ${stats[0]}`);
    const devLine = out.line(/^dev-new: ovpy0 ifindex (\d+)/);
    assert.ok(
      out.lines.includes(`peer-del-ntf: ifindex ${devLine?.[1]} peer 1 reason userspace`),
      String(out),
    );
    assert.equal(out.lines.at(-1), 'dev-del: ovpy0');

    // The answer came back through the daemon of b as a control packet for the TypeScript client.
    const deadline = Date.now() + 5000;
    while (controls.length === 0 && Date.now() < deadline) await sleep(20);
    assert.equal(controls.length, 1);
    assert.equal(controls[0].packet, `40${hello.slice(2)}`);
    assert.equal(controls[0]['remote-addr'], '10.9.0.1');

    // The daemon the Python client spawned exits once it has neither devices nor clients.
    const end = Date.now() + 5000;
    const pids = () => execFileSync('ip', ['netns', 'pids', a], { encoding: 'utf8' }).trim();
    while (pids() !== '' && Date.now() < end) await sleep(100);
    assert.equal(pids(), '', 'the daemon of a must exit by itself');
  });
});
