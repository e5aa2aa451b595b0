import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  IfconfigPool,
  poolOptionsFromServer,
  verifyPoolRange,
} from '../../../../src/openvpn/server/ifconfig-pool.js';
import {
  applyPoolPersist,
  formatPoolPersist,
  parsePoolPersist,
} from '../../../../src/openvpn/server/pool-persist.js';

// `server 10.8.0.0 255.255.255.0` as 2.6's helper expands it
const net30 = () =>
  new IfconfigPool({ ipv4: { type: 'net30', start: '10.8.0.4', end: '10.8.0.251' }, duplicateCn: false });
const subnet = () =>
  new IfconfigPool({ ipv4: { type: 'indiv', start: '10.8.0.2', end: '10.8.0.253' }, duplicateCn: false });

describe('IfconfigPool addresses', () => {
  it('net30 hands out /30s from start & ~3: client .6 with peer .5, then .10/.9', () => {
    const p = net30();
    assert.equal(p.size, 62);
    assert.deepEqual(p.acquire('a'), { handle: 0, ipv4: '10.8.0.6', ipv4Peer: '10.8.0.5', ipv6: undefined });
    assert.deepEqual(p.acquire('b'), { handle: 1, ipv4: '10.8.0.10', ipv4Peer: '10.8.0.9', ipv6: undefined });
    assert.equal(p.lease(61).ipv4, '10.8.0.250');
    // a start inside a /30 is rounded down; the end up
    const q = new IfconfigPool({
      ipv4: { type: 'net30', start: '10.9.0.6', end: '10.9.0.13' },
      duplicateCn: false,
    });
    assert.equal(q.size, 3);
    assert.deepEqual(q.acquire('x'), { handle: 0, ipv4: '10.9.0.6', ipv4Peer: '10.9.0.5', ipv6: undefined });
  });

  it('subnet hands out one address each from start', () => {
    const p = subnet();
    assert.equal(p.size, 252);
    assert.deepEqual(p.acquire('a'), { handle: 0, ipv4: '10.8.0.2', ipv4Peer: undefined, ipv6: undefined });
    assert.equal(p.acquire('b')?.ipv4, '10.8.0.3');
    assert.equal(p.lease(251).ipv4, '10.8.0.253');
  });

  it('the IPv6 address has the IPv4 entry index; the smaller pool sets the size', () => {
    const p = new IfconfigPool({
      ipv4: { type: 'net30', start: '10.8.0.4', end: '10.8.0.251' },
      ipv6: { base: 'fd00:8::1000', bits: 64 },
      duplicateCn: false,
    });
    assert.equal(p.size, 62);
    assert.match(p.notes[0], /^NOTE: IPv4 pool size is 62, IPv6 pool size is 65536/);
    assert.deepEqual(p.acquire('a'), {
      handle: 0,
      ipv4: '10.8.0.6',
      ipv4Peer: '10.8.0.5',
      ipv6: 'fd00:8::1000',
    });
    assert.equal(p.acquire('b')?.ipv6, 'fd00:8::1001');
    const small6 = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.8.0.2', end: '10.8.0.253' },
      ipv6: { base: 'fd00::10', bits: 124 },
      duplicateCn: false,
    });
    // host part of the base is 0 under /124, so the pool starts at ::11 and holds 15
    assert.equal(small6.size, 15);
    assert.match(small6.notes[0], /^WARNING: IPv4 pool size is 252, IPv6 pool size is 15/);
    assert.deepEqual(small6.acquire('a'), {
      handle: 0,
      ipv4: '10.8.0.2',
      ipv4Peer: undefined,
      ipv6: 'fd00::11',
    });
  });

  it('an IPv6-only pool skips the all-zero host address', () => {
    const p = new IfconfigPool({ ipv6: { base: 'fd00:8::', bits: 64 }, duplicateCn: false });
    assert.equal(p.size, 65536);
    assert.deepEqual(p.acquire('a'), { handle: 0, ipv4: undefined, ipv4Peer: undefined, ipv6: 'fd00:8::1' });
  });

  it('refuses pools 2.6 refuses', () => {
    assert.throws(
      () =>
        new IfconfigPool({ ipv4: { type: 'indiv', start: '10.0.0.5', end: '10.0.0.5' }, duplicateCn: false }),
      /IPv4 pool size is too small \(1\)/,
    );
    assert.throws(
      () =>
        new IfconfigPool({ ipv4: { type: 'indiv', start: '10.0.0.9', end: '10.0.0.5' }, duplicateCn: false }),
      /start IP \[10.0.0.9\] is greater than end IP/,
    );
    assert.match(verifyPoolRange('10.0.0.0', '10.1.0.0') ?? '', /too large/);
    assert.equal(verifyPoolRange('10.0.0.0', '10.0.255.255'), undefined);
    assert.throws(
      () => new IfconfigPool({ ipv6: { base: 'fd00::', bits: 127 }, duplicateCn: false }),
      /too small/,
    );
  });

  it('is built from ServerOptions by topology', () => {
    const base = {
      pool: { start: '10.8.0.4', end: '10.8.0.251', netmask: undefined },
      poolIpv6: undefined,
      duplicateCn: false,
    };
    assert.equal(poolOptionsFromServer({ ...base, topology: 'net30' })?.ipv4?.type, 'net30');
    assert.equal(poolOptionsFromServer({ ...base, topology: 'subnet' })?.ipv4?.type, 'indiv');
    assert.equal(poolOptionsFromServer({ ...base, topology: 'p2p' })?.ipv4?.type, 'indiv');
    assert.equal(poolOptionsFromServer({ ...base, pool: undefined, topology: 'subnet' }), undefined);
  });
});

describe('IfconfigPool acquire and release', () => {
  it('gives a returning common name its old entry, others the least recently released', () => {
    const p = subnet();
    const a = p.acquire('a');
    const b = p.acquire('b');
    assert.equal(a?.ipv4, '10.8.0.2');
    assert.equal(b?.ipv4, '10.8.0.3');
    assert.ok(p.release(0, false, 100));
    // never-used entries count as released at 0, so c gets a fresh one, not a's
    assert.equal(p.acquire('c')?.ipv4, '10.8.0.4');
    assert.equal(p.acquire('a')?.ipv4, '10.8.0.2');
    // a hard release forgets the name
    p.release(0, true, 200);
    assert.equal(p.entries()[0].commonName, undefined);
    assert.equal(p.release(999, false, 1), false);
  });

  it('picks the free entry released longest ago; ties go to the lowest index', () => {
    const p = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.1.0.1', end: '10.1.0.3' },
      duplicateCn: false,
    });
    for (const cn of ['a', 'b', 'c']) assert.ok(p.acquire(cn));
    assert.equal(p.acquire('d'), undefined, 'exhausted');
    p.release(2, false, 10);
    p.release(0, false, 30);
    p.release(1, false, 20);
    assert.equal(p.acquire('d')?.ipv4, '10.1.0.3');
    assert.equal(p.acquire('e')?.ipv4, '10.1.0.2');
    assert.equal(p.acquire('f')?.ipv4, '10.1.0.1');
    p.release(2, false, 50);
    p.release(1, false, 50);
    assert.equal(p.acquire('g')?.ipv4, '10.1.0.2');
  });

  it('with duplicate-cn takes the first free entry and remembers no name', () => {
    const p = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.1.0.1', end: '10.1.0.4' },
      duplicateCn: true,
    });
    assert.equal(p.acquire(undefined)?.ipv4, '10.1.0.1');
    assert.equal(p.acquire(undefined)?.ipv4, '10.1.0.2');
    p.release(1, false, 5);
    p.release(0, false, 9);
    assert.equal(p.acquire('alice')?.ipv4, '10.1.0.1');
    assert.equal(p.entries()[0].commonName, undefined);
    assert.equal(formatPoolPersist(p), '');
  });

  it('never hands out a reserved (ifconfig-push) address', () => {
    const p = net30();
    assert.equal(p.reserve('10.8.0.5'), 0);
    assert.equal(p.reserve('10.8.1.1'), -1);
    assert.equal(p.acquire('a')?.ipv4, '10.8.0.10');
    const d = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.1.0.1', end: '10.1.0.2' },
      duplicateCn: true,
    });
    d.reserve('10.1.0.1');
    assert.equal(d.acquire(undefined)?.ipv4, '10.1.0.2');
    assert.equal(d.acquire(undefined), undefined);
    d.unreserve('10.1.0.1');
    assert.equal(d.acquire(undefined)?.ipv4, '10.1.0.1');
  });

  it('maps addresses back to entries (any address of a /30)', () => {
    const p = net30();
    assert.equal(p.handleOfIpv4('10.8.0.4'), 0);
    assert.equal(p.handleOfIpv4('10.8.0.7'), 0);
    assert.equal(p.handleOfIpv4('10.8.0.8'), 1);
    assert.equal(p.handleOfIpv4('10.8.0.0'), -1);
    assert.equal(p.handleOfIpv4('10.8.1.0'), -1);
    assert.equal(p.handleOfIpv6('fd00::1'), -1);
  });
});

describe('ifconfig-pool-persist', () => {
  it('writes 2.6 lines: net30 the /30 base, subnet the address, an empty field for no pool', () => {
    const n = new IfconfigPool({
      ipv4: { type: 'net30', start: '10.8.0.4', end: '10.8.0.251' },
      ipv6: { base: 'fd00:8::1000', bits: 64 },
      duplicateCn: false,
    });
    n.acquire('sp-client');
    assert.equal(formatPoolPersist(n), 'sp-client,10.8.0.4,fd00:8::1000\n');
    const s = subnet();
    s.acquire('a');
    s.acquire('b');
    s.release(0, false, 7);
    s.acquire(undefined);
    s.release(1, true, 8);
    assert.equal(formatPoolPersist(s), 'a,10.8.0.2,\n');
    const six = new IfconfigPool({ ipv6: { base: 'fd00:8::', bits: 64 }, duplicateCn: false });
    six.acquire('z');
    assert.equal(formatPoolPersist(six), 'z,,fd00:8::1\n');
  });

  it('reads what 2.6 reads and skips what it skips', () => {
    const text =
      '# comment\n;other\n\nalice,10.8.0.8,\r\nbob,10.8.0.12\nshort\nempty,\ncarol,,fd00:8::1005\n' +
      'far,10.9.0.4,\nbad,10.8.0.x,\nmix,10.8.0.16,fd00:8::1009\n';
    const lines = parsePoolPersist(text);
    assert.deepEqual(
      lines.map((l) => [l.line, l.commonName, l.ipv4, l.ipv6]),
      [
        [4, 'alice', '10.8.0.8', ''],
        [5, 'bob', '10.8.0.12', ''],
        [8, 'carol', '', 'fd00:8::1005'],
        [9, 'far', '10.9.0.4', ''],
        [10, 'bad', '10.8.0.x', ''],
        [11, 'mix', '10.8.0.16', 'fd00:8::1009'],
      ],
    );
    const p = new IfconfigPool({
      ipv4: { type: 'net30', start: '10.8.0.4', end: '10.8.0.251' },
      ipv6: { base: 'fd00:8::1000', bits: 64 },
      duplicateCn: false,
    });
    const r = applyPoolPersist(p, lines, false, 1000);
    assert.deepEqual(
      r.set.map((s) => [s.commonName, s.handle]),
      [
        ['alice', 1],
        ['bob', 2],
        ['carol', 5],
        ['mix', 3],
      ],
    );
    assert.deepEqual(r.warnings, [
      'line 9: pool: IPv4 (10.9.0.4) out of pool range for CN=far',
      'line 10: pool: invalid IPv4 (10.8.0.x) for CN=bad',
      'line 11: pool: IPv4 (10.8.0.16) and IPv6 (fd00:8::1009) have different offsets! Relying on IPv4',
    ]);
    // the names get their entries back; a stranger gets the first never-used one
    assert.equal(p.acquire('stranger')?.ipv4, '10.8.0.6');
    assert.equal(p.acquire('bob')?.ipv4, '10.8.0.14');
  });

  it('cuts fields at 127 bytes as buf_parse does', () => {
    const long = 'x'.repeat(200);
    const [l] = parsePoolPersist(`${long.slice(0, 130)},10.8.0.2,\n`);
    assert.equal(l.commonName.length, 127);
  });

  it('round-trips through a fresh pool; fixed entries stay with their names', () => {
    const p = subnet();
    p.acquire('a');
    p.acquire('b');
    p.acquire('c');
    p.release(1, false, 5);
    const text = formatPoolPersist(p);
    assert.equal(text, 'a,10.8.0.2,\nb,10.8.0.3,\nc,10.8.0.4,\n');
    const q = subnet();
    applyPoolPersist(q, parsePoolPersist(text), true, 10);
    assert.equal(formatPoolPersist(q), text);
    // fixed: nobody else gets those three, even when the pool runs out of the rest
    assert.equal(q.acquire('d')?.ipv4, '10.8.0.5');
    assert.equal(q.acquire('b')?.ipv4, '10.8.0.3');
    assert.equal(q.freeCount(), 248);
    const tiny = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.1.0.1', end: '10.1.0.3' },
      duplicateCn: false,
    });
    applyPoolPersist(tiny, parsePoolPersist('a,10.1.0.1,\nb,10.1.0.2,\n'), true, 10);
    assert.equal(tiny.acquire('d')?.ipv4, '10.1.0.3');
    assert.equal(tiny.acquire('e'), undefined, 'fixed entries are not given to other names');
    assert.equal(tiny.acquire('a')?.ipv4, '10.1.0.1');
    // not fixed (seconds > 0): the remembered entries are the next to be reused
    const loose = new IfconfigPool({
      ipv4: { type: 'indiv', start: '10.1.0.1', end: '10.1.0.3' },
      duplicateCn: false,
    });
    applyPoolPersist(loose, parsePoolPersist('a,10.1.0.1,\nb,10.1.0.2,\n'), false, 10);
    assert.equal(loose.acquire('d')?.ipv4, '10.1.0.3');
    assert.equal(loose.acquire('e')?.ipv4, '10.1.0.1');
  });
});
