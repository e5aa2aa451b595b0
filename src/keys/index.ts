export { type KeyConfig, type KeyDirConfig, KeySlot } from './key-slot.js';
export { KeySlotName, KeyState } from './key-state.js';
