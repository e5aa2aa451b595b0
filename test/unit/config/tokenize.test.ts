/**
 * The tokenizer (src/config/tokenize.ts) against OpenVPN 2.6's parse_line rules, case by case,
 * including hostile input: nothing crashes, every refusal is a ConfigError with file and line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bypassDoubleDash, ConfigError, lineTooLong, tokenizeLine } from '../../../src/config/tokenize.js';

const POS = { file: 'p.ovpn', line: 7 };
const tok = (s: string): string[] => tokenizeLine(s, POS).params;

function refuses(s: string, re: RegExp): void {
  assert.throws(
    () => tokenizeLine(s, POS),
    (e: unknown) => e instanceof ConfigError && e.file === 'p.ovpn' && e.line === 7 && re.test(e.message),
  );
}

describe('tokenizeLine: separation and comments', () => {
  it('splits on any C whitespace, including \\r, \\v and \\f', () => {
    assert.deepEqual(tok('remote  vpn.example\t1194 \vudp\f\r\n'), ['remote', 'vpn.example', '1194', 'udp']);
  });
  it('blank lines and comment lines give nothing', () => {
    assert.deepEqual(tok(''), []);
    assert.deepEqual(tok('   \n'), []);
    assert.deepEqual(tok('# remote x'), []);
    assert.deepEqual(tok('   ; remote x'), []);
  });
  it('# and ; start a comment only where a parameter starts', () => {
    assert.deepEqual(tok('verb 3 # three'), ['verb', '3']);
    assert.deepEqual(tok('verb 3;x #y'), ['verb', '3;x']);
    assert.deepEqual(tok('auth-user-pass pass#word'), ['auth-user-pass', 'pass#word']);
  });
  it('an escaped # at a parameter start is still a comment', () => {
    assert.deepEqual(tok('verb 3 \\#x'), ['verb', '3']);
  });
});

describe('tokenizeLine: quoting', () => {
  it('double quotes keep whitespace and comment characters', () => {
    assert.deepEqual(tok('up "/bin/sh -c \'x\' # y"'), ['up', "/bin/sh -c 'x' # y"]);
  });
  it('in double quotes, \\" and \\\\ are escapes', () => {
    assert.deepEqual(tok('x "a\\"b\\\\c"'), ['x', 'a"b\\c']);
  });
  it('single quotes take backslashes literally', () => {
    assert.deepEqual(tok("ca 'C:\\dir\\ca.crt'"), ['ca', 'C:\\dir\\ca.crt']);
    assert.deepEqual(tok("x 'a\"b'"), ['x', 'a"b']);
  });
  it('empty quotes give an empty parameter', () => {
    assert.deepEqual(tok('x "" \'\''), ['x', '', '']);
  });
  it('a closing quote ends the parameter at once', () => {
    assert.deepEqual(tok('x "a"b'), ['x', 'a', 'b']);
    assert.deepEqual(tok("x 'a'b"), ['x', 'a', 'b']);
  });
  it('a quote inside an unquoted parameter is literal', () => {
    assert.deepEqual(tok('x a"b'), ['x', 'a"b']);
    assert.deepEqual(tok("x a'b"), ['x', "a'b"]);
  });
  it('an escaped quote at a parameter start begins an unquoted parameter', () => {
    assert.deepEqual(tok('x \\"a b'), ['x', '"a', 'b']);
  });
  it('unterminated quotes are errors, not truncated parameters', () => {
    refuses('x "abc', /no closing quotation \("\)/);
    refuses("x 'abc", /no closing single quotation/);
    refuses('x "abc\\"', /no closing quotation/);
  });
});

describe('tokenizeLine: backslashes', () => {
  it('\\\\ is one backslash and backslash-space joins words', () => {
    assert.deepEqual(tok('x C:\\\\dir\\\\f a\\ b'), ['x', 'C:\\dir\\f', 'a b']);
  });
  it('a backslash before anything else is refused', () => {
    refuses('ca C:\\dir\\ca.crt', /bad backslash before "d"/);
    refuses('x "a\\n"', /bad backslash before "n"/);
    refuses("x \\'a'", /bad backslash/);
  });
  it('backslash-newline keeps the newline in the parameter', () => {
    assert.deepEqual(tok('x a\\\n'), ['x', 'a\n']);
  });
  it('a backslash ending the text inside a parameter is refused', () => {
    refuses('x a\\', /backslash ends the line/);
  });
  it('a lone backslash-space between parameters vanishes', () => {
    assert.deepEqual(tok('x \\ y'), ['x', 'y']);
  });
});

describe('tokenizeLine: limits', () => {
  it('a 256-byte parameter is accepted, quoted or not; 257 bytes is refused', () => {
    const a256 = 'A'.repeat(256);
    assert.deepEqual(tok(`x ${a256}`), ['x', a256]);
    assert.deepEqual(tok(`x "${a256}"`), ['x', a256]);
    refuses(`x ${a256}B`, /parameter 2 is too long \(256 bytes max\)/);
  });
  it('the limit counts UTF-8 bytes', () => {
    assert.deepEqual(tok(`x ${'é'.repeat(128)}`), ['x', 'é'.repeat(128)]);
    refuses(`x ${'é'.repeat(128)}a`, /too long/);
  });
  it('16 parameters are kept and the rest is dropped, flagged as truncated', () => {
    const words = Array.from({ length: 20 }, (_, i) => `${i}`);
    const r = tokenizeLine(words.join(' '), POS);
    assert.deepEqual(r.params, words.slice(0, 16));
    assert.equal(r.truncated, true);
    const exact = tokenizeLine(words.slice(0, 16).join(' '), POS);
    assert.equal(exact.truncated, false);
  });
  it('what follows the 16th parameter is not parsed at all (an open quote there is no error)', () => {
    const words = Array.from({ length: 16 }, (_, i) => `${i}`);
    assert.equal(tokenizeLine(`${words.join(' ')} "open`, POS).params.length, 16);
  });
  it('a NUL byte is refused rather than silently ending the line', () => {
    refuses('remote a\0b', /NUL byte/);
  });
  it('a very long line of short words does not crash', () => {
    const r = tokenizeLine('x '.repeat(100_000), POS);
    assert.equal(r.params.length, 16);
  });
  it('lineTooLong: 255 bytes plus a newline is too long, as read_config_file', () => {
    assert.equal(lineTooLong(`${'a'.repeat(254)}\n`), false);
    assert.equal(lineTooLong(`${'a'.repeat(255)}\n`), true);
    assert.equal(lineTooLong('a'.repeat(255)), false);
    assert.equal(lineTooLong('a'.repeat(256)), true);
  });
});

describe('bypassDoubleDash', () => {
  it('strips -- from names of three or more characters only', () => {
    assert.equal(bypassDoubleDash('--verb'), 'verb');
    assert.equal(bypassDoubleDash('--x'), 'x');
    assert.equal(bypassDoubleDash('--'), '--');
    assert.equal(bypassDoubleDash('-verb'), '-verb');
  });
});
