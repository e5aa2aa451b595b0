/**
 * One line of an OpenVPN config file into its parameters, with OpenVPN 2.6's rules
 * (options.c `parse_line`, `bypass_doubledash`, and the line handling of `read_config_file`).
 *
 * The rules, as that code behaves:
 * - whitespace (C `isspace`: space, \t, \n, \v, \f, \r) separates parameters;
 * - `#` or `;` start a comment only where a parameter would start; inside a parameter they are literal,
 *   and a backslash before them does not make them literal (`\#x` is still a comment);
 * - `"..."` may contain whitespace; inside it `\"`, `\\` and backslash-whitespace are escapes;
 * - `'...'` may contain anything but `'`, and a backslash in it is an ordinary character;
 * - outside single quotes a backslash may only precede `\`, `"` or whitespace: anything else is an
 *   error ("bad backslash"); backslash-whitespace between parameters vanishes; a backslash that ends
 *   the text (no newline after it) leaves the parser mid-parameter, which is an error too;
 * - a closing quote ends the parameter at once: `"a"b` is two parameters, `a"b` is one;
 * - an unterminated quote is an error (not a truncated parameter);
 * - a parameter longer than 256 bytes is an error; at most 16 parameters (the directive name counts)
 *   are kept and the rest of the line is silently dropped, as OpenVPN does;
 * - in files, a line of 256 bytes or more (its newline counted) is an error (`read_config_file`
 *   reads with a 257-byte `fgets` buffer and refuses a full one).
 *
 * One deliberate difference: OpenVPN stops reading a line at a NUL byte (C strings), silently
 * dropping the rest; we refuse the line instead.
 */
import { OvpnError } from '../errors/index.js';

/** Most parameters on one line, the directive name included (options.h MAX_PARMS). */
export const MAX_PARMS = 16;
/** Longest parameter in bytes (options.h OPTION_PARM_SIZE). */
export const OPTION_PARM_SIZE = 256;
/** A config-file line of this many bytes or more (newline counted) is refused (options.h OPTION_LINE_SIZE). */
export const OPTION_LINE_SIZE = 256;

/** Where a line came from, for messages: `file` is a path or a tag such as `[CMD-LINE]`. */
export interface SourcePos {
  file: string;
  line: number;
}

/**
 * A config error with its place: every refusal of the config language names the file and line and,
 * when there is one, the directive.
 */
export class ConfigError extends OvpnError {
  readonly file: string;
  readonly line: number;
  readonly directive: string | undefined;
  /** The message without the `file:line:` prefix. */
  readonly reason: string;

  constructor(pos: SourcePos, reason: string, directive?: string) {
    super('EINVAL', `${pos.file}:${pos.line}: ${directive !== undefined ? `${directive}: ` : ''}${reason}`);
    this.file = pos.file;
    this.line = pos.line;
    this.directive = directive;
    this.reason = reason;
  }
}

export interface TokenizedLine {
  /** The parameters; the first is the directive name. Empty for blank and comment lines. */
  params: string[];
  /** True when more than MAX_PARMS parameters were present and the rest of the line was dropped. */
  truncated: boolean;
}

/** C `isspace` in the C locale, plus the end of the text (parse_line's `space()`). */
function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

function utf8Len(c: string): number {
  const cp = c.codePointAt(0) ?? 0;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** Printable, bounded form of user text for an error message. */
export function quoteForMessage(s: string, max = 40): string {
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  return JSON.stringify(cut);
}

enum State {
  Initial,
  Unquoted,
  Quoted,
  SingleQuoted,
}

/**
 * Split one line (with or without its trailing newline) into parameters, as parse_line does.
 * Throws a ConfigError naming `pos` for a bad backslash, an unterminated quote, an over-long
 * parameter or a NUL byte.
 */
export function tokenizeLine(line: string, pos: SourcePos): TokenizedLine {
  if (line.includes('\0')) throw new ConfigError(pos, 'NUL byte in the line');
  const params: string[] = [];
  let state = State.Initial;
  let backslash = false;
  let parm = '';
  let parmBytes = 0;
  let truncated = false;
  // Iterate by code point; `undefined` stands for the end of the text (C's terminating NUL).
  const chars = [...line];
  for (let i = 0; i <= chars.length; i++) {
    const c = chars[i];
    const atEnd = c === undefined;
    const space = atEnd || isSpace(c);
    let out: string | undefined;
    if (!backslash && c === '\\' && state !== State.SingleQuoted) {
      backslash = true;
    } else {
      let done = false;
      if (state === State.Initial) {
        if (!space) {
          if (c === '#' || c === ';') break; // comment, escaped or not
          if (!backslash && c === '"') state = State.Quoted;
          else if (!backslash && c === "'") state = State.SingleQuoted;
          else {
            out = c;
            state = State.Unquoted;
          }
        }
      } else if (state === State.Unquoted) {
        if (!backslash && space) done = true;
        else if (!atEnd) out = c;
      } else if (state === State.Quoted) {
        if (!backslash && c === '"') done = true;
        else if (!atEnd) out = c;
      } else {
        if (c === "'") done = true;
        else if (!atEnd) out = c;
      }
      if (done) {
        params.push(parm);
        parm = '';
        parmBytes = 0;
        state = State.Initial;
      }
      if (backslash && out !== undefined && !(out === '\\' || out === '"' || isSpace(out))) {
        throw new ConfigError(
          pos,
          `bad backslash before ${quoteForMessage(out)}: outside single quotes a backslash may only ` +
            'precede \\, " or whitespace (write a Windows path as "c:\\\\dir\\\\file" or in single quotes)',
        );
      }
      backslash = false;
    }
    if (out !== undefined) {
      parmBytes += utf8Len(out);
      if (parmBytes > OPTION_PARM_SIZE) {
        throw new ConfigError(
          pos,
          `parameter ${params.length + 1} is too long (${OPTION_PARM_SIZE} bytes max): ${quoteForMessage(parm)}`,
        );
      }
      parm += out;
    }
    if (params.length >= MAX_PARMS) {
      // parse_line stops here without looking at the rest; say whether anything was left.
      truncated = chars.slice(i + 1).some((ch) => !isSpace(ch)) && !isComment(chars.slice(i + 1));
      return { params, truncated };
    }
    if (atEnd) break;
  }
  if (state === State.Quoted) throw new ConfigError(pos, 'no closing quotation (")');
  if (state === State.SingleQuoted) throw new ConfigError(pos, "no closing single quotation (')");
  if (state !== State.Initial) {
    // Only reachable when a backslash ends the text: the parser is left inside a parameter.
    throw new ConfigError(pos, 'a backslash ends the line (nothing for it to escape)');
  }
  return { params, truncated };
}

function isComment(rest: string[]): boolean {
  const first = rest.find((ch) => !isSpace(ch));
  return first === '#' || first === ';';
}

/** Strip a leading `--` from a directive name of 3 or more characters (options.c bypass_doubledash). */
export function bypassDoubleDash(name: string): string {
  return name.length >= 3 && name.startsWith('--') ? name.slice(2) : name;
}

/** True when a config-file line (newline included, if any) is too long for OpenVPN (read_config_file). */
export function lineTooLong(lineWithNewline: string): boolean {
  return Buffer.byteLength(lineWithNewline, 'utf8') >= OPTION_LINE_SIZE;
}
