#!/usr/bin/env node
/**
 * ovpn-agent: runs an ovpn-ts data plane in this process (and network namespace), managed with JSON
 * lines on stdin/stdout (see src/mgmt/stdio-agent.ts). `--help` prints the protocol summary.
 */
import { runStdioAgent } from '../mgmt/stdio-agent.js';

if (process.argv.includes('--help')) {
  process.stdout.write(`usage: ovpn-agent
Runs an ovpn-ts data plane managed over stdin/stdout, one JSON object per line.
Requests:  {"op": "<op>", "msg": {...}, "seq": N[, "dump": true]}
Replies:   {"seq": N, "reply": ...} or {"seq": N, "error": {"code", "errno", "msg", "bad-attr"}}
Events:    {"ntf": {"name": "peer-del-ntf", "msg": {...}}}, {"control": {...}}
Ops: dev-new dev-del dev-list peer-new peer-set peer-get peer-del key-new key-get key-swap key-del
     udp-socket tcp-listen tcp-accept tcp-connect fd-close dev-stats control-send mem
Deleting the devices and exiting happens when stdin closes or on SIGTERM.
`);
  process.exit(0);
}
runStdioAgent();
