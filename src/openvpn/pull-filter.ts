/**
 * `pull-filter` applied to the lines of a PUSH_REPLY before anything reads them (OpenVPN 2.6
 * options.c apply_pull_filter): the first filter whose text starts the line (leading spaces
 * skipped) decides: `accept` keeps it, `ignore` drops it, `reject` refuses the whole reply (OpenVPN
 * restarts the connection: "Offending option received from server"). No match keeps the line.
 */

export interface PullFilter {
  action: 'accept' | 'ignore' | 'reject';
  pattern: string;
}

/** Thrown for a line that a `reject` filter matched. */
export class PullFilterRejected extends Error {}

/**
 * The lines that pass the filters; `log` hears each removal, with the line as `show` renders it (to
 * hide an auth-token). Throws PullFilterRejected.
 */
export function applyPullFilters(
  lines: readonly string[],
  filters: readonly PullFilter[],
  log: (msg: string) => void = () => {},
  show: (line: string) => string = (l) => l,
): string[] {
  if (filters.length === 0) return [...lines];
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.replace(/^[ \t\n\v\f\r]+/, '');
    const f = filters.find((x) => line.startsWith(x.pattern));
    if (f === undefined || f.action === 'accept') out.push(raw);
    else if (f.action === 'ignore') log(`Pushed option removed by filter: '${show(line)}'`);
    else {
      log(`Pushed option rejected by filter: '${show(line)}'. Restarting.`);
      throw new PullFilterRejected(`pull-filter: pushed option rejected by filter: '${show(line)}'`);
    }
  }
  return out;
}
