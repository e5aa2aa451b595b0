/**
 * The client's per-peer data options (src/openvpn/data-options.ts): the compression framing from the
 * profile and the push, and the MSS clamp. The MSS values are those OpenVPN 2.6.14 logs as
 * `Data Channel MTU parms [ mss_fix:N ... ]` at verb 4 after the push, for the same profiles against a
 * 2.6 server (UDP over IPv4, AES-256-GCM or CHACHA20-POLY1305, peer-id pushed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompressionFraming, ConnectionEntry } from '../../../src/config/client-options.js';
import {
  applyCompressionOption,
  compFramingOf,
  type MssInput,
  mssClampFor,
  occWithCompression,
  peerDataOptions,
  resolveCompression,
} from '../../../src/openvpn/data-options.js';
import { parsePushedOptions } from '../../../src/openvpn/pushed-options.js';

const AT = { file: '/etc/openvpn/c.ovpn', line: 7, directive: 'compress' };

function mss(over: Partial<MssInput>): number {
  return mssClampFor({
    mssfix: { value: 0, mode: 'default' },
    tunMtu: 1500,
    proto: 'udp',
    family: 4,
    compression: 'none',
    ...over,
  });
}

describe('data options: MSS clamp (mss.c frame_calculate_mssfix)', () => {
  it('matches what OpenVPN 2.6.14 logs for the same profiles', () => {
    const cases: [string, Partial<MssInput>, number][] = [
      ['no mssfix, tun-mtu 1500 (mssfix 1492 mtu)', {}, 1400],
      ['bare mssfix', { mssfix: { value: 0, mode: 'default' } }, 1400],
      ['tun-mtu 1400 (mssfix 1400 fixed)', { tunMtu: 1400 }, 1360],
      ['mssfix 1450', { mssfix: { value: 1450, mode: 'plain' } }, 1386],
      ['mssfix 1450 mtu', { mssfix: { value: 1450, mode: 'mtu' } }, 1358],
      ['mssfix 1400 fixed', { mssfix: { value: 1400, mode: 'fixed' } }, 1360],
      ['comp-lzo no', { compression: 'lzo-stub' }, 1399],
      ['compress', { compression: 'stub' }, 1399],
      ['compress stub-v2', { compression: 'stub-v2' }, 1400],
      ['mssfix 0', { mssfix: { value: 0, mode: 'plain' } }, 0],
    ];
    for (const [what, over, want] of cases) assert.equal(mss(over), want, what);
  });
  it('counts the outer header of the transport actually used', () => {
    // IPv6 outer header: 20 more bytes of encapsulation (computed, not checked against a 2.6 log)
    assert.equal(mss({ family: 6 }), 1380);
    // TCP: 2-byte length prefix, and a 20-byte TCP header instead of UDP's 8 (2.6.14 over TCP logs
    // mss_fix:1386, and 1384 with mssfix 1450)
    assert.equal(mss({ proto: 'tcp' }), 1492 - (2 + 4 + 20) - (20 + 20) - 40);
    assert.equal(mss({ proto: 'tcp', mssfix: { value: 1450, mode: 'plain' } }), 1450 - 26 - 40);
    // fixed and plain values ignore the outer header
    assert.equal(mss({ family: 6, mssfix: { value: 1400, mode: 'fixed' } }), 1360);
    assert.equal(mss({ family: 6, mssfix: { value: 1450, mode: 'plain' } }), 1386);
  });
  it('never goes below 0 or above 65535', () => {
    assert.equal(mss({ mssfix: { value: 30, mode: 'mtu' } }), 0);
    assert.equal(mss({ mssfix: { value: 200000, mode: 'fixed' } }), 0xffff);
  });
});

describe('data options: compression framing (options.c, comp.c)', () => {
  it('maps each stub to the data plane framing and has none for real compression', () => {
    assert.equal(compFramingOf('none'), 'none');
    assert.equal(compFramingOf('lzo-stub'), 'comp-lzo-no');
    assert.equal(compFramingOf('stub'), 'compress-stub');
    assert.equal(compFramingOf('stub-v2'), 'compress-stub-v2');
    for (const c of ['lzo', 'lz4', 'lz4-v2'] as CompressionFraming[]) assert.throws(() => compFramingOf(c));
  });
  it('applies pushed comp-lzo / compress lines as add_option does', () => {
    assert.equal(applyCompressionOption('none', 'comp-lzo no'), 'lzo-stub');
    assert.equal(applyCompressionOption('none', 'comp-lzo'), 'lzo');
    assert.equal(applyCompressionOption('none', 'comp-lzo yes'), 'lzo');
    assert.equal(applyCompressionOption('none', 'comp-lzo adaptive'), 'lzo');
    assert.equal(applyCompressionOption('none', 'compress'), 'stub');
    assert.equal(applyCompressionOption('lzo-stub', 'compress stub'), 'stub');
    assert.equal(applyCompressionOption('stub', 'comp-lzo no'), 'lzo-stub'); // the swap flag cleared
    assert.equal(applyCompressionOption('lz4', 'compress stub-v2'), 'stub-v2');
    assert.equal(applyCompressionOption('none', 'compress lz4-v2'), 'lz4-v2');
    assert.throws(() => applyCompressionOption('none', 'comp-lzo maybe'), /comp-lzo maybe/);
    assert.throws(() => applyCompressionOption('none', 'compress zstd'), /zstd/);
    assert.throws(() => applyCompressionOption('none', 'compress lz4 extra'), /too many/);
  });
  it('keeps the profile when nothing is pushed, and lets the push replace it', () => {
    assert.equal(resolveCompression({ compression: 'none', compressionAt: undefined }, []), 'none');
    assert.equal(resolveCompression({ compression: 'lzo-stub', compressionAt: AT }, []), 'lzo-stub');
    assert.equal(resolveCompression({ compression: 'stub', compressionAt: AT }, []), 'stub');
    assert.equal(
      resolveCompression({ compression: 'none', compressionAt: undefined }, ['comp-lzo no']),
      'lzo-stub',
    );
    // an old profile with real compression runs when the server pushes a stub in its place
    // (`compress migrate`, or `push "comp-lzo no"`)
    assert.equal(resolveCompression({ compression: 'lzo', compressionAt: AT }, ['comp-lzo no']), 'lzo-stub');
    assert.equal(
      resolveCompression({ compression: 'lz4-v2', compressionAt: AT }, ['compress stub-v2']),
      'stub-v2',
    );
  });
  it('refuses real compression that stays, naming the profile line or the pushed option', () => {
    assert.throws(
      () => resolveCompression({ compression: 'lz4-v2', compressionAt: AT }, []),
      /^Error: \/etc\/openvpn\/c\.ovpn:7: compress: refused: lz4-v2 compression is not supported, and the server did not push/,
    );
    assert.throws(
      () => resolveCompression({ compression: 'none', compressionAt: undefined }, ['compress lz4-v2']),
      /the server pushed 'compress lz4-v2': lz4-v2 compression is not supported/,
    );
    assert.throws(
      () => resolveCompression({ compression: 'lzo-stub', compressionAt: AT }, ['comp-lzo yes']),
      /pushed 'comp-lzo yes'/,
    );
  });
  it('takes the pushed lines from the PUSH_REPLY in order', () => {
    const pushed = parsePushedOptions(['peer-id 0', 'comp-lzo no', 'cipher AES-256-GCM', 'compress stub-v2']);
    assert.deepEqual(pushed.compression, ['comp-lzo no', 'compress stub-v2']);
    assert.ok(!pushed.ignored.some((l) => l.startsWith('comp')));
    const ce: Pick<ConnectionEntry, 'mssfix' | 'tunMtu'> = {
      mssfix: { value: 0, mode: 'default' },
      tunMtu: 1500,
    };
    assert.deepEqual(
      peerDataOptions({ compression: 'none', compressionAt: undefined }, ce, pushed, {
        proto: 'udp',
        family: 4,
      }),
      { compression: 'stub-v2', compFraming: 'compress-stub-v2', mssClamp: 1400 },
    );
    assert.deepEqual(
      peerDataOptions(
        { compression: 'none', compressionAt: undefined },
        ce,
        parsePushedOptions(['comp-lzo no']),
        { proto: 'udp', family: 4 },
      ),
      { compression: 'lzo-stub', compFraming: 'comp-lzo-no', mssClamp: 1399 },
    );
  });
});

describe('data options: the OCC string', () => {
  const OCC =
    'V4,dev-type tun,link-mtu 1541,tun-mtu 1500,proto UDPv4,auth SHA1,keysize 128,key-method 2,tls-client';
  // the strings OpenVPN 2.6.14 logs at verb 7 as its Local Options String for these profiles
  it('announces comp-lzo after proto for any compression, with the v1 byte in link-mtu', () => {
    assert.equal(occWithCompression(OCC, 'none'), OCC);
    assert.equal(
      occWithCompression(OCC, 'lzo-stub'),
      'V4,dev-type tun,link-mtu 1542,tun-mtu 1500,proto UDPv4,comp-lzo,auth SHA1,keysize 128,key-method 2,tls-client',
    );
    assert.equal(
      occWithCompression(OCC, 'stub-v2'),
      'V4,dev-type tun,link-mtu 1541,tun-mtu 1500,proto UDPv4,comp-lzo,auth SHA1,keysize 128,key-method 2,tls-client',
    );
  });
});
