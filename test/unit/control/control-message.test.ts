import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  authFailed,
  authPending,
  buildPushReplies,
  ControlMessageReader,
  encodeControlMessage,
  exitMessage,
  PUSH_REPLY_MAX_CHARS,
  PUSH_REPLY_MAX_PARTS,
  PushReplyAssembler,
  parseControlMessage,
  parsePushReply,
  pushRequest,
  restartMessage,
} from '../../../src/control/control-message.js';

const LAB_REPLY =
  'PUSH_REPLY,route-gateway 10.99.0.1,topology subnet,ping 2,ping-restart 10,ifconfig 10.99.0.2 255.255.255.0,' +
  'peer-id 0,cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500';

describe('control message framing', () => {
  it('splits several messages in one read and joins one spread over reads', () => {
    const r = new ControlMessageReader();
    assert.deepEqual(r.push(Buffer.from('PUSH_REQUEST\0INFO,hi\0PUSH_RE')), ['PUSH_REQUEST', 'INFO,hi']);
    assert.equal(r.pendingBytes, 7);
    assert.deepEqual(r.push(Buffer.from('PLY,ping 10')), []);
    assert.deepEqual(r.push(Buffer.from(',ping-restart 60\0')), ['PUSH_REPLY,ping 10,ping-restart 60']);
    assert.equal(r.pendingBytes, 0);
  });

  it('keeps its own copy of a held-back tail', () => {
    const r = new ControlMessageReader();
    const chunk = Buffer.from('HAL');
    r.push(chunk);
    chunk.fill(0x41);
    assert.deepEqual(r.push(Buffer.from('T\0')), ['HALT']);
  });

  it('filters as extract_command_buffer: trailing CR/LF go, control characters drop the message', () => {
    const r = new ControlMessageReader();
    const got = r.push(Buffer.from('INFO,a\r\n\0\0INFO,b\tc\0INFO,\x7f\0INFO,grüße\0\0\0'));
    assert.deepEqual(got, ['INFO,a', 'INFO,grüße']);
    assert.equal(r.dropped, 2);
  });

  it('drops a message longer than its limit up to the next NUL', () => {
    const r = new ControlMessageReader(16);
    assert.deepEqual(r.push(Buffer.from('INFO,0123456789')), []);
    assert.deepEqual(r.push(Buffer.from('abcdef')), []);
    assert.deepEqual(r.push(Buffer.from('xyz\0EXIT\0')), ['EXIT']);
    assert.equal(r.dropped, 1);
  });

  it('encodes a message with one NUL and refuses line breaks', () => {
    assert.deepEqual(encodeControlMessage(pushRequest()), Buffer.from('PUSH_REQUEST\0'));
    assert.deepEqual(encodeControlMessage(exitMessage()), Buffer.from('EXIT\0'));
    assert.throws(() => encodeControlMessage('INFO,a\nb'));
    const r = new ControlMessageReader();
    assert.deepEqual(r.push(encodeControlMessage('INFO,grüße')), ['INFO,grüße']);
  });
});

describe('control message meaning', () => {
  it('dispatches on the prefix in 2.6 order', () => {
    assert.deepEqual(parseControlMessage('PUSH_REQUEST'), { type: 'PUSH_REQUEST' });
    assert.deepEqual(parseControlMessage('EXIT'), { type: 'EXIT' });
    assert.deepEqual(parseControlMessage('INFO_PRE,WEB_AUTH::https://x'), {
      type: 'INFO_PRE',
      text: 'WEB_AUTH::https://x',
    });
    assert.deepEqual(parseControlMessage('INFO,hello'), { type: 'INFO', text: 'hello' });
    assert.deepEqual(parseControlMessage('INFO'), { type: 'INFO', text: '' });
    assert.deepEqual(parseControlMessage('CR_RESPONSE,dGVzdA=='), {
      type: 'CR_RESPONSE',
      response: 'dGVzdA==',
    });
    assert.deepEqual(parseControlMessage('PUSH_UPDATE,route 10.0.0.0'), {
      type: 'unknown',
      text: 'PUSH_UPDATE,route 10.0.0.0',
    });
    assert.deepEqual(parseControlMessage('HELLO'), { type: 'unknown', text: 'HELLO' });
  });

  it('reads AUTH_FAILED with its reason, TEMP flags and CRV1 challenge', () => {
    assert.deepEqual(parseControlMessage('AUTH_FAILED'), { type: 'AUTH_FAILED', reason: undefined });
    assert.deepEqual(parseControlMessage('AUTH_FAILED,'), { type: 'AUTH_FAILED', reason: undefined });
    assert.deepEqual(parseControlMessage('AUTH_FAILED,bad password'), {
      type: 'AUTH_FAILED',
      reason: 'bad password',
    });
    const temp = parseControlMessage('AUTH_FAILED,TEMP[backoff 42,advance remote]: try later');
    assert.deepEqual(temp, {
      type: 'AUTH_FAILED',
      reason: 'TEMP[backoff 42,advance remote]: try later',
      temp: { backoffSec: 42, advance: 'remote', message: ': try later' },
    });
    assert.deepEqual(parseControlMessage('AUTH_FAILED,TEMP busy'), {
      type: 'AUTH_FAILED',
      reason: 'TEMP busy',
      temp: { message: ' busy' },
    });
    const crv1 = parseControlMessage(
      'AUTH_FAILED,CRV1:R,E:Om01u7Fh4LrGBS7uh0SWmzwabUiGiW6l:Y3Ix:Please enter token',
    );
    assert.equal(crv1.type === 'AUTH_FAILED' && crv1.challenge?.startsWith('CRV1:R,E:'), true);
  });

  it('reads RESTART and HALT with the [P] and [N] flags', () => {
    assert.deepEqual(parseControlMessage('RESTART'), {
      type: 'RESTART',
      message: '',
      keepCredentials: false,
      advanceRemote: false,
    });
    assert.deepEqual(parseControlMessage('RESTART,[PN] server going down'), {
      type: 'RESTART',
      message: '[PN] server going down',
      keepCredentials: true,
      advanceRemote: true,
    });
    assert.deepEqual(parseControlMessage('HALT,[N]bye'), {
      type: 'HALT',
      message: '[N]bye',
      keepCredentials: false,
      advanceRemote: true,
    });
  });

  it('reads AUTH_PENDING keywords', () => {
    assert.deepEqual(parseControlMessage('AUTH_PENDING'), {
      type: 'AUTH_PENDING',
      timeoutSec: undefined,
      keywords: [],
    });
    assert.deepEqual(parseControlMessage('AUTH_PENDING,timeout 180'), {
      type: 'AUTH_PENDING',
      timeoutSec: 180,
      keywords: ['timeout 180'],
    });
    assert.equal(authPending(300), 'AUTH_PENDING,timeout 300');
    assert.equal(authPending(), 'AUTH_PENDING');
  });
});

describe('PUSH_REPLY', () => {
  it('splits the LAB reply into raw option lines', () => {
    const m = parseControlMessage(LAB_REPLY);
    assert.equal(m.type, 'PUSH_REPLY');
    assert.deepEqual(m.type === 'PUSH_REPLY' && m.reply, {
      options: [
        'route-gateway 10.99.0.1',
        'topology subnet',
        'ping 2',
        'ping-restart 10',
        'ifconfig 10.99.0.2 255.255.255.0',
        'peer-id 0',
        'cipher AES-256-GCM',
        'protocol-flags cc-exit tls-ekm dyn-tls-crypt',
        'tun-mtu 1500',
      ],
    });
  });

  it('splits at every comma, drops empty items, keeps quotes for the tokenizer', () => {
    assert.deepEqual(parsePushReply('PUSH_REPLY'), { options: [] });
    assert.deepEqual(parsePushReply('PUSH_REPLY,,ping 1, ,dhcp-option DOMAIN "a b",'), {
      options: ['ping 1', 'dhcp-option DOMAIN "a b"'],
    });
    assert.deepEqual(parsePushReply('PUSH_REPLY,setenv-safe X "1,2"'), {
      options: ['setenv-safe X "1', '2"'],
    });
    assert.equal(parsePushReply('PUSH_REPLYX'), undefined);
    assert.deepEqual(parseControlMessage('PUSH_REPLYX'), { type: 'unknown', text: 'PUSH_REPLYX' });
    assert.deepEqual(parsePushReply('PUSH_REPLY,ping 5,push-continuation 2'), {
      options: ['ping 5'],
      continuation: 2,
    });
  });

  it('puts continued replies together with 2.6 state rules', () => {
    const a = new PushReplyAssembler();
    const add = (s: string) => a.add(parsePushReply(s)!);
    assert.deepEqual(add('PUSH_REPLY,ping 1,push-continuation 2'), { state: 'more' });
    assert.deepEqual(add('PUSH_REPLY,route 10.0.0.0 255.0.0.0,push-continuation 2'), { state: 'more' });
    assert.deepEqual(add('PUSH_REPLY,peer-id 3,push-continuation 1'), {
      state: 'done',
      options: ['ping 1', 'route 10.0.0.0 255.0.0.0', 'peer-id 3'],
    });
    // a later reply alone (an auth-token refresh) completes at once: the value 1 sticks
    assert.deepEqual(add('PUSH_REPLY,auth-token abc'), { state: 'done', options: ['auth-token abc'] });
    a.reset();
    assert.deepEqual(add('PUSH_REPLY,ping 1,push-continuation 2'), { state: 'more' });
    // without the option a later part inherits 2: still not done (push.c switches on the stored value)
    assert.deepEqual(add('PUSH_REPLY,ping-restart 5'), { state: 'more' });
    assert.deepEqual(add('PUSH_REPLY'), { state: 'done', options: ['ping 1', 'ping-restart 5'] });
    a.reset();
    assert.deepEqual(add('PUSH_REPLY,ping 1,push-continuation 3'), {
      state: 'error',
      options: ['ping 1'],
      reason: 'bad push-continuation 3 in PUSH_REPLY',
    });
  });

  it('refuses a reply continued without end (push-continuation 2 over and over)', () => {
    const a = new PushReplyAssembler();
    const more = parsePushReply('PUSH_REPLY,route 10.0.0.0 255.0.0.0,push-continuation 2')!;
    let r = a.add(more);
    let n = 1;
    while (r.state === 'more' && n < 10_000) {
      r = a.add(more);
      n++;
    }
    assert.equal(r.state, 'error');
    assert.equal(n, PUSH_REPLY_MAX_PARTS);
    assert.match(r.state === 'error' ? r.reason : '', /continued past/);
    // and by size: few messages with long options
    const b = new PushReplyAssembler();
    const big = parsePushReply(`PUSH_REPLY,setenv-safe X ${'y'.repeat(1500)},push-continuation 2`)!;
    let s = b.add(big);
    let m = 1;
    while (s.state === 'more' && m < 10_000) {
      s = b.add(big);
      m++;
    }
    assert.equal(s.state, 'error');
    assert.ok(m * 1600 > PUSH_REPLY_MAX_CHARS && m < PUSH_REPLY_MAX_PARTS, `${m} messages`);
    // the assembler is usable again after the refusal
    assert.deepEqual(b.add(parsePushReply('PUSH_REPLY,ping 1,push-continuation 1')!), {
      state: 'done',
      options: ['ping 1'],
    });
  });

  it('builds replies as send_push_reply splits them, and they parse back', () => {
    assert.deepEqual(buildPushReplies([]), ['PUSH_REPLY']);
    assert.deepEqual(buildPushReplies(['ping 10', 'ping-restart 60']), [
      'PUSH_REPLY,ping 10,ping-restart 60',
    ]);
    const routes = Array.from({ length: 80 }, (_, i) => `route 10.${i}.0.0 255.255.0.0`);
    const msgs = buildPushReplies(routes);
    assert.ok(msgs.length > 1);
    for (const m of msgs) assert.ok(m.length < 1024 - 84 + 22, `${m.length} bytes`);
    assert.match(msgs[0], /,push-continuation 2$/);
    assert.match(msgs[msgs.length - 1], /,push-continuation 1$/);
    const a = new PushReplyAssembler();
    const states = msgs.map((m) => a.add(parsePushReply(m)!));
    assert.deepEqual(states.at(-1), { state: 'done', options: routes });
    assert.throws(() => buildPushReplies(['a,b']));
    assert.throws(() => buildPushReplies(['x'.repeat(1000)]));
  });

  it('builds the other strings', () => {
    assert.equal(pushRequest(), 'PUSH_REQUEST');
    assert.equal(exitMessage(), 'EXIT');
    assert.equal(authFailed(), 'AUTH_FAILED');
    assert.equal(authFailed('no'), 'AUTH_FAILED,no');
    assert.equal(authFailed('x'.repeat(2000)).length, 1023);
    assert.equal(restartMessage('RESTART', '[P]'), 'RESTART,[P]');
    assert.equal(restartMessage('HALT'), 'HALT');
  });
});
