import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseIPv6 } from '../../../../src/net/ip-address.js';
import {
  formatStatus,
  inet6Text,
  localTimeText,
  realAddressText,
  type StatusClient,
  type StatusSnapshot,
  statusLines,
  utcTimeText,
} from '../../../../src/openvpn/server/status-file.js';

// 2030-01-02 03:04:05 UTC and a few seconds around it
const T = 1893553445;

function snapshot(): StatusSnapshot {
  const alpha: StatusClient = {
    commonName: 'alpha',
    real: { address: '192.0.2.7', port: 50001 },
    virtualIpv4: '10.8.0.2',
    virtualIpv6: '2001:db8:0:0:0:0:0:1000',
    bytesReceived: 12345,
    bytesSent: 67890n,
    connectedSince: T - 100,
    username: undefined,
    clientId: 3,
    peerId: 0,
    cipher: 'AES-256-GCM',
  };
  const beta: StatusClient = {
    commonName: 'beta',
    real: { address: '2001:DB8::5', port: 1194 },
    virtualIpv4: '10.8.0.3',
    virtualIpv6: undefined,
    bytesReceived: 0,
    bytesSent: 18446744073709551615n,
    connectedSince: T - 5,
    username: 'bob',
    clientId: 7,
    peerId: 1,
    cipher: 'CHACHA20-POLY1305',
  };
  return {
    title: 'ovpn-ts 9.9.9 test',
    clients: [alpha, beta],
    routes: [
      { address: '10.8.0.2', prefix: undefined, cached: false, client: alpha, lastRef: T - 1 },
      { address: '10.9.0.0', prefix: 24, cached: false, client: alpha, lastRef: T - 100 },
      { address: '10.9.0.77', prefix: undefined, cached: true, client: alpha, lastRef: T },
      { address: '2001:db8:0:0:0:0:0:1000', prefix: undefined, cached: false, client: alpha, lastRef: T - 2 },
      { address: '2001:db8:99::', prefix: 64, cached: false, client: alpha, lastRef: T - 100 },
      { address: '10.8.0.3', prefix: undefined, cached: false, client: beta, lastRef: T - 5 },
    ],
    maxBcastQueue: 2,
    dcoEnabled: true,
  };
}

const opts = { timeText: utcTimeText };

describe('server status file formats (2.6 multi_print_status)', () => {
  it('version 1', () => {
    assert.equal(
      formatStatus(snapshot(), 1, T, opts),
      [
        'OpenVPN CLIENT LIST',
        'Updated,2030-01-02 03:04:05',
        'Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since',
        'alpha,192.0.2.7:50001,12345,67890,2030-01-02 03:02:25',
        'beta,2001:db8::5,0,18446744073709551615,2030-01-02 03:04:00',
        'ROUTING TABLE',
        'Virtual Address,Common Name,Real Address,Last Ref',
        '10.8.0.2,alpha,192.0.2.7:50001,2030-01-02 03:04:04',
        '10.9.0.0/24,alpha,192.0.2.7:50001,2030-01-02 03:02:25',
        '10.9.0.77C,alpha,192.0.2.7:50001,2030-01-02 03:04:05',
        '2001:db8::1000,alpha,192.0.2.7:50001,2030-01-02 03:04:03',
        '2001:db8:99::/64,alpha,192.0.2.7:50001,2030-01-02 03:02:25',
        '10.8.0.3,beta,2001:db8::5,2030-01-02 03:04:00',
        'GLOBAL STATS',
        'Max bcast/mcast queue length,2',
        'END',
        '',
      ].join('\n'),
    );
  });

  it('version 2', () => {
    assert.equal(
      formatStatus(snapshot(), 2, T, opts),
      [
        'TITLE,ovpn-ts 9.9.9 test',
        'TIME,2030-01-02 03:04:05,1893553445',
        'HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,Virtual IPv6 Address,Bytes Received,' +
          'Bytes Sent,Connected Since,Connected Since (time_t),Username,Client ID,Peer ID,Data Channel Cipher',
        'CLIENT_LIST,alpha,192.0.2.7:50001,10.8.0.2,2001:db8::1000,12345,67890,2030-01-02 03:02:25,1893553345,' +
          'UNDEF,3,0,AES-256-GCM',
        'CLIENT_LIST,beta,2001:db8::5,10.8.0.3,,0,18446744073709551615,2030-01-02 03:04:00,1893553440,bob,7,1,' +
          'CHACHA20-POLY1305',
        'HEADER,ROUTING_TABLE,Virtual Address,Common Name,Real Address,Last Ref,Last Ref (time_t)',
        'ROUTING_TABLE,10.8.0.2,alpha,192.0.2.7:50001,2030-01-02 03:04:04,1893553444',
        'ROUTING_TABLE,10.9.0.0/24,alpha,192.0.2.7:50001,2030-01-02 03:02:25,1893553345',
        'ROUTING_TABLE,10.9.0.77C,alpha,192.0.2.7:50001,2030-01-02 03:04:05,1893553445',
        'ROUTING_TABLE,2001:db8::1000,alpha,192.0.2.7:50001,2030-01-02 03:04:03,1893553443',
        'ROUTING_TABLE,2001:db8:99::/64,alpha,192.0.2.7:50001,2030-01-02 03:02:25,1893553345',
        'ROUTING_TABLE,10.8.0.3,beta,2001:db8::5,2030-01-02 03:04:00,1893553440',
        'GLOBAL_STATS,Max bcast/mcast queue length,2',
        'GLOBAL_STATS,dco_enabled,1',
        'END',
        '',
      ].join('\n'),
    );
  });

  it('version 3 is version 2 with tabs', () => {
    const v3 = formatStatus(snapshot(), 3, T, opts);
    assert.ok(!v3.includes(','), v3);
    assert.equal(v3.replaceAll('\t', ','), formatStatus(snapshot(), 2, T, opts));
    assert.ok(v3.startsWith('TITLE\tovpn-ts 9.9.9 test\nTIME\t2030-01-02 03:04:05\t1893553445\n'), v3);
  });

  it('an empty server: headers, stats and END only', () => {
    const s: StatusSnapshot = { title: 't', clients: [], routes: [], maxBcastQueue: 0, dcoEnabled: false };
    assert.equal(
      formatStatus(s, 1, T, opts),
      'OpenVPN CLIENT LIST\nUpdated,2030-01-02 03:04:05\nCommon Name,Real Address,Bytes Received,Bytes Sent,' +
        'Connected Since\nROUTING TABLE\nVirtual Address,Common Name,Real Address,Last Ref\nGLOBAL STATS\n' +
        'Max bcast/mcast queue length,0\nEND\n',
    );
    assert.deepEqual(statusLines(s, 2, T, opts).slice(3), [
      'HEADER,ROUTING_TABLE,Virtual Address,Common Name,Real Address,Last Ref,Last Ref (time_t)',
      'GLOBAL_STATS,Max bcast/mcast queue length,0',
      'GLOBAL_STATS,dco_enabled,0',
      'END',
    ]);
  });

  it('a client still in its handshake: UNDEF names, empty virtual addresses (unset or all-zero)', () => {
    const s = snapshot();
    const c = s.clients[0];
    c.commonName = undefined;
    c.username = '';
    c.virtualIpv4 = '0.0.0.0';
    c.virtualIpv6 = '::';
    s.clients = [c, { ...c, commonName: '', virtualIpv4: undefined, virtualIpv6: undefined }];
    s.routes = [];
    const rows = statusLines(s, 2, T, opts).filter((l) => l.startsWith('CLIENT_LIST,'));
    assert.deepEqual(rows, [
      'CLIENT_LIST,UNDEF,192.0.2.7:50001,,,12345,67890,2030-01-02 03:02:25,1893553345,UNDEF,3,0,AES-256-GCM',
      'CLIENT_LIST,UNDEF,192.0.2.7:50001,,,12345,67890,2030-01-02 03:02:25,1893553345,UNDEF,3,0,AES-256-GCM',
    ]);
    assert.ok(statusLines(s, 1, T, opts).includes('UNDEF,192.0.2.7:50001,12345,67890,2030-01-02 03:02:25'));
  });

  it('the time_t columns are C unsigned ints; peer and client ids print unsigned', () => {
    const s = snapshot();
    s.clients[0].connectedSince = 2 ** 32 + 7;
    s.clients[0].peerId = 0xffffffff;
    s.clients[0].clientId = 2 ** 40;
    const row = statusLines(s, 2, 2 ** 32 + 9, opts).find((l) => l.startsWith('CLIENT_LIST,alpha'));
    assert.match(row ?? '', /,7,UNDEF,1099511627776,4294967295,AES-256-GCM$/);
    assert.match(statusLines(s, 2, 2 ** 32 + 9, opts)[1], /,9$/);
  });

  it('a line past 2.6 511-byte line buffer ends the output there, as 2.6 stops writing', () => {
    const s = snapshot();
    s.clients[1].commonName = 'x'.repeat(600);
    const text = formatStatus(s, 1, T, opts);
    assert.ok(text.endsWith('alpha,192.0.2.7:50001,12345,67890,2030-01-02 03:02:25\n'), text);
    assert.ok(!text.includes('END'));
    // the limit counts bytes: 511 fit, 512 do not
    const fits = snapshot();
    fits.title = 'é'.repeat(252); // "TITLE," + 504 bytes = 510
    assert.ok(formatStatus(fits, 2, T, opts).endsWith('END\n'));
    fits.title = `${'é'.repeat(252)}a`; // 511
    assert.ok(formatStatus(fits, 2, T, opts).endsWith('END\n'));
    fits.title = `${'é'.repeat(253)}`; // 512
    assert.equal(formatStatus(fits, 2, T, opts), '');
  });

  it('real addresses as mroute_addr_print: IPv4 and IPv4-mapped with the port, IPv6 without', () => {
    assert.equal(realAddressText({ address: '198.51.100.1', port: 1194 }), '198.51.100.1:1194');
    assert.equal(realAddressText({ address: '::ffff:198.51.100.1', port: 5 }), '198.51.100.1:5');
    assert.equal(realAddressText({ address: '::FFFF:c633:6401', port: 5 }), '198.51.100.1:5');
    assert.equal(realAddressText({ address: 'FD00:0:0:0:0:0:0:2', port: 1194 }), 'fd00::2');
    assert.throws(() => realAddressText({ address: 'not-an-address', port: 1 }));
  });

  it('IPv6 text as glibc inet_ntop', () => {
    const t = (s: string) => inet6Text(parseIPv6(s));
    assert.equal(t('::'), '::');
    assert.equal(t('::1'), '::1');
    assert.equal(t('fe80:0:0:0:0:0:0:0'), 'fe80::');
    assert.equal(t('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single zero group stays
    assert.equal(t('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // the first of equal runs
    assert.equal(t('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1'); // the longest run
    assert.equal(t('::ffff:10.1.2.3'), '::ffff:10.1.2.3');
    assert.equal(t('::10.1.2.3'), '::10.1.2.3');
    assert.equal(t('0:0:0:0:0:1:a01:203'), '::1:a01:203');
    assert.equal(t('ABCD:EF01:2345:6789:ABCD:EF01:2345:6789'), 'abcd:ef01:2345:6789:abcd:ef01:2345:6789');
  });

  it('local time as the C library prints it (TZ with and without daylight saving)', () => {
    const module = new URL('../../../../src/openvpn/server/status-file.js', import.meta.url).href;
    // a winter and a summer instant
    for (const tz of ['UTC', 'Asia/Kolkata', 'America/New_York', 'Australia/Lord_Howe']) {
      for (const t of [1893553445, 1909000000]) {
        const ours = execFileSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `import('${module}').then((m) => process.stdout.write(m.localTimeText(${t})))`,
          ],
          { env: { ...process.env, TZ: tz }, encoding: 'utf8' },
        );
        const libc = execFileSync('date', ['-d', `@${t}`, '+%Y-%m-%d %H:%M:%S'], {
          env: { ...process.env, TZ: tz },
          encoding: 'utf8',
        }).trim();
        assert.equal(ours, libc, `${tz} ${t}`);
      }
    }
    assert.match(localTimeText(T), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });
});
