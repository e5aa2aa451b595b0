/**
 * One row of a directive table (directives.ts for the client, server-directives.ts laid over it for
 * the server) and the three builders the tables are written with: `H` honoured, `I` ignored with its
 * reason, `R` refused with its reason.
 */
export type Disposition = 'honoured' | 'ignored' | 'refused';

export interface DirectiveSpec {
  /** Fewest parameters after the name (an inline block counts as one). */
  min: number;
  /** Most parameters after the name. */
  max: number;
  disposition: Disposition;
  /** Why it is ignored or refused. */
  reason?: string;
  /** Allowed inside `<connection>` (OPT_P_CONNECTION). */
  connection?: boolean;
  /** May be an inline block (OPT_P_INLINE). */
  inline?: boolean;
  /** An ignored directive whose note is a warning shown at every verbosity (e.g. `user` on a server). */
  warn?: boolean;
}

export const H = (min: number, max: number, extra: Partial<DirectiveSpec> = {}): DirectiveSpec => ({
  min,
  max,
  disposition: 'honoured',
  ...extra,
});
export const I = (
  min: number,
  max: number,
  reason: string,
  extra: Partial<DirectiveSpec> = {},
): DirectiveSpec => ({
  min,
  max,
  disposition: 'ignored',
  reason,
  ...extra,
});
export const R = (
  min: number,
  max: number,
  reason: string,
  extra: Partial<DirectiveSpec> = {},
): DirectiveSpec => ({
  min,
  max,
  disposition: 'refused',
  reason,
  ...extra,
});
