export * from './data-v2.js';
export * from './keepalive.js';
export * from './opcode.js';
export * from './tcp-frame.js';
