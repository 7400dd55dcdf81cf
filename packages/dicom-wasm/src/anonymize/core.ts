// The JavaScript side of the WebAssembly rewrite (src/core/anonymize.c, a module of its own,
// instantiated on the first call: a page that only parses never loads it): hands the pass the row
// table, the values it reads, the profile and the UID map's secret, runs it (one call; a second
// only for the rare inputs below), and copies the output's pieces into the result.

import { CsaParseError, filterCsaHeader } from '../csa.js';
import { DicomParseError } from '../errors.js';
import { wasmBase64 } from '../../generated/dicom-anonymize-bytes.js';
import { moduleBytes, R_LEN, R_VAL, ROW_WORDS } from '../wasm.js';
import { profileBlob, type Compiled } from './compile.js';
import type { AnonymizationProfile } from './profile.js';
import type { UidMap } from './uid-map.js';

interface AnonymizeExports {
  memory: WebAssembly.Memory;
  an_profile_buf(len: number): number;
  an_profile_load(len: number): number;
  an_uidmap_buf(len: number): number;
  an_uidmap_set(id: number, prefixLen: number, rootLen: number): void;
  an_rows(n: number): number;
  an_plan(length: number): number;
  an_plan_all(length: number): number;
  an_ranges_ptr(): number;
  an_csa_provide(row: number, len: number): number;
  an_run(start: number, end: number, encBits: number, days: number): number;
  an_arg(): number;
  an_ops_ptr(): number;
  an_ops_count(): number;
  an_scratch_ptr(): number;
  an_out_len(): number;
  an_uid_cache_clear(): void;
  an_seed(seed: number): void;
}

const A_OK = 0, A_NEED_ALL = 1, A_NEED_CSA = 2;
const UNDEF = 0xffffffff;
const ERRORS: Record<number, string> = {
  16: 'out of WebAssembly memory',
  17: 'a UI value too long to re-encode',
  18: 'a replaced value too long for its VR',
  19: 'bad profile',
  20: 'sequences nested too deeply',
};

/** The pass's output: pieces (kind, a, length) over the input, the scratch and module memory. */
export interface CorePieces {
  length: number;
  copy(src: Uint8Array, dst: Uint8Array, pos: number): void;
}

let loadedBlob: Uint8Array | undefined;
let loadedMap: UidMap | undefined;
const mapIds = new WeakMap<UidMap, number>();
let nextMapId = 1;

let instance: AnonymizeExports | undefined;
function ex(): AnonymizeExports {
  if (!instance) {
    instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(wasmBase64)), {}).exports as unknown as AnonymizeExports;
    instance.an_seed(globalThis.crypto.getRandomValues(new Uint32Array(1))[0]);
  }
  return instance;
}

function loadProfile(c: AnonymizeExports, blob: Uint8Array): void {
  if (loadedBlob === blob) return;
  const p = c.an_profile_buf(blob.length);
  if (!p) throw new DicomParseError('cannot anonymize', 0, ERRORS[16]);
  new Uint8Array(c.memory.buffer, p, blob.length).set(blob);
  if (!c.an_profile_load(blob.length)) throw new Error('dicom-wasm: the core refused the compiled profile');
  loadedBlob = blob;
}

function loadUidMap(c: AnonymizeExports, uids: UidMap): void {
  if (loadedMap === uids) return;
  let id = mapIds.get(uids);
  if (id === undefined) mapIds.set(uids, (id = nextMapId++));
  // the hashed prefix is the secret's characters' low bytes and a NUL (uid-map.ts)
  const secret = uids.secret;
  const root = uids.root;
  const len = secret.length + 1 + (root?.length ?? 0);
  const p = c.an_uidmap_buf(len);
  if (!p) throw new DicomParseError('cannot anonymize', 0, ERRORS[16]);
  const m = new Uint8Array(c.memory.buffer, p, len);
  for (let i = 0; i < secret.length; i++) m[i] = secret.charCodeAt(i) & 0xff;
  m[secret.length] = 0;
  if (root !== undefined) for (let i = 0; i < root.length; i++) m[secret.length + 1 + i] = root.charCodeAt(i);
  c.an_uidmap_set(id, secret.length + 1, root === undefined ? UNDEF : root.length);
  loadedMap = uids;
}

/**
 * Runs the pass over the data set [start, src.length) of `src` (rows: its walk) and returns the
 * output's pieces. Throws DicomParseError when the output cannot be written.
 */
export function rewriteInCore(
  src: Uint8Array,
  rows: Uint32Array,
  start: number,
  enc: { explicit: boolean; littleEndian: boolean },
  profile: AnonymizationProfile,
  compiled: Compiled,
  keep: ReadonlySet<number>,
  keepKey: string,
  uids: UidMap,
  dateShiftDays: number,
): CorePieces {
  const c = ex();
  const srcLength = src.length;
  loadProfile(c, profileBlob(compiled, profile, keep, keepKey));
  loadUidMap(c, uids);
  const n = rows.length / ROW_WORDS;
  const rowsPtr = c.an_rows(n);
  if (!rowsPtr) throw new DicomParseError('cannot anonymize', 0, ERRORS[16]);
  new Uint32Array(c.memory.buffer, rowsPtr, rows.length).set(rows);
  const nRanges = c.an_plan(srcLength);
  if (nRanges === UNDEF) throw new DicomParseError('cannot anonymize', 0, ERRORS[16]);
  if (nRanges > 0) {
    const mem = new Uint8Array(c.memory.buffer);
    const rg = new Uint32Array(c.memory.buffer, c.an_ranges_ptr(), nRanges * 3);
    for (let i = 0; i < nRanges * 3; i += 3) mem.set(src.subarray(rg[i], rg[i] + rg[i + 1]), rg[i + 2]);
  }
  const bits = (enc.explicit ? 1 : 0) | (enc.littleEndian ? 2 : 0);
  // each extra round settles one thing (all values present; one old-format CSA header)
  for (let round = 0; ; round++) {
    const st = c.an_run(start, srcLength, bits, dateShiftDays);
    if (st === A_OK) break;
    if (round > n + 2) throw new Error('dicom-wasm: the anonymization pass does not settle');
    if (st === A_NEED_ALL) {
      const p = c.an_plan_all(srcLength);
      if (!p) throw new DicomParseError('cannot anonymize', 0, ERRORS[16]);
      new Uint8Array(c.memory.buffer, p, srcLength).set(src);
    } else if (st === A_NEED_CSA) {
      // a CSA header in the old format: filtered by csa.ts (its one implementation)
      const r = c.an_arg();
      const val = rows[r * ROW_WORDS + R_VAL];
      let filtered: Uint8Array | undefined;
      try {
        filtered = filterCsaHeader(src.slice(val, val + rows[r * ROW_WORDS + R_LEN]), compiled.csaKeep);
      } catch (e) {
        if (!(e instanceof CsaParseError)) throw e;
      }
      const p = c.an_csa_provide(r, filtered ? filtered.length : UNDEF);
      if (!p) throw new DicomParseError('cannot anonymize', 0, ERRORS[16]);
      if (filtered) new Uint8Array(c.memory.buffer, p, filtered.length).set(filtered);
    } else {
      const code = c.an_arg();
      throw new DicomParseError('cannot anonymize', 0, ERRORS[code] ?? `anonymization error ${code}`);
    }
  }
  const length = c.an_out_len();
  if (length === UNDEF || length > 0x7fffffff) throw new DicomParseError('cannot anonymize', 0, 'output too large');
  return {
    length,
    copy(from: Uint8Array, dst: Uint8Array, pos: number): void {
      const buf = c.memory.buffer;
      const mem = new Uint8Array(buf);
      const count = c.an_ops_count();
      const ops = new Uint32Array(buf, c.an_ops_ptr(), count * 3);
      const scratch = c.an_scratch_ptr();
      const s = from;
      for (let i = 0; i < count * 3; i += 3) {
        const kind = ops[i];
        const len = ops[i + 2];
        const at = kind === 0 ? ops[i + 1] : kind === 1 ? scratch + ops[i + 1] : ops[i + 1];
        const b = kind === 0 ? s : mem;
        // short pieces by hand: a subarray object costs more than copying a few dozen bytes
        if (len <= 48) for (let j = 0; j < len; j++) dst[pos + j] = b[at + j];
        else dst.set(b.subarray(at, at + len), pos);
        pos += len;
      }
    },
  };
}

/** Forget the replaced UIDs the core remembers (tests measure the first volume of a session). */
export function clearCoreUidCache(): void {
  ex().an_uid_cache_clear();
}
