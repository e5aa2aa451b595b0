/**
 * RESTART and HALT from Debian's OpenVPN 2.6 server (fixture.ts), sent through its management
 * interface's `client-kill CID [message]` (multi.c management_kill_by_cid → push.c send_restart):
 * - `RESTART`: the client logs the pushed reset and reconnects as on SIGUSR1 (a new instance on the
 *   server), and the tunnel works again;
 * - `HALT,<text>`: the client logs it and ends as on SIGTERM, exit 0, no device left.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { namespacePids } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  linkExists,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovac0';

/**
 * One management command on the server's unix socket (reachable from any network namespace): the
 * lines of its answer, up to `END` or a `SUCCESS:`/`ERROR:` line.
 */
function management(sock: string, cmd: string, ms = 5000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection(sock);
    const lines: string[] = [];
    let sent = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`management '${cmd}': no answer in ${ms} ms: ${lines.join('\n')}`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      s.end('quit\n');
      resolve(lines);
    };
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    createInterface({ input: s }).on('line', (l) => {
      if (!sent) {
        if (l.startsWith('>INFO:')) {
          sent = true;
          s.write(`${cmd}\n`);
        }
        return;
      }
      if (l.startsWith('>')) return; // real-time notifications
      lines.push(l);
      if (l === 'END' || l.startsWith('SUCCESS:') || l.startsWith('ERROR:')) done();
    });
  });
}

/** The management Client ID of the newest client, from `status 2`. */
async function clientId(sock: string): Promise<number> {
  const st = await management(sock, 'status 2');
  const col =
    st
      .find((l) => l.startsWith('HEADER,CLIENT_LIST,'))
      ?.split(',')
      .indexOf('Client ID') ?? -1;
  const ids = st.filter((l) => l.startsWith('CLIENT_LIST,')).map((l) => Number(l.split(',')[col - 1]));
  assert.ok(col > 0 && ids.length > 0, st.join('\n'));
  return Math.max(...ids);
}

describe('RESTART and HALT pushed by OpenVPN 2.6 (netns)', {
  skip: openvpnLabSkip(),
  timeout: 90_000,
}, () => {
  let ol: OpenvpnLab;
  let sockDir: string;
  let sock: string;
  let client: ClientProcess | undefined;

  before(async () => {
    sockDir = mkdtempSync(join(tmpdir(), 'ovac-mgmt-'));
    sock = join(sockDir, 'mgmt.sock');
    ol = await startOpenvpnLab('ovac', { serverArgs: ['--management', sock, 'unix'] });
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
    if (sockDir !== undefined) rmSync(sockDir, { recursive: true, force: true });
  });

  const ping = async (c: ClientProcess, what: string) => {
    const r = await ol.lab.run(ol.nsC, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(r.stdout, /2 packets transmitted, 2 received/, `${what}: ${r.stdout}\n${c.tail()}`);
  };

  it('RESTART reconnects (a new instance on the server) and the tunnel works again', async () => {
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun', 'verb 3']);
    const c = ol.spawnClient(['--config', cfg]);
    client = c;
    await c.waitFor((l) => l.includes('Initialization Sequence Completed'), 25_000, 'the tunnel', 0);
    await ping(c, 'first');
    const from = c.out.length;
    const mark = ol.serverLog.length;
    const again = c.waitFor(
      (l) => l.includes('Initialization Sequence Completed'),
      25_000,
      'the reconnection',
      from,
    );
    assert.ok(
      (await management(sock, `client-kill ${await clientId(sock)}`)).some((l) => l.startsWith('SUCCESS')),
    );
    await again;
    const out = c.out.slice(from);
    assert.ok(
      out.some((l) => l.includes("Connection reset command was pushed by server ('')")),
      c.tail(),
    );
    assert.ok(
      out.some((l) =>
        l.includes('SIGUSR1[soft,server-pushed-connection-reset] received, process restarting'),
      ),
      c.tail(),
    );
    await ol.waitServerLog(/Peer Connection Initiated/, 5000, mark);
    await ping(c, 'after RESTART');
  });

  it('HALT ends the client: exit 0, no device, no process', async () => {
    const c = client!;
    const from = c.out.length;
    assert.ok(
      (await management(sock, `client-kill ${await clientId(sock)} HALT,maintenance`)).some((l) =>
        l.startsWith('SUCCESS'),
      ),
    );
    assert.equal(await c.waitExit(10_000), 0, c.tail());
    client = undefined;
    const out = c.out.slice(from);
    assert.ok(
      out.some((l) => l.includes("Halt command was pushed by server ('maintenance')")),
      c.tail(),
    );
    assert.ok(
      out.some((l) => l.includes('SIGTERM[soft,server-pushed-halt] received, process exiting')),
      c.tail(),
    );
    assert.equal(linkExists(ol.nsC, TUN), false);
    assert.deepEqual(namespacePids(ol.nsC), []);
  });
});
