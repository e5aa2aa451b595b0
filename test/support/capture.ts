/** tcpdump in a namespace: wait for one packet matching a filter, while a test sends traffic. */
import type { NetnsLab } from '../../src/lab/netns.js';

export interface Capture {
  /** Resolves true if a matching packet was seen before the timeout. */
  done: Promise<boolean>;
  /** Resolves once tcpdump is listening (start traffic after this). */
  ready: Promise<void>;
}

export function captureOne(
  lab: NetnsLab,
  ns: string,
  ifname: string,
  filter: string,
  timeoutMs = 15_000,
): Capture {
  const child = lab.spawn(ns, 'tcpdump', ['-i', ifname, '-n', '-c', '1', '-l', filter]);
  let err = '';
  let out = '';
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.includes('listening on')) readyResolve();
  });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      readyResolve();
      resolve(false);
    }, timeoutMs);
    child.on('close', () => {
      clearTimeout(t);
      readyResolve();
      resolve(/1 packet captured/.test(err) || out.trim().length > 0);
    });
  });
  return { done, ready };
}
