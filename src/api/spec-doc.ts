/**
 * Renders the API schema of spec.ts as a YAML document, in the spirit of the kernel's YNL netlink specs
 * (Documentation/netlink/specs/ovpn.yaml): definitions, attribute sets, operations, notifications.
 * docs/ovpn-api.yaml is this function's output (`npm run gen:spec`), and a unit test fails when the two
 * differ, so the document can be read by other programs and never drifts from the code.
 */
import {
  AGENT_OPS,
  ATTR_SETS,
  type AttrType,
  CIPHER_ALGS,
  DAEMON_EVENTS,
  DAEMON_OPS,
  DAEMON_TRANSPORT,
  DEL_REASONS,
  KEY_SLOTS,
  MODES,
  NOTIFICATIONS,
  OPS,
  STDIO_TRANSPORT,
} from './spec.js';

function typeLines(t: AttrType, indent: string): string[] {
  switch (t.kind) {
    case 'u32':
    case 'u16': {
      const out = [`${indent}type: ${t.kind}`];
      const checks: string[] = [];
      if ('min' in t && t.min !== undefined) checks.push(`min: ${t.min}`);
      if ('max' in t && t.max !== undefined) checks.push(`max: 0x${t.max.toString(16)}`);
      if (checks.length > 0) out.push(`${indent}checks: { ${checks.join(', ')} }`);
      return out;
    }
    case 's32':
    case 'uint':
      return [`${indent}type: ${t.kind}`];
    case 'ipv4':
    case 'ipv6':
      return [`${indent}type: ${t.kind === 'ipv4' ? 'u32' : 'binary'}`, `${indent}display-hint: ${t.kind}`];
    case 'binary': {
      const out = [`${indent}type: binary`, `${indent}display-hint: hex`];
      if (t.exactLen !== undefined) out.push(`${indent}checks: { exact-len: ${t.exactLen} }`);
      if (t.maxLen !== undefined) out.push(`${indent}checks: { max-len: ${t.maxLen} }`);
      return out;
    }
    case 'string':
      return [`${indent}type: string`, `${indent}checks: { max-len: ${t.maxLen} }`];
    case 'enum':
      return [`${indent}type: u32`, `${indent}enum: ${enumName(t.values)}`];
    case 'nest':
      return [`${indent}type: nest`, `${indent}nested-attributes: ${t.set}`];
  }
}

function enumName(values: readonly string[]): string {
  if (values === CIPHER_ALGS) return 'cipher-alg';
  if (values === DEL_REASONS) return 'del-peer-reason';
  if (values === KEY_SLOTS) return 'key-slot';
  if (values === MODES) return 'mode';
  return 'unknown';
}

/** A YAML scalar: bare when safe, else double-quoted JSON-style. */
function yamlScalar(v: string | number): string {
  if (typeof v === 'number' || /^[A-Za-z0-9@/_.-]+$/.test(v)) return String(v);
  return JSON.stringify(v);
}

/** The whole document. */
export function renderApiSpec(): string {
  const l: string[] = [
    '# The ovpn-ts management protocol: the operations, attributes and checks of the kernel ovpn',
    '# generic-netlink family (plus device create/delete), as JSON messages, and how ovpnd carries them.',
    '# Generated from src/api/spec.ts by `npm run gen:spec`; do not edit (a unit test compares them).',
    'name: ovpn',
    'protocol: json',
    'uapi-version: 1',
    'definitions:',
  ];
  for (const [name, values] of [
    ['cipher-alg', CIPHER_ALGS],
    ['del-peer-reason', DEL_REASONS],
    ['key-slot', KEY_SLOTS],
    ['mode', MODES],
  ] as const) {
    l.push(`  - name: ${name}`, '    type: enum', `    entries: [${values.join(', ')}]`);
  }
  l.push('attribute-sets:');
  for (const [set, attrs] of Object.entries(ATTR_SETS)) {
    l.push(`  - name: ${set}`, '    attributes:');
    for (const a of attrs) {
      l.push(`      - name: ${a.name}`, `        value: ${a.value}`, ...typeLines(a.type, '        '));
    }
  }
  l.push('operations:');
  for (const op of Object.values(OPS)) {
    l.push(`  - name: ${op.name}`, `    value: ${op.value}`, `    attribute-set: ${op.set}`);
    l.push(`    request: [${op.top.join(', ')}]`);
    if (op.nest !== undefined) l.push(`    ${op.nest.attr}-attributes: [${op.nest.accept.join(', ')}]`);
    if (op.dump) l.push('    dump: true');
    l.push(`    reply: ${op.reply ? 'true' : 'false'}`);
  }
  l.push('notifications:');
  for (const [name, value] of Object.entries(NOTIFICATIONS))
    l.push(`  - name: ${name}`, `    value: ${value}`);
  l.push('mcast-groups: [peers]');
  l.push('# ovpnd: the transport of these messages, the operations it adds, and its own event');
  l.push('daemon:');
  for (const [k, v] of Object.entries(DAEMON_TRANSPORT)) l.push(`  ${k}: ${yamlScalar(v)}`);
  l.push('  messages:');
  l.push(`    request: ${yamlScalar('{"op": name, "msg": {...}, "seq": int, "dump": bool}')}`);
  l.push(`    reply: ${yamlScalar('{"seq": int, "reply": ...}')}`);
  l.push(
    `    error: ${yamlScalar('{"seq": int, "error": {"code": errno-name, "errno": int, "msg": text, "bad-attr": name}}')}`,
  );
  l.push(
    `    dump: ${yamlScalar('{"seq": int, "dump": {...}} per object, then {"seq": int, "done": true}')}`,
  );
  l.push(`    event: ${yamlScalar('{"name": notification-or-event-name, "msg": {...}}')}`);
  l.push('  operations:');
  for (const op of DAEMON_OPS) {
    l.push(`    - name: ${op.name}`, `      doc: ${yamlScalar(op.doc)}`);
    l.push(`      request: [${op.request.join(', ')}]`, `      reply: ${yamlScalar(op.reply)}`);
  }
  l.push('  events:');
  for (const [name, attrs] of Object.entries(DAEMON_EVENTS))
    l.push(`    - name: ${name}`, `      attributes: [${attrs.join(', ')}]`);
  l.push('# ovpn-agent: the same messages and operations on a stdio link, and its helper operations');
  l.push('stdio:');
  for (const [k, v] of Object.entries(STDIO_TRANSPORT)) l.push(`  ${k}: ${yamlScalar(v)}`);
  l.push('  operations:');
  for (const op of AGENT_OPS) {
    l.push(`    - name: ${op.name}`, `      doc: ${yamlScalar(op.doc)}`);
    l.push(`      request: [${op.request.join(', ')}]`, `      reply: ${yamlScalar(op.reply)}`);
  }
  return `${l.join('\n')}\n`;
}
