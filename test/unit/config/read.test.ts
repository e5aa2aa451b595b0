/**
 * Whole files and command lines into directives (src/config/read.ts) and `config` includes
 * (src/config/load.ts expandConfig): inline blocks as read_inline_file reads them, <connection>
 * blocks, line numbers, BOM, argv as parse_argv splits it, later-wins order, include limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandConfig } from '../../../src/config/load.js';
import { argvToDirectives, readConfigText } from '../../../src/config/read.js';
import { ConfigError } from '../../../src/config/tokenize.js';

const brief = (t: string) =>
  readConfigText(t, '/etc/p/c.ovpn').map((d) => [d.name, d.args, d.line, d.inline]);

function refuses(fn: () => unknown, file: string, line: number, re: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof ConfigError && e.file === file && e.line === line && re.test(e.message),
  );
}

describe('readConfigText', () => {
  it('keeps order, names and line numbers; strips a leading -- and the BOM of line 1', () => {
    const ds = readConfigText('\uFEFFclient\n\n--dev tun\n# c\nremote a 1194\n', '/etc/p/c.ovpn');
    assert.deepEqual(
      ds.map((d) => [d.name, d.args, d.line, d.dir]),
      [
        ['client', [], 1, '/etc/p'],
        ['dev', ['tun'], 3, '/etc/p'],
        ['remote', ['a', '1194'], 5, '/etc/p'],
      ],
    );
  });
  it('a BOM elsewhere is not skipped', () => {
    assert.equal(readConfigText('client\n\uFEFFdev tun\n', 'c')[1].name, '\uFEFFdev');
  });
  it('inline blocks keep their content byte for byte; the tag line may carry spaces and a comment', () => {
    const t =
      'client\n  <ca>  # the CA\n-----BEGIN X-----\n  indented\r\n-----END X-----\n  </ca> trailing\ndev tun\n';
    assert.deepEqual(brief(t), [
      ['client', [], 1, undefined],
      ['ca', [], 2, '-----BEGIN X-----\n  indented\r\n-----END X-----\n'],
      ['dev', ['tun'], 7, undefined],
    ]);
  });
  it('a nested tag is content; the first matching end tag closes', () => {
    const t = '<ca>\n<cert>\nx\n</cert>\n</ca>\n';
    assert.deepEqual(brief(t), [['ca', [], 1, '<cert>\nx\n</cert>\n']]);
  });
  it('an empty block has empty content', () => {
    assert.deepEqual(brief('<tls-auth>\n</tls-auth>\n'), [['tls-auth', [], 1, '']]);
  });
  it('a tag with parameters after it is not a block', () => {
    assert.deepEqual(brief('<ca> x\n'), [['<ca>', ['x'], 1, undefined]]);
  });
  it('a missing end tag is an error at the opening line', () => {
    refuses(() => readConfigText('client\n<key>\nabc\n', 'c.ovpn'), 'c.ovpn', 2, /<\/key> missing/);
  });
  it('a block opened at the last line without newline is missing its end tag too', () => {
    refuses(() => readConfigText('<ca>', 'c.ovpn'), 'c.ovpn', 1, /missing/);
  });
  it('<connection> blocks become nested lists with absolute line numbers', () => {
    const t =
      'client\n<connection>\nremote a 1194 udp\n<tls-crypt>\nK\n</tls-crypt>\n</connection>\nverb 3\n';
    const ds = readConfigText(t, 'c.ovpn');
    assert.equal(ds[1].name, 'connection');
    assert.deepEqual(
      ds[1].block?.map((d) => [d.name, d.args, d.line, d.inline]),
      [
        ['remote', ['a', '1194', 'udp'], 3, undefined],
        ['tls-crypt', [], 4, 'K\n'],
      ],
    );
    assert.equal(ds[2].line, 8);
  });
  it('a line of 256 bytes is refused, inline content lines are not limited', () => {
    refuses(
      () => readConfigText(`client\nremote ${'a'.repeat(260)}\n`, 'c.ovpn'),
      'c.ovpn',
      2,
      /line too long/,
    );
    const big = `<ca>\n${'B'.repeat(5000)}\n</ca>\n`;
    assert.equal(readConfigText(big, 'c.ovpn')[0].inline?.length, 5001);
  });
  it('errors inside a line name file and line', () => {
    refuses(() => readConfigText('client\n\nca "x\n', 'dir/c.ovpn'), 'dir/c.ovpn', 3, /no closing quotation/);
    refuses(() => readConfigText('client\n<ca>\na\0b\n</ca>\n', 'c.ovpn'), 'c.ovpn', 3, /NUL/);
  });
  it('a 10k-line file parses quickly and a hostile one fails cleanly', () => {
    const lines = Array.from({ length: 10_000 }, (_, i) => `setenv V${i} "x y"`);
    assert.equal(readConfigText(lines.join('\n'), 'c').length, 10_000);
    const opens = Array.from({ length: 10_000 }, () => '<ca>').join('\n');
    refuses(() => readConfigText(opens, 'c'), 'c', 1, /<\/ca> missing/);
    assert.equal(readConfigText('\n'.repeat(10_000), 'c').length, 0);
  });
  it('CRLF files work (\\r is whitespace)', () => {
    assert.deepEqual(brief('client\r\nremote a 443\r\n'), [
      ['client', [], 1, undefined],
      ['remote', ['a', '443'], 2, undefined],
    ]);
  });
});

describe('argvToDirectives', () => {
  it('splits at --words, words taken verbatim', () => {
    const ds = argvToDirectives(
      ['--config', 'c.ovpn', '--verb', '4', '--remote', 'x', '1194', 'udp', '--up', 'a "b"'],
      '/w',
    );
    assert.deepEqual(
      ds.map((d) => [d.name, d.args, d.file, d.line, d.dir]),
      [
        ['config', ['c.ovpn'], '[CMD-LINE]', 1, '/w'],
        ['verb', ['4'], '[CMD-LINE]', 3, '/w'],
        ['remote', ['x', '1194', 'udp'], '[CMD-LINE]', 5, '/w'],
        ['up', ['a "b"'], '[CMD-LINE]', 9, '/w'],
      ],
    );
  });
  it('a single word without -- is a config file', () => {
    assert.deepEqual(
      argvToDirectives(['c.ovpn'], '/w').map((d) => [d.name, d.args]),
      [['config', ['c.ovpn']]],
    );
  });
  it('a word that is not an option is refused', () => {
    refuses(() => argvToDirectives(['verb', '3'], '/w'), '[CMD-LINE]', 1, /not an option/);
  });
  it('an option takes at most 15 words; the 16th must then be an option', () => {
    const words = Array.from({ length: 16 }, (_, i) => `${i}`);
    refuses(() => argvToDirectives(['--x', ...words], '/w'), '[CMD-LINE]', 17, /too many parameters/);
  });
  it('negative numbers are parameters', () => {
    assert.deepEqual(argvToDirectives(['--x', '-1'], '/w')[0].args, ['-1']);
  });
});

describe('expandConfig', () => {
  const files: Record<string, string> = {
    '/w/c.ovpn': 'client\nverb 3\nconfig sub/extra.conf\nremote a\n',
    '/w/sub/extra.conf': 'verb 5\nca ca.crt\n',
    '/w/loop.conf': 'config loop.conf\n',
  };
  const readFile = (p: string): string => {
    const f = files[p];
    if (f === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return f;
  };
  it('expands in place, so that a later directive still wins; paths are relative to the including file', async () => {
    const ds = await expandConfig(
      argvToDirectives(['--verb', '1', '--config', 'c.ovpn', '--verb', '9'], '/w'),
      readFile,
    );
    assert.deepEqual(
      ds.map((d) => [d.name, d.args[0], d.file, d.line]),
      [
        ['verb', '1', '[CMD-LINE]', 1],
        ['client', undefined, '/w/c.ovpn', 1],
        ['verb', '3', '/w/c.ovpn', 2],
        ['verb', '5', '/w/sub/extra.conf', 1],
        ['ca', 'ca.crt', '/w/sub/extra.conf', 2],
        ['remote', 'a', '/w/c.ovpn', 4],
        ['verb', '9', '[CMD-LINE]', 5],
      ],
    );
    assert.equal(ds[4].dir, '/w/sub');
  });
  it('a file that includes itself stops after 10 levels with an error at the include', async () => {
    await assert.rejects(
      expandConfig(argvToDirectives(['--config', 'loop.conf'], '/w'), readFile),
      (e: unknown) =>
        e instanceof ConfigError && e.file === '/w/loop.conf' && e.line === 1 && /nested/.test(e.message),
    );
  });
  it('a missing file is an error at the include', async () => {
    await assert.rejects(
      expandConfig(argvToDirectives(['--config', 'none.ovpn'], '/w'), readFile),
      (e: unknown) =>
        e instanceof ConfigError && e.file === '[CMD-LINE]' && /cannot open.*ENOENT/.test(e.message),
    );
  });
  it('cd changes the directory of the directives after it', async () => {
    const ds = await expandConfig(readConfigText('ca a\ncd /keys\nca b\n', '/w/c.ovpn'), readFile);
    assert.deepEqual(
      ds.map((d) => d.dir),
      ['/w', '/w', '/keys'],
    );
  });
  it('bytes are decoded as UTF-8 and the BOM skipped', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('verb 4\n')]);
    const ds = await expandConfig(argvToDirectives(['b.ovpn'], '/w'), () => bytes);
    assert.deepEqual(ds[0].name, 'verb');
  });
});
