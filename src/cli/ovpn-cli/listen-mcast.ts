/**
 * listen_mcast: join the `peers` notification group of ovpnd and print what arrives.
 *
 * Text mode (the tool's behaviour): for the first notification print "received message from ovpn-dco"
 * on stderr and "received CMD_PEER_DEL_NTF" (or _PEER_FLOAT_NTF / _KEY_SWAP_NTF) on stdout, then exit 0;
 * a notification whose interface cannot be resolved ends it with status -1. With --duration it goes on
 * printing every notification until the time is up.
 *
 * JSON mode (--json, or the YNL cli.py form): one line per notification exactly as
 * `cli.py --subscribe peers --output-json` prints it, flushed per line, until killed, until --duration
 * seconds have passed (then status 0), or until ovpnd goes away.
 *
 * The kernel's group exists as soon as the module is loaded; ovpnd starts with the first new_iface.
 * So when no daemon runs yet, this waits for one (the selftests start their listeners before they
 * create interfaces).
 */
import { OvpndClient } from '../../client/ovpnd-client.js';
import type { Command } from './args.js';
import { ifnameOf } from './interfaces.js';
import { notificationLine, pyJson } from './print.js';
import { reportFailure } from './session.js';
import { CliFailure, type Output } from './status.js';

type Cmd = Extract<Command, { cmd: 'listen_mcast' }>;

/** How often to look for a daemon that is not there yet. */
const RETRY_MS = 50;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitForDaemon(deadline: number): Promise<OvpndClient | undefined> {
  for (;;) {
    try {
      return await OvpndClient.connect({ start: false });
    } catch {
      if (Date.now() >= deadline) return undefined;
      await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())));
    }
  }
}

/** Resolves with the command's status. */
export async function listenMcast(c: Cmd, out: Output): Promise<void> {
  const deadline = c.durationSec === undefined ? Number.POSITIVE_INFINITY : Date.now() + c.durationSec * 1000;
  const client = await waitForDaemon(deadline);
  if (client === undefined) return; // the time ran out before any daemon appeared
  try {
    await client.subscribe('peers');
  } catch (e) {
    const status = reportFailure(out, e);
    client.close();
    throw new CliFailure(status, 'subscribe');
  }
  const status = await new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (s: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(s);
    };
    if (Number.isFinite(deadline)) timer = setTimeout(() => finish(0), Math.max(0, deadline - Date.now()));
    client.closed.then(() => {
      if (settled) return;
      if (!c.json && c.durationSec === undefined) {
        out.err('cannot receive ovpnd message: the connection was closed\n');
        finish(-1);
      } else finish(0);
    });
    client.onNotification((n) => {
      if (settled) return;
      if (c.json) {
        out.out(`${pyJson(n)}\n`);
        return;
      }
      out.err('received message from ovpn-dco\n');
      const ifindex = (n.msg as { ifindex?: unknown }).ifindex;
      if (typeof ifindex !== 'number') {
        out.err('no ifindex in this message\n');
        finish(-1);
        return;
      }
      if (ifnameOf(ifindex) === undefined) {
        out.err(`cannot resolve ifname for ifindex: ${ifindex}\n`);
        finish(-1);
        return;
      }
      const line = notificationLine(n.name);
      if (line === undefined) {
        out.err(`received unknown notification: ${String(n.name)}\n`);
        finish(-1);
        return;
      }
      out.out(line);
      if (c.durationSec === undefined) finish(0);
    });
  });
  client.close();
  if (status !== 0) throw new CliFailure(status, 'listen_mcast');
}
