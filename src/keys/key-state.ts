/**
 * A peer's two key slots (spec ovpn-kernel §3.3, §3.9): two physical slots and an index saying which
 * one is primary. TX always uses the primary; RX picks the slot whose key-id matches the packet,
 * primary first. A rekey installs the new key as secondary, swaps, and later deletes the old one.
 */
import type { KeySlot } from './key-slot.js';

/** The netlink `key-slot` enum: logical slots, relative to the current primary index. */
export const KeySlotName = { PRIMARY: 0, SECONDARY: 1 } as const;
export type KeySlotName = (typeof KeySlotName)[keyof typeof KeySlotName];

export class KeyState {
  private readonly slots: [KeySlot | undefined, KeySlot | undefined] = [undefined, undefined];
  private primaryIdx: 0 | 1 = 0;

  /** The key TX uses, if any. */
  primary(): KeySlot | undefined {
    return this.slots[this.primaryIdx];
  }

  /** The slot holding `keyId`, primary first; undefined if neither does. */
  byKeyId(keyId: number): KeySlot | undefined {
    const p = this.slots[this.primaryIdx];
    if (p !== undefined && p.keyId === keyId) return p;
    const s = this.slots[this.primaryIdx ^ 1];
    if (s !== undefined && s.keyId === keyId) return s;
    return undefined;
  }

  /** The key in logical slot `slot` (for key-get). */
  get(slot: KeySlotName): KeySlot | undefined {
    return this.slots[this.primaryIdx ^ slot];
  }

  /**
   * Puts `key` in logical slot `slot`, closing (and so wiping) whatever was there. Like the kernel,
   * nothing stops both slots from carrying the same key-id; RX then prefers the primary.
   */
  install(slot: KeySlotName, key: KeySlot): void {
    const idx = this.primaryIdx ^ slot;
    const old = this.slots[idx];
    this.slots[idx] = key;
    old?.close();
  }

  /** Empties logical slot `slot`. Deleting an empty slot is not an error. */
  del(slot: KeySlotName): void {
    const idx = this.primaryIdx ^ slot;
    const old = this.slots[idx];
    this.slots[idx] = undefined;
    old?.close();
  }

  /** Makes the secondary the primary and vice versa. Does not check that the new primary exists. */
  swap(): void {
    this.primaryIdx = this.primaryIdx === 0 ? 1 : 0;
  }

  /**
   * Removes the key with `keyId` from whichever slot holds it (on TX packet-id exhaustion). Returns true
   * only if this call removed a key, so that concurrent exhaustions notify once. Empty slots never match.
   */
  kill(keyId: number): boolean {
    for (const idx of [0, 1] as const) {
      const ks = this.slots[idx];
      if (ks !== undefined && ks.keyId === keyId) {
        this.slots[idx] = undefined;
        ks.close();
        return true;
      }
    }
    return false;
  }

  /** Frees both slots (peer removal). */
  close(): void {
    this.del(KeySlotName.PRIMARY);
    this.del(KeySlotName.SECONDARY);
    this.primaryIdx = 0;
  }
}
