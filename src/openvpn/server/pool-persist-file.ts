/**
 * The `ifconfig-pool-persist file [seconds]` file kept as OpenVPN 2.6 keeps it (pool.c
 * ifconfig_pool_persist_init / ifconfig_pool_read / ifconfig_pool_write, status.c status_open with
 * READ|WRITE, multi.c multi_ifconfig_pool_persist, mudp.c/mtcp.c at the end of the server loop):
 *
 * - seconds > 0: the file is opened O_CREAT|O_RDWR (mode 0600, not emptied), read into the pool at
 *   start-up, rewritten in place (from offset 0, then truncated) at the first timer tick and every
 *   `seconds` after, and once more when the server exits (2.6 forces that write before it tears the
 *   clients down, so the names of the clients still connected are kept);
 * - seconds 0: the file is only read (2.6 opens it O_RDONLY: "Note: cannot open FILE for READ" when
 *   it is missing), its entries are `fixed` (never given to another name) and it is never written.
 *
 * The text itself is pool-persist.ts's (parsePoolPersist, applyPoolPersist, formatPoolPersist).
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ServerOptions } from '../../config/server-options.js';
import type { IfconfigPool } from './ifconfig-pool.js';
import { applyPoolPersist, formatPoolPersist, parsePoolPersist } from './pool-persist.js';

export interface PoolPersistTask {
  /** Rewrites the file now from the pool (no-op for a read-only file or once closed). */
  writeNow(): void;
  /** The exit: the last write (seconds > 0), the timer stopped, the file closed. Idempotent. */
  close(): void;
}

/** Starts the server's persist file, or undefined without `ifconfig-pool-persist` or a pool. */
export function startPoolPersist(
  o: Pick<ServerOptions, 'poolPersist'>,
  pool: IfconfigPool | undefined,
  log: (msg: string) => void,
  now: () => number = () => Math.floor(Date.now() / 1000),
): PoolPersistTask | undefined {
  const pp = o.poolPersist;
  if (pp === undefined || pool === undefined) return undefined;
  const path = isAbsolute(pp.ref.path) ? pp.ref.path : join(pp.ref.dir, pp.ref.path);
  const writable = pp.seconds > 0;
  let fd: number | undefined;
  try {
    fd = writable ? openSync(path, constants.O_CREAT | constants.O_RDWR, 0o600) : openSync(path, 'r');
  } catch (e) {
    log(`Note: cannot open ${path} for ${writable ? 'READ/WRITE' : 'READ'}: ${(e as Error).message}`);
  }
  if (fd !== undefined) readInto(fd, pool, !writable, now(), log);
  let failing = false;
  const writeNow = () => {
    if (fd === undefined || !writable) return;
    try {
      const buf = Buffer.from(formatPoolPersist(pool));
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, off);
      ftruncateSync(fd, buf.length);
      failing = false;
    } catch (e) {
      if (!failing) log(`cannot write the ifconfig-pool-persist file ${path}: ${(e as Error).message}`);
      failing = true;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  if (fd !== undefined && writable) {
    // 2.6: the first per-second tick writes (event_timeout_init with last 0), then every `seconds`
    timer = setTimeout(function tick() {
      writeNow();
      timer = setTimeout(tick, pp.seconds * 1000);
      timer.unref();
    }, 1000);
    timer.unref();
  }
  return {
    writeNow,
    close() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (fd === undefined) return;
      writeNow();
      closeSync(fd);
      fd = undefined;
    },
  };
}

function readInto(
  fd: number,
  pool: IfconfigPool,
  fixed: boolean,
  now: number,
  log: (m: string) => void,
): void {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n <= 0) break;
    off += n;
  }
  const text = buf.subarray(0, off).toString('utf8');
  const raw = text.split('\n');
  const lines = parsePoolPersist(text);
  for (const l of lines) log(`ifconfig_pool_read(), in='${raw[l.line - 1].replaceAll('\r', '')}'`);
  const applied = applyPoolPersist(pool, lines, fixed, now);
  for (const w of applied.warnings) log(w);
  for (const s of applied.set) log(`succeeded -> ifconfig_pool_set(hand=${s.handle}) for ${s.commonName}`);
}
