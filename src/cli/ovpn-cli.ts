#!/usr/bin/env node
/**
 * ovpn-cli: the kernel selftest tool of the same name (tools/testing/selftests/net/ovpn/ovpn-cli.c),
 * driving the ovpn-ts daemon ovpnd instead of netlink (docs/ovpn-cli.md). The work is in ovpn-cli/;
 * `ovpn-cli.js --hold` is the background holder that socket-making commands leave behind (hold.ts).
 */
import { isYnlForm } from './ovpn-cli/args.js';
import { HOLD_FLAG, PROCESS_TITLE, runHolder, YNL_PROCESS_TITLE } from './ovpn-cli/hold.js';
import { main } from './ovpn-cli/main.js';
import { exitCode, stdio } from './ovpn-cli/status.js';

const args = process.argv.slice(2);
// the YNL stand-in is not an "ovpn-cli" process, as the kernel's cli.py is not: `killall ovpn-cli`
// in a selftest cleanup leaves notification listeners alone
process.title = isYnlForm(args) ? YNL_PROCESS_TITLE : PROCESS_TITLE;
if (args[0] === HOLD_FLAG) {
  runHolder();
} else {
  main(args, stdio).then(
    (status) => process.exit(exitCode(status)),
    (e: unknown) => {
      process.stderr.write(`ovpn-cli: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(exitCode(-5));
    },
  );
}
