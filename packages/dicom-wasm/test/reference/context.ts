// The reference rewrite's context (test oracle: the TypeScript rewrite the WebAssembly pass in
// src/core/anonymize.c replaced; tests compare the two byte for byte).

import { vrOf } from '../../src/dictionary.js';
import { F_SEQ, R_TAG, R_VRF, ROW_WORDS } from '../../src/wasm.js';
import type { Compiled } from '../../src/anonymize/compile.js';
import type { AnonymizationProfile } from '../../src/anonymize/profile.js';
import type { UidEntry } from './uid-elements.js';
import type { UidMap } from '../../src/anonymize/uid-map.js';
import { asciiValue, latin1, type Enc } from '../../src/anonymize/context.js';

export { asciiValue, latin1, type Enc };

export const EXPLICIT_LE: Enc = { explicit: true, littleEndian: true };
export const EXPLICIT_BE: Enc = { explicit: true, littleEndian: false };
export const IMPLICIT_LE: Enc = { explicit: false, littleEndian: true };
export const IMPLICIT_BE: Enc = { explicit: false, littleEndian: false };

export interface Ctx {
  bytes: Uint8Array;
  view: DataView;
  uidCache: Map<number, UidEntry[]>;
  profile: AnonymizationProfile;
  compiled: Compiled;
  keep: Set<number>;
  uids: UidMap;
  /** days the Modified Dates option shifts dates back (action S) */
  dateShiftDays: number;
}

export interface Walk {
  rows: Uint32Array;
}

export const DICOM_UID_ROOT = '1.2.840.10008.';

/** Element VR: from the stream in explicit VR, else the dictionary (UN when unknown). */
export function rowVr(rows: Uint32Array, r: number): string {
  const vrf = rows[r * ROW_WORDS + R_VRF];
  const a = vrf & 0xff;
  if (a !== 0) return String.fromCharCode(a, (vrf >>> 8) & 0xff);
  if ((vrf >>> 16) & F_SEQ) return 'SQ';
  return vrOf(rows[r * ROW_WORDS + R_TAG]) ?? 'UN';
}

const VR_UI = 0x55 | (0x49 << 8);
/** The row's VR is UI (explicit: from the stream; implicit: from the dictionary). */
export function isUiRow(rows: Uint32Array, r: number): boolean {
  const vr = rows[r * ROW_WORDS + R_VRF] & 0xffff;
  if (vr !== 0) return vr === VR_UI;
  return rowVr(rows, r) === 'UI';
}

const DICOM_ROOT_BYTES = Array.from(DICOM_UID_ROOT, (c) => c.charCodeAt(0));
/** True when the UI value is one UID under 1.2.840.10008 (a class or syntax, not an instance). */
export function isDicomDefinedUid(bytes: Uint8Array, start: number, length: number): boolean {
  if (length < DICOM_ROOT_BYTES.length) return false;
  for (let i = 0; i < DICOM_ROOT_BYTES.length; i++) if (bytes[start + i] !== DICOM_ROOT_BYTES[i]) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] === 0x5c) return false; // several values: check each
  return true;
}
