#!/usr/bin/env node
/**
 * ovpn-agent: runs an ovpn-ts data plane in this process (and network namespace), managed with the
 * management protocol over stdin/stdout (src/mgmt/stdio-agent.ts, docs/ovpnd.md "The stdio link");
 * its client is OvpndClient.spawnAgent(). `--help` prints the protocol summary.
 */
import { runStdioAgent } from '../mgmt/stdio-agent.js';

if (process.argv.includes('--help')) {
  process.stdout.write(`usage: ovpn-agent
Runs an ovpn-ts data plane managed over stdin/stdout with ovpnd's protocol, one JSON object per line.
Requests:  {"op": "<op>", "msg": {...}, "seq": N[, "dump": true]}
Replies:   {"seq": N, "reply": ...} or {"seq": N, "error": {"code", "errno", "msg", "bad-attr"}}
Dumps:     {"seq": N, "dump": {...}} per object, then {"seq": N, "done": true}
Events:    {"name": "peer-del-ntf" | "key-swap-ntf" | "peer-float-ntf", "msg": {...}} after subscribe,
           {"name": "control-packet", "msg": {"ifindex", "socket", "remote-addr", "remote-port", "packet"}}
Ops: dev-new dev-del dev-list dev-stats peer-new peer-set peer-get peer-del key-new key-get key-swap
     key-del subscribe unsubscribe control-send daemon-info mem, and the agent's helpers udp-socket
     tcp-listen tcp-accept tcp-connect fd-close (sockets are the agent's own fds).
Deleting the devices and exiting happens when stdin closes or on SIGTERM.
`);
  process.exit(0);
}
runStdioAgent();
