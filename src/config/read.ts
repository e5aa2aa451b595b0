/**
 * Config text and command lines into one ordered list of directives, as OpenVPN 2.6 reads them
 * (options.c `read_config_file`, `read_config_string`, `check_inline_file`, `read_inline_file`,
 * `parse_argv`). Pure: no file is read here; `config` includes are expanded by load.ts.
 *
 * Inline blocks (check_inline_file, read_inline_file):
 * - a line whose only parameter is `<name>` (after comment stripping and `--` removal, so
 *   `  <ca>  # x` opens a block too) opens a block; anything else on the line makes it an ordinary
 *   (and unknown) directive `<name>`;
 * - the block runs to the first line that, after leading whitespace, starts with `</name>`; the rest
 *   of that line is ignored; nothing inside is interpreted, so a nested `<cert>` is just content;
 * - the content is the lines in between, byte for byte with their newlines; no line-length limit;
 * - a missing end tag is an error;
 * - the directive then has the content as its one parameter (`inline`); parameters written on the
 *   tag line do not exist, so `<tls-auth>` can take its direction only from `key-direction`.
 * `<connection>` blocks are read the same way and their content parsed as a config of its own
 * (read_config_string), kept here as `block`.
 */
import { dirname } from 'node:path';
import {
  bypassDoubleDash,
  ConfigError,
  lineTooLong,
  MAX_PARMS,
  OPTION_LINE_SIZE,
  quoteForMessage,
  tokenizeLine,
} from './tokenize.js';

/** Tag OpenVPN uses as the file name of command-line options (options.c add_option). */
export const CMD_LINE = '[CMD-LINE]';

export interface Directive {
  /** Directive name without a leading `--`. */
  name: string;
  /** Parameters after the name; empty for an inline block (its content is `inline`). */
  args: string[];
  /** File the directive was read from, or `[CMD-LINE]`. */
  file: string;
  /** 1-based line (for the command line: position of the `--option` word in argv). */
  line: number;
  /** Directory that a relative path in this directive is relative to. */
  dir: string;
  /** Content of an inline block `<name>...</name>`. */
  inline?: string;
  /** The directives of a `<connection>` block. */
  block?: Directive[];
  /** More than 16 parameters were written; the rest were dropped (as OpenVPN does). */
  truncated?: boolean;
}

export interface ReadOptions {
  /** Directory for relative paths; default: the directory of `file`. */
  dir?: string;
  /** Line number of the line before the text's first line (for blocks within a file). */
  lineOffset?: number;
  /** Skip a UTF-8 BOM at the start (read_config_file does; read_config_string does not). Default true. */
  bom?: boolean;
}

interface RawLine {
  text: string;
  /** The line with its newline, if it had one. */
  withNewline: string;
}

function splitLines(text: string): RawLine[] {
  const lines: RawLine[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      const t = text.slice(start);
      lines.push({ text: t, withNewline: t });
      break;
    }
    lines.push({ text: text.slice(start, nl), withNewline: text.slice(start, nl + 1) });
    start = nl + 1;
  }
  return lines;
}

/** Leading C-isspace characters removed (read_inline_file's test for the end tag). */
function trimLeadingSpace(s: string): string {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i])) i++;
  return s.slice(i);
}

/** The tag name when the parameters are a single `<name>` (check_inline_file), else undefined. */
export function inlineTagName(params: string[]): string | undefined {
  if (params.length !== 1) return undefined;
  const p = params[0];
  return p.length >= 2 && p.startsWith('<') && p.endsWith('>') ? p.slice(1, -1) : undefined;
}

/** A whole config file's text into directives, in order. `config` directives are left as they are. */
export function readConfigText(text: string, file: string, opts: ReadOptions = {}): Directive[] {
  const dir = opts.dir ?? dirname(file);
  const offset = opts.lineOffset ?? 0;
  const lines = splitLines(text);
  const out: Directive[] = [];
  for (let i = 0; i < lines.length; i++) {
    const lineNo = offset + i + 1;
    const pos = { file, line: lineNo };
    let { text: t, withNewline } = lines[i];
    if (i === 0 && opts.bom !== false && t.startsWith('\uFEFF')) {
      // The BOM still counts towards the line length, as in read_config_file.
      if (lineTooLong(withNewline)) throw tooLong(pos);
      t = t.slice(1);
      withNewline = withNewline.slice(1);
    } else if (lineTooLong(withNewline)) {
      throw tooLong(pos);
    }
    const { params, truncated } = tokenizeLine(t, pos);
    if (params.length === 0) continue;
    params[0] = bypassDoubleDash(params[0]);
    const tag = inlineTagName(params);
    if (tag === undefined) {
      const d: Directive = { name: params[0], args: params.slice(1), file, line: lineNo, dir };
      if (truncated) d.truncated = true;
      out.push(d);
      continue;
    }
    const close = `</${tag}>`;
    const body: string[] = [];
    let end = -1;
    for (let j = i + 1; j < lines.length; j++) {
      if (trimLeadingSpace(lines[j].text).startsWith(close)) {
        end = j;
        break;
      }
      if (lines[j].text.includes('\0')) {
        throw new ConfigError({ file, line: offset + j + 1 }, `NUL byte inside <${tag}>`, tag);
      }
      body.push(lines[j].withNewline);
    }
    if (end < 0) {
      throw new ConfigError(
        pos,
        `end tag ${close} missing (block opened here runs to the end of the file)`,
        tag,
      );
    }
    const content = body.join('');
    const d: Directive = { name: tag, args: [], file, line: lineNo, dir, inline: content };
    if (tag === 'connection') {
      d.block = readConfigText(content, file, { dir, lineOffset: lineNo, bom: false });
    }
    out.push(d);
    i = end;
  }
  return out;
}

function tooLong(pos: { file: string; line: number }): ConfigError {
  return new ConfigError(pos, `line too long (OpenVPN reads at most ${OPTION_LINE_SIZE - 1} bytes per line)`);
}

/**
 * Command-line arguments (without the program name) into directives, as parse_argv: each `--name`
 * takes the following words up to the next `--word` (at most 15 of them); a single argument
 * without `--` means `--config <it>`. Words are taken verbatim (no quoting, no comments). The
 * position of each directive is `[CMD-LINE]` and the index of its `--name` word (1-based).
 */
export function argvToDirectives(argv: readonly string[], cwd: string): Directive[] {
  if (argv.length === 1 && !argv[0].startsWith('--')) {
    return [{ name: 'config', args: [argv[0]], file: CMD_LINE, line: 1, dir: cwd }];
  }
  const out: Directive[] = [];
  for (let i = 0; i < argv.length; ) {
    const word = argv[i];
    const pos = { file: CMD_LINE, line: i + 1 };
    if (!word.startsWith('--')) {
      throw new ConfigError(
        pos,
        `${quoteForMessage(word)} is not an option: options start with '--'` +
          (i > 0 ? ` (or ${quoteForMessage(argv[i - 1])} had too many parameters)` : ''),
      );
    }
    const args: string[] = [];
    let j = i + 1;
    while (j < argv.length && args.length < MAX_PARMS - 1 && !argv[j].startsWith('--')) {
      args.push(argv[j]);
      j++;
    }
    out.push({ name: word.slice(2), args, file: CMD_LINE, line: i + 1, dir: cwd });
    i = j;
  }
  return out;
}
