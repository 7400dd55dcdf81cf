// Test oracle: the TypeScript rewrite that src/core/anonymize.c replaced (as of 44dea98, without
// its plan recording). For each element of a data set or item it decides, from the profile, what
// to do (keep, blank, remove, replace, filter, recurse) and appends the result to the output's
// piece list. Tests compare its output with the WebAssembly pass byte for byte.

import { CsaParseError } from '../../src/csa.js';
import { F_BE, F_ENCAPS, F_IMPLICIT, F_META, F_SEQ, R_END, R_HDR, R_LEN, R_NEXT, R_TAG, R_VAL, R_VRF, ROW_WORDS, UNDEF } from '../../src/wasm.js';
import { STANDARD_VR_CODES, STANDARD_VRS, TEXT_VRS } from '../../src/vr.js';
import { encodeHeader, encodeItemHeader, writeElementBytes } from '../../src/writer.js';
import { addedBytes, type Compiled } from '../../src/anonymize/compile.js';
import { dummyValue, shiftedDates } from './dates.js';
import { asciiValue, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_BE, IMPLICIT_LE, isDicomDefinedUid, isUiRow, rowVr, type Ctx, type Enc, type Walk } from './context.js';
import { filterCsa, type Out } from './out.js';
import type { AnonymizationAction, ProfileRule } from '../../src/anonymize/profile.js';
import { mappedUidElement } from './uid-elements.js';

/** The rule of a tag from the repeating-group rules (checked for groups 50xx/60xx only). */
function maskedRule(c: Compiled, tag: number): ProfileRule | undefined {
  const hi = tag >>> 24;
  if (hi !== 0x50 && hi !== 0x60) return undefined;
  for (const m of c.masked) if (((tag & m.mask) >>> 0) === m.value) return m.rule;
  return undefined;
}

/** Action for a private element, from its block's creator and the profile's safe list. */
function privateAction(ctx: Ctx, tag: number, creators: Map<number, string>): AnonymizationAction {
  if (ctx.keep.has(tag)) return 'K';
  if (!ctx.profile.removePrivate) return 'K';
  const group = tag >>> 16;
  const elem = tag & 0xffff;
  const safe = ctx.compiled.safe.get(group);
  if (elem >= 0x10 && elem <= 0xff) {
    // a creator stays when its block holds anything kept: a safe element, or one the caller listed
    for (const k of ctx.keep) if (k >>> 16 === group && ((k >>> 8) & 0xff) === elem && (k & 0xffff) >= 0x1000) return 'K';
    const creator = creators.get(elem);
    return safe && creator !== undefined && safe.some((s) => s.creator === creator) ? 'K' : 'X';
  }
  if (elem < 0x1000 || !safe) return 'X';
  const creator = creators.get(elem >>> 8);
  const rule = creator === undefined ? undefined : safe.find((s) => s.creator === creator && s.element === (elem & 0xff));
  return rule ? rule.action : 'X';
}

// Blanked elements are the same bytes in every file: encode each once.
const blankCache = new Map<number, Map<string, Uint8Array>>();
function blankElement(enc: Enc, tag: number, vr: string): Uint8Array {
  let byTag = blankCache.get(tag);
  if (!byTag) blankCache.set(tag, (byTag = new Map()));
  const key = enc.explicit ? (enc.littleEndian ? vr : vr + 'b') : enc.littleEndian ? 'i' : 'ib';
  let b = byTag.get(key);
  if (!b) {
    b = writeElementBytes({ tag, vr, value: vr === 'SQ' ? [] : null }, enc);
    byTag.set(key, b);
  }
  return b;
}

const NO_BYTES = new Uint8Array(0);

/**
 * Rewrites the elements in rows [first, endRow) (one data set or item) whose bytes span
 * [start, end). Appends the new contents to `o` and returns true, or returns false (appending
 * nothing) when nothing changed.
 */
export function rewriteRows(ctx: Ctx, w: Walk, first: number, endRow: number, start: number, end: number, root: boolean, enc: Enc, o: Out): boolean {
  const { bytes } = ctx;
  const rows = w.rows;
  let cursor = start;
  let changed = false;
  let creators: Map<number, string> | undefined;
  let creatorGroup = -1;
  const adds = root ? ctx.compiled.add : [];
  const addBytes = root ? addedBytes(ctx.compiled, enc) : [];
  let addIdx = 0;

  for (let r = first; r < endRow; r = rows[r * ROW_WORDS + R_NEXT]) {
    const ro = r * ROW_WORDS;
    const flags = rows[ro + R_VRF] >>> 16;
    if (flags & F_META) continue;
    const tag = rows[ro + R_TAG];
    const hdr = rows[ro + R_HDR];
    const elEnd = rows[ro + R_END];
    const valOff = rows[ro + R_VAL];
    const len = rows[ro + R_LEN];
    let out: Uint8Array | null | undefined; // undefined: unchanged

    while (addIdx < adds.length && adds[addIdx].tag < tag) {
      o.range(cursor, hdr);
      cursor = hdr;
      o.bytes(addBytes[addIdx++]);
      changed = true;
    }
    if (addIdx < adds.length && adds[addIdx].tag === tag) {
      out = addBytes[addIdx++];
    } else {
      const group = tag >>> 16;
      const elem = tag & 0xffff;
      let action: AnonymizationAction;
      let rule: ProfileRule | undefined;
      const vr16 = rows[ro + R_VRF] & 0xffff;
      if (vr16 !== 0 && !STANDARD_VR_CODES[vr16] && !ctx.keep.has(tag)) {
        // an explicit VR no standard defines: other readers (and the first-element test that tells
        // implicit from explicit data sets) cannot read it, and nobody can tell what it holds
        action = 'X';
      } else if (group & 1) {
        if (group !== creatorGroup) {
          creators = new Map();
          creatorGroup = group;
        }
        if (elem >= 0x10 && elem <= 0xff && len !== UNDEF) {
          creators!.set(elem, asciiValue(bytes, valOff, len).trim());
        }
        action = privateAction(ctx, tag, creators!);
      } else if (ctx.keep.size !== 0 && ctx.keep.has(tag)) {
        action = 'K';
      } else if (elem === 0 || group === 2) {
        // group lengths would be wrong after any change (they are retired anyway); file meta
        // elements belong in the rebuilt meta group, never in the data set
        action = 'X';
      } else {
        rule = ctx.compiled.rules.get(tag) ?? maskedRule(ctx.compiled, tag);
        if (rule) action = rule.action;
        else if (ctx.profile.replaceOtherUids && isUiRow(rows, r)) {
          const defined = isDicomDefinedUid(bytes, valOff, len);
          action = defined ? 'K' : 'U';
        }
        else action = 'K';
      }
      switch (action) {
        case 'X':
          out = null;
          break;
        case 'Z': {
          if (len === 0) break;
          const vr = rowVr(rows, r);
          // a VR no standard defines cannot be re-encoded reliably: the attribute goes instead
          out = STANDARD_VRS.has(vr) ? blankElement(enc, tag, vr) : null;
          break;
        }
        case 'D': {
          const vr = rowVr(rows, r);
          if (vr === 'SQ' || flags & F_SEQ) {
            // a dummy sequence would be made up: emptied instead
            out = blankElement(enc, tag, 'SQ');
          } else if (vr === 'UI') {
            if (len === 0 || len === UNDEF) out = null;
            else {
              const element = mappedUidElement(ctx, tag, enc, valOff, len, false);
              if (element) out = element;
            }
          } else {
            // a VR no standard defines (or encapsulated data) cannot be re-encoded: removed
            out = STANDARD_VRS.has(vr) && !(flags & F_ENCAPS) ? writeElementBytes({ tag, vr, value: rule?.value !== undefined && TEXT_VRS.has(vr) ? rule.value : dummyValue(vr) }, enc) : null;
          }
          break;
        }
        case 'S': {
          if (len === 0) break;
          const vr = rowVr(rows, r);
          if (len === UNDEF || (vr !== 'DA' && vr !== 'DT')) {
            out = null;
            break;
          }
          out = writeElementBytes({ tag, vr, value: shiftedDates(asciiValue(bytes, valOff, len), vr, ctx.dateShiftDays) }, enc);
          // the piece derives from the value: a plan replays it only for the same bytes
          break;
        }
        case 'U': {
          if (len === 0 || len === UNDEF) break;
          const element = mappedUidElement(ctx, tag, enc, valOff, len, rule === undefined);
          if (element) out = element;
          break;
        }
        case 'C': {
          if (len === 0 || len === UNDEF) break;
          let filtered: Uint8Array;
          try {
            filtered = filterCsa(bytes.subarray(valOff, valOff + len), ctx.compiled.csaKeep);
          } catch (e) {
            if (!(e instanceof CsaParseError)) throw e;
            out = null; // unreadable: nobody can tell what it holds, so it does not leave
            break;
          }
          const vr = rowVr(rows, r) === 'UN' ? 'UN' : 'OB';
          out = filtered.length === 0 ? null : writeElementBytes({ tag, vr, value: filtered }, enc);
          break;
        }
        case 'K':
          // a sequence the caller asked to keep stays as it is, contents included
          if (flags & F_SEQ && !(flags & F_ENCAPS) && !ctx.keep.has(tag)) {
            const m = o.mark();
            const mEnd = o.lastEnd();
            o.range(cursor, hdr);
            if (rewriteSequence(ctx, w, r, enc, o)) {
              cursor = elEnd;
              changed = true;
            } else {
              o.reset(m, mEnd);
            }
          }
          break;
      }
    }
    if (out === undefined) continue;
    o.range(cursor, hdr);
    if (out) o.bytes(out);
    cursor = elEnd;
    changed = true;
  }
  if (addIdx < adds.length) {
    o.range(cursor, end);
    cursor = end;
    while (addIdx < adds.length) o.bytes(addBytes[addIdx++]);
    changed = true;
  }
  if (!changed) return false;
  o.range(cursor, end);
  return true;
}

/**
 * Appends the new bytes of the sequence in row `r` (header to end) to `o` when any of its items
 * changed and returns true; otherwise appends nothing and returns false.
 */
function rewriteSequence(ctx: Ctx, w: Walk, r: number, enc: Enc, o: Out): boolean {
  const rows = w.rows;
  const so = r * ROW_WORDS;
  const seqFlags = rows[so + R_VRF] >>> 16;
  const seqEnd = rows[so + R_NEXT];
  const seqHdr = rows[so + R_HDR];
  const seqVal = rows[so + R_VAL];
  const seqUndef = rows[so + R_LEN] === UNDEF;
  const m0 = o.mark();
  const m0End = o.lastEnd();
  const headIdx = seqUndef ? -1 : o.bytes(NO_BYTES);
  if (seqUndef) o.range(seqHdr, seqVal);
  const bodyFrom = o.n;
  let changed = false;
  let cursor = seqVal;
  for (let k = r + 1; k < seqEnd; k = rows[k * ROW_WORDS + R_NEXT]) {
    const ko = k * ROW_WORDS;
    const itemFlags = rows[ko + R_VRF] >>> 16;
    const itemEnc: Enc = (seqFlags | itemFlags) & F_IMPLICIT || !enc.explicit
      ? (itemFlags & F_BE ? IMPLICIT_BE : IMPLICIT_LE)
      : itemFlags & F_BE ? EXPLICIT_BE : EXPLICIT_LE;
    const hdr = rows[ko + R_HDR];
    const val = rows[ko + R_VAL];
    const undef = rows[ko + R_LEN] === UNDEF;
    const itemEnd = rows[ko + R_END];
    const contentEnd = undef ? itemEnd - 8 : val + rows[ko + R_LEN];
    const m = o.mark();
    const mEnd = o.lastEnd();
    o.range(cursor, hdr);
    let itemHead = -1;
    if (undef) o.range(hdr, val);
    else itemHead = o.bytes(NO_BYTES);
    const itemFrom = o.n;
    if (!rewriteRows(ctx, w, k + 1, rows[ko + R_NEXT], val, contentEnd, false, itemEnc, o)) {
      o.reset(m, mEnd);
      continue;
    }
    if (undef) o.range(itemEnd - 8, itemEnd);
    else {
      const size = o.size(itemFrom);
      o.set(itemHead, encodeItemHeader(size, itemEnc.littleEndian));
    }
    cursor = itemEnd;
    changed = true;
  }
  if (!changed) {
    o.reset(m0, m0End);
    return false;
  }
  const end = rows[so + R_END];
  o.range(cursor, end);
  if (!seqUndef) {
    const size = o.size(bodyFrom);
    const tag = rows[so + R_TAG];
    const vr = rowVr(rows, r);
    o.set(headIdx, encodeHeader(tag, vr, size, enc));
  }
  return true;
}
