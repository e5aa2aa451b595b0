/**
 * The one rule for interface names, the kernel's `dev_valid_name()`: 1 to 15 bytes (IFNAMSIZ - 1, in
 * UTF-8), not "." or "..", and no '/', ':', NUL or whitespace. The TUN's own check, the schema's length
 * limit (api/spec.ts, `ifname`) and dev-new's check all come from here, and ovpn-cli cuts names at the
 * same length.
 */

/** The kernel's IFNAMSIZ: the name and its terminating NUL. */
export const IFNAMSIZ = 16;
/** Longest interface name, in bytes. */
export const IFNAME_MAX = IFNAMSIZ - 1;

const FORBIDDEN = /[/:\s\0]/;

/** Why `name` is not a valid interface name, or undefined when it is. */
export function ifnameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > IFNAME_MAX) return `interface name must be 1..${IFNAME_MAX} bytes long`;
  if (name === '.' || name === '..' || FORBIDDEN.test(name)) return 'invalid interface name';
  return undefined;
}

/** `name` cut to at most IFNAME_MAX bytes on a character boundary (as C's strncpy into IFNAMSIZ). */
export function cutIfname(name: string): string {
  let out = '';
  for (const ch of name) {
    if (Buffer.byteLength(out + ch, 'utf8') > IFNAME_MAX) break;
    out += ch;
  }
  return out;
}
