/**
 * Reads a server status file (2.6's --status-version 1, 2 or 3) into rows, for the netns tests: the
 * client rows and the routing rows, whatever the version.
 */
import { readFileSync } from 'node:fs';

export interface StatusClientRow {
  cn: string;
  real: string;
  /** Versions 2 and 3 only ('' in version 1). */
  v4: string;
  v6: string;
  rx: bigint;
  tx: bigint;
}

export interface StatusRouteRow {
  address: string;
  cn: string;
  real: string;
}

export interface StatusRead {
  text: string;
  clients: StatusClientRow[];
  routes: StatusRouteRow[];
  title: string | undefined;
  dco: string | undefined;
}

export function readStatus(path: string, version: 1 | 2 | 3): StatusRead {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  const out: StatusRead = { text, clients: [], routes: [], title: undefined, dco: undefined };
  if (version === 1) {
    let part: 'none' | 'clients' | 'routes' = 'none';
    for (const l of lines) {
      if (l.startsWith('Common Name,')) part = 'clients';
      else if (l.startsWith('Virtual Address,')) part = 'routes';
      else if (l === 'ROUTING TABLE' || l === 'GLOBAL STATS') part = 'none';
      else if (part === 'clients') {
        const f = l.split(',');
        out.clients.push({ cn: f[0], real: f[1], v4: '', v6: '', rx: BigInt(f[2]), tx: BigInt(f[3]) });
      } else if (part === 'routes') {
        const f = l.split(',');
        out.routes.push({ address: f[0], cn: f[1], real: f[2] });
      }
    }
    return out;
  }
  const sep = version === 3 ? '\t' : ',';
  for (const l of lines) {
    const f = l.split(sep);
    if (f[0] === 'TITLE') out.title = f[1];
    else if (f[0] === 'GLOBAL_STATS' && f[1] === 'dco_enabled') out.dco = f[2];
    else if (f[0] === 'CLIENT_LIST')
      out.clients.push({ cn: f[1], real: f[2], v4: f[3], v6: f[4], rx: BigInt(f[5]), tx: BigInt(f[6]) });
    else if (f[0] === 'ROUTING_TABLE') out.routes.push({ address: f[1], cn: f[2], real: f[3] });
  }
  return out;
}

/** Polls `read` until `ok` holds (or throws with the last text after `ms`). */
export async function waitStatus(
  read: () => StatusRead,
  ok: (s: StatusRead) => boolean,
  ms: number,
  what: string,
): Promise<StatusRead> {
  const deadline = Date.now() + ms;
  let last: StatusRead | undefined;
  let err: unknown;
  for (;;) {
    try {
      last = read();
      if (ok(last)) return last;
    } catch (e) {
      err = e;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not seen in ${ms} ms; last status:\n${last?.text ?? String(err)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
