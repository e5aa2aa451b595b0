/**
 * Talking to ovpnd the way the tool talks to the kernel: connect (the daemon plays the ovpn module's
 * part; a missing one fails as a missing netlink family does, with -ENOMEM), send one request, and on a
 * refusal print the daemon's message (the kernel's extack) and fail with -errno.
 */
import { OvpndClient, OvpndError } from '../../client/ovpnd-client.js';
import { ERRNO } from '../../errors/ovpn-error.js';
import { strerror } from '../../sys/libc.js';
import { CliFailure, type Output } from './status.js';

/** Connects to this namespace's daemon; `start` launches one if none runs (new_iface only). */
export async function openSession(out: Output, start = false): Promise<OvpndClient> {
  try {
    return await OvpndClient.connect({ start });
  } catch (e) {
    out.err(`cannot connect to ovpnd: ${e instanceof Error ? e.message : String(e)}\n`);
    throw new CliFailure(-ERRNO.ENOMEM, 'no ovpnd');
  }
}

/** The C status for a failed request: -errno for a refusal, -EIO when the connection broke. */
export function failureStatus(e: unknown): number {
  if (e instanceof OvpndError) return -(e.errno > 0 ? e.errno : ERRNO.EIO);
  return -ERRNO.EIO;
}

/** Prints what went wrong with a request (the daemon's message, then the errno line). */
export function reportFailure(out: Output, e: unknown): number {
  const status = failureStatus(e);
  if (e instanceof OvpndError) out.err(`ovpnd error: ${e.reply.msg}\n`);
  else out.err(`ovpnd connection error: ${e instanceof Error ? e.message : String(e)}\n`);
  out.err(`failed to send ovpnd request: ${strerror(-status)} (${status})\n`);
  return status;
}

/** Runs one request; on failure prints the report and throws CliFailure(-errno). */
export async function request<T>(out: Output, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new CliFailure(reportFailure(out, e), 'request failed');
  }
}

/** Runs one request; on failure prints the report and returns the status instead of throwing. */
export async function tryRequest<T>(
  out: Output,
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; status: number }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, status: reportFailure(out, e) };
  }
}
