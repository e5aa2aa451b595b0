/**
 * Test entry: runs the ovpn-ts server from a JSON file of ServerOptions (the fixture builds them as
 * 2.6's `server` helper would) until SIGTERM. Logs to stdout. Until main.ts reads server configs, this
 * is how the netns tests start the server.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerOptions } from '../../../src/config/server-options.js';
import { serveUntilSignal } from '../../../src/openvpn/server/server-main.js';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: run-server.js options.json\n');
  process.exit(1);
}
const o = JSON.parse(readFileSync(file, 'utf8')) as ServerOptions;
o.setenv = new Map();
const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
const code = await serveUntilSignal(o, { readFile: (p) => readFile(p), log });
process.exit(code);
