import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ATTR_SETS, OPS } from '../../../src/api/spec.js';
import { renderApiSpec } from '../../../src/api/spec-doc.js';
import { repoRoot } from '../../support/repo.js';

describe('machine-readable API spec', () => {
  it('docs/ovpn-api.yaml is exactly what the schema renders (run `npm run gen:spec` after changing it)', () => {
    const doc = readFileSync(join(repoRoot(), 'docs', 'ovpn-api.yaml'), 'utf8');
    assert.equal(doc, renderApiSpec());
  });

  it('every op input attribute exists in its attribute set', () => {
    for (const op of Object.values(OPS)) {
      for (const a of op.top)
        assert.ok(
          ATTR_SETS[op.set].some((x) => x.name === a),
          `${op.name}: ${a}`,
        );
      if (op.nest) {
        for (const a of op.nest.accept) {
          assert.ok(
            ATTR_SETS[op.nest.attr].some((x) => x.name === a),
            `${op.name}: ${op.nest.attr}.${a}`,
          );
        }
      }
    }
  });

  it('attribute values are unique within a set, as netlink needs', () => {
    for (const [set, attrs] of Object.entries(ATTR_SETS)) {
      assert.equal(new Set(attrs.map((a) => a.value)).size, attrs.length, set);
      assert.equal(new Set(attrs.map((a) => a.name)).size, attrs.length, set);
    }
  });
});

describe('ovpnd serves exactly the schema', () => {
  it('the daemon handles the family operations, dev-new/dev-del and the daemon operations, nothing else', async () => {
    const { Ovpnd } = await import('../../../src/daemon/server.js');
    const { DAEMON_OPS } = await import('../../../src/api/spec.js');
    const d = new Ovpnd({ socketName: `ovpn-ts/spec-test-${process.pid}`, onExit: () => {} });
    try {
      const expected = [...Object.keys(OPS), ...DAEMON_OPS.map((o) => o.name)].sort();
      assert.deepEqual(d.opNames, expected);
    } finally {
      d.shutdown('test done');
    }
  });
});

describe('ovpn-agent serves exactly the schema', () => {
  it('the agent handles the daemon operations and the stdio helpers, nothing else', async () => {
    const { StdioAgent } = await import('../../../src/mgmt/stdio-agent.js');
    const { AGENT_OPS, DAEMON_OPS } = await import('../../../src/api/spec.js');
    const agent = new StdioAgent(() => {});
    try {
      const expected = [
        ...Object.keys(OPS),
        ...DAEMON_OPS.map((o) => o.name),
        ...AGENT_OPS.map((o) => o.name),
      ];
      assert.deepEqual(agent.opNames, expected.sort());
    } finally {
      agent.close();
    }
  });

  it("answers with ovpnd's messages: errors, a dump per object then done, one line each", async () => {
    const { StdioAgent } = await import('../../../src/mgmt/stdio-agent.js');
    const out: unknown[] = [];
    const agent = new StdioAgent((b) => out.push(JSON.parse(b.toString('utf8'))));
    try {
      await agent.message('not json');
      await agent.message('[1]');
      await agent.message('{"op":"no-such-op","seq":1}');
      await agent.message('{"op":"dev-list","seq":"x"}');
      await agent.message('{"op":"subscribe","msg":{"group":"other"},"seq":2}');
      await agent.message('{"op":"peer-get","msg":{"ifindex":1},"dump":true,"seq":3}');
      await agent.oversized();
      assert.deepEqual(out, [
        { error: { code: 'EINVAL', errno: 22, msg: 'the message is not JSON' } },
        { error: { code: 'EINVAL', errno: 22, msg: 'a request must be a JSON object' } },
        { seq: 1, error: { code: 'EOPNOTSUPP', errno: 95, msg: 'unknown op "no-such-op"' } },
        { reply: [] },
        {
          seq: 2,
          error: { code: 'ENOENT', errno: 2, msg: 'no multicast group "other"', 'bad-attr': 'group' },
        },
        {
          seq: 3,
          error: {
            code: 'EINVAL',
            errno: 22,
            msg: 'the interface is not an ovpn device',
            'bad-attr': 'ifindex',
          },
        },
        { error: { code: 'EMSGSIZE', errno: 90, msg: 'message too large; dropped' } },
      ]);
    } finally {
      agent.close();
    }
  });
});

describe('one reply shape for both servers', () => {
  it('a dump is one message per object, then done; other replies and errors are one message', async () => {
    const { replyMessages } = await import('../../../src/mgmt/dispatch.js');
    const dump = { op: 'peer-get', dump: true, seq: 3 };
    assert.deepEqual(replyMessages(dump, { seq: 3, reply: [{ id: 1 }, { id: 2 }] }), [
      { seq: 3, dump: { id: 1 } },
      { seq: 3, dump: { id: 2 } },
      { seq: 3, done: true },
    ]);
    assert.deepEqual(replyMessages(dump, { seq: 3, reply: [] }), [{ seq: 3, done: true }]);
    const error = { code: 'ENOENT', errno: 2, msg: 'x' };
    assert.deepEqual(replyMessages(dump, { seq: 3, error }), [{ seq: 3, error }]);
    assert.deepEqual(replyMessages({ op: 'dev-list', seq: 4 }, { seq: 4, reply: [] }), [
      { seq: 4, reply: [] },
    ]);
  });
});
