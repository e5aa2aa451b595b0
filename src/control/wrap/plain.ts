/**
 * No control-channel protection (2.6 TLS_WRAP_NONE): packets go out as control/packet.ts writes them.
 * `unwrap` only refuses what cannot be a control packet at all (shorter than opcode + session id).
 */
import { CONTROL_HEADER_SIZE } from '../packet.js';
import { type ControlWrap, checkPlain, WrapError } from './wrap.js';

export class PlainWrap implements ControlWrap {
  readonly overhead = 0;

  /** A copy of `plain` (the reliability layer keeps its own buffer for retransmission). */
  wrap(plain: Buffer): Buffer {
    checkPlain(plain);
    return Buffer.from(plain);
  }

  /** `wire` itself (no copy), or SHORT. */
  unwrap(wire: Buffer): Buffer | WrapError {
    return wire.length < CONTROL_HEADER_SIZE ? WrapError.SHORT : wire;
  }
}
