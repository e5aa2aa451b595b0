/** Helpers for the server tests that run scripts: writing them, reading what they wrote, cleanup. */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { LineWatcher } from '../openvpn/fixture.js';

/** Writes an executable /bin/sh script (scripts get no PATH: only builtins and absolute paths). */
export function writeScript(path: string, body: string[]): string {
  writeFileSync(path, ['#!/bin/sh', ...body, ''].join('\n'));
  chmodSync(path, 0o755);
  return path;
}

/** The lines of a file, or [] when it does not exist (yet). */
export function fileLines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

/** `NAME=value` lines (what /usr/bin/env writes) as a map. */
export function envOf(lines: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of lines) {
    const eq = l.indexOf('=');
    if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return m;
}

/** Waits (up to 5 s) for a script to have written `path`, then reads it as an environment. */
export async function waitForEnv(path: string): Promise<Map<string, string>> {
  for (let i = 0; i < 50; i++) {
    if (fileLines(path).length > 0) {
      await sleep(100);
      return envOf(fileLines(path));
    }
    await sleep(100);
  }
  throw new Error(`${path} was not written`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Stops the processes a test started, whatever happened. */
export async function stopAll(ws: LineWatcher[]): Promise<void> {
  for (const w of ws) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.waitExit(8000)));
}
