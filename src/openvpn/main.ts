/**
 * `ovpn-ts --config client.ovpn [openvpn options...] [--json]`: the client program. Options are
 * OpenVPN's (config/load.ts). With `--json`, progress goes to stdout as one JSON object per line
 * (`{"event":"up",...}`), and lines on stdin are commands: `stats` prints the peer (peer-get),
 * `quit` tears down and exits. SIGINT/SIGTERM tear down too.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { OvpnApi } from '../api/ovpn-api.js';
import { loadClientConfig } from '../config/load.js';
import { OpenvpnClient } from './client.js';

function jsonLine(o: Record<string, unknown>): string {
  return `${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}\n`;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const emit = (o: Record<string, unknown>) => {
    if (json) process.stdout.write(jsonLine(o));
  };
  const log = (msg: string) => {
    process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
    emit({ event: 'log', msg });
  };
  let loaded: Awaited<ReturnType<typeof loadClientConfig>>;
  try {
    loaded = await loadClientConfig(args, { readFile: (p) => readFile(p), cwd: process.cwd() });
  } catch (e) {
    log(`ERROR: ${(e as Error).message}`);
    emit({ event: 'error', message: (e as Error).message });
    return 1;
  }
  const { options, notes } = loaded;
  for (const n of notes) if (n.minVerb <= options.verb) log(`config: ${n.message}`);
  const api = new OvpnApi();
  const client = new OpenvpnClient(api, options, { readFile: (p) => readFile(p), log });
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => {
    done = r;
  });
  const stop = (code: number) => {
    client.close();
    api.close();
    done(code);
  };
  process.once('SIGINT', () => stop(0));
  process.once('SIGTERM', () => stop(0));
  if (json) {
    createInterface({ input: process.stdin }).on('line', (line) => {
      const cmd = line.trim();
      if (cmd === 'stats') emit({ event: 'stats', peer: client.peerInfo(), drops: client.drops() });
      else if (cmd === 'quit') stop(0);
    });
  }
  try {
    const up = await client.connect();
    emit({ event: 'up', ...up });
  } catch (e) {
    log(`ERROR: ${(e as Error).message}`);
    emit({ event: 'error', message: (e as Error).message, drops: client.drops() });
    stop(1);
  }
  return finished;
}

process.exitCode = await main(process.argv.slice(2));
process.exit();
