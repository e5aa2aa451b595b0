/**
 * A complete PUSH_REPLY as the client takes it in: the pull filters first (pull-filter.ts), then
 * whatever reads the reply — here the auth-token it renews (auth-user-pass.ts), then the options
 * for the tunnel. So `pull-filter ignore auth-token` keeps a token out, and a reply a `reject` filter
 * refuses installs nothing (2.6 filters in apply_push_options before any option is applied).
 */
import type { AuthUserPass } from './auth-user-pass.js';
import { applyPullFilters, type PullFilter } from './pull-filter.js';

/** The lines that pass `filters`, after the auth-token among them was taken. Throws PullFilterRejected. */
export function acceptPushReply(
  options: readonly string[],
  filters: readonly PullFilter[],
  auth: Pick<AuthUserPass, 'applyPushed'>,
  log: (msg: string) => void,
  show: (line: string) => string,
): string[] {
  const filtered = applyPullFilters(options, filters, log, show);
  auth.applyPushed(filtered);
  return filtered;
}
