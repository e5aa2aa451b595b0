/**
 * ovpn-cli's main(): parse, run, report, and return the C-style status, as the selftest tool does:
 *
 *   no command                usage on stderr                                 -1 (exit 255)
 *   unknown command           "Error: unknown command." + usage               -1
 *   missing arguments         "Error: invalid arguments." + usage             -EINVAL (234)
 *   rejected argument value   its message + "Error: invalid arguments."       -1
 *   command failed            its messages + "Cannot execute command: <strerror> (<status>)"
 *
 * `--help` (which the tool lacks) prints the usage on stdout and returns 0.
 */
import { ERRNO } from '../../errors/ovpn-error.js';
import { strerror } from '../../sys/libc.js';
import { type Command, parseArgs } from './args.js';
import * as cmds from './commands.js';
import { ifindexOf } from './interfaces.js';
import { listenMcast } from './listen-mcast.js';
import * as sock from './socket-commands.js';
import { ArgFailure, CliFailure, type Output } from './status.js';
import { usageText } from './usage.js';

export const PROG = 'ovpn-cli';

function run(c: Command, out: Output): Promise<void> {
  switch (c.cmd) {
    case 'new_iface':
      return cmds.newIface(c, out);
    case 'del_iface':
      return cmds.delIface(c, out);
    case 'listen':
      return sock.listen(c, out);
    case 'connect':
      return sock.connect(c, out);
    case 'new_peer':
      return sock.newPeer(c, out);
    case 'new_multi_peer':
      return sock.newMultiPeer(c, out);
    case 'set_peer':
      return cmds.setPeer(c, out);
    case 'del_peer':
      return cmds.delPeer(c, out);
    case 'get_peer':
      return cmds.getPeer(c, out);
    case 'new_key':
      return cmds.newKey(c, out);
    case 'del_key':
      return cmds.delKey(c, out);
    case 'get_key':
      return cmds.getKey(c, out);
    case 'swap_keys':
      return cmds.swapKeys(c, out);
    case 'listen_mcast':
      return listenMcast(c, out);
  }
}

function invalidArguments(out: Output, status: number): number {
  out.err('Error: invalid arguments.\n\n');
  if (status === -ERRNO.EINVAL) out.err(usageText(PROG));
  return status;
}

/** Runs ovpn-cli with `args` (after the program name); resolves with the C status. */
export async function main(args: readonly string[], out: Output): Promise<number> {
  const parsed = parseArgs(args, { ifindex: ifindexOf });
  if (!parsed.ok) {
    const e = parsed.error;
    switch (e.kind) {
      case 'help':
        out.out(usageText(PROG));
        return 0;
      case 'no-command':
        out.err(usageText(PROG));
        return -1;
      case 'unknown-command':
        out.err(`Error: unknown command.\n\n${usageText(PROG)}`);
        return -1;
      case 'invalid':
        if (e.message !== undefined) out.err(`${e.message}\n`);
        return invalidArguments(out, e.status);
    }
  }
  try {
    await run(parsed.command, out);
    return 0;
  } catch (e) {
    if (e instanceof ArgFailure) return invalidArguments(out, e.status);
    const status = e instanceof CliFailure ? e.status : -ERRNO.EIO;
    if (!(e instanceof CliFailure)) out.err(`${PROG}: ${e instanceof Error ? e.message : String(e)}\n`);
    if (status !== 0) out.err(`Cannot execute command: ${strerror(-status)} (${status})\n`);
    return status;
  }
}
