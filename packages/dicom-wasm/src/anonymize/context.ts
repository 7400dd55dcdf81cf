// What every step of the rewrite reads: the encodings, one call's context, and the WebAssembly
// walk's row table (the layout is src/wasm.ts's ROW_WORDS, R_* and F_*; a change to it must update
// these readers too).

import { vrOf } from '../dictionary.js';
import { F_SEQ, R_TAG, R_VRF, ROW_WORDS } from '../wasm.js';
import type { Compiled } from './compile.js';
import type { PlanRec } from './plan-cache.js';
import type { AnonymizationProfile } from './profile.js';
import type { UidEntry } from './uid-elements.js';
import type { UidMap } from './uid-map.js';

export interface Enc {
  explicit: boolean;
  littleEndian: boolean;
}

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
  /** set while the full path runs for a plan: what its decisions read from values */
  rec: PlanRec | null;
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

/**
 * Bytes as Latin-1 text (one character per byte, as the UID map hashes them: not values.ts's
 * decodeText, whose TextDecoder reads 0x80-0x9F as windows-1252); in chunks, so a hostile
 * multi-megabyte value cannot overflow the call stack.
 */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 4096) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += 4096) s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  return s;
}

/** A short text value straight from the bytes (UIDs and private creators are ASCII by definition). */
export function asciiValue(bytes: Uint8Array, start: number, length: number): string {
  let end = start + length;
  while (end > start && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
  return latin1(bytes, start, end);
}

const DICOM_ROOT_BYTES = Array.from(DICOM_UID_ROOT, (c) => c.charCodeAt(0));
/** True when the UI value is one UID under 1.2.840.10008 (a class or syntax, not an instance). */
export function isDicomDefinedUid(bytes: Uint8Array, start: number, length: number): boolean {
  if (length < DICOM_ROOT_BYTES.length) return false;
  for (let i = 0; i < DICOM_ROOT_BYTES.length; i++) if (bytes[start + i] !== DICOM_ROOT_BYTES[i]) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] === 0x5c) return false; // several values: check each
  return true;
}
