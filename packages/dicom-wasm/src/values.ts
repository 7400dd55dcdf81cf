// Value decoding by VR, from the caller's bytes (never from wasm memory, never copied except
// where an unaligned or big-endian typed view is impossible).

import { SINGLE_TEXT_VRS, TEXT_VRS } from './vr.js';

const NUMERIC_SIZES: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, AT: 4, SV: 8, UV: 8 };

const decoders = new Map<string, TextDecoder>();
let latin1: TextDecoder | undefined;
/** VRs whose text may use SpecificCharacterSet; the rest are ASCII by definition. */
const CHARSET_VRS = new Set(['SH', 'LO', 'ST', 'LT', 'UC', 'UT', 'PN']);

/**
 * Text of a value. `charset` is a TextDecoder label ('utf-8', 'iso-8859-5', 'gb18030', ...), or
 * true for UTF-8, or false / '' for the default repertoire (read as Latin-1, a superset of ASCII).
 */
export function decodeText(bytes: Uint8Array, start: number, end: number, charset: string | boolean = false): string {
  const n = end - start;
  if (n <= 0) return '';
  const label = charset === true ? 'utf-8' : charset || '';
  if (label) {
    let d = decoders.get(label);
    if (!d) {
      try { d = new TextDecoder(label); } catch { d = new TextDecoder('latin1'); }
      decoders.set(label, d);
    }
    return d.decode(bytes.subarray(start, end));
  }
  if (n <= 256) {
    // short values (nearly all of them): a char-code loop beats TextDecoder's call overhead
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  return (latin1 ??= new TextDecoder('latin1')).decode(bytes.subarray(start, end));
}

/** TextDecoder label for a SpecificCharacterSet value ('' = default/Latin-1; ISO 2022 code extensions are not interpreted). */
export function charsetLabel(specificCharacterSet: unknown): string {
  const terms = (Array.isArray(specificCharacterSet) ? specificCharacterSet : [specificCharacterSet])
    .filter((t): t is string => typeof t === 'string' && t.trim() !== '')
    .map((t) => t.trim().toUpperCase().replace(/\s+/g, ' '));
  const first = terms[0] ?? '';
  const map: Record<string, string> = {
    'ISO_IR 192': 'utf-8', 'ISO_IR 100': '', 'ISO_IR 101': 'iso-8859-2', 'ISO_IR 109': 'iso-8859-3',
    'ISO_IR 110': 'iso-8859-4', 'ISO_IR 144': 'iso-8859-5', 'ISO_IR 127': 'iso-8859-6', 'ISO_IR 126': 'iso-8859-7',
    'ISO_IR 138': 'iso-8859-8', 'ISO_IR 148': 'iso-8859-9', 'ISO_IR 203': 'iso-8859-15', 'ISO_IR 166': 'windows-874',
    'ISO_IR 13': 'shift_jis', GB18030: 'gb18030', GBK: 'gbk',
  };
  return map[first] ?? '';
}

function trimValue(s: string, vr: string): string {
  // trailing padding (space, NUL); leading spaces are insignificant except in the free-text VRs
  let e = s.length;
  while (e > 0 && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0)) e--;
  let b = 0;
  if (!SINGLE_TEXT_VRS.has(vr)) while (b < e && s.charCodeAt(b) === 0x20) b++;
  return b === 0 && e === s.length ? s : s.slice(b, e);
}

/** What both a decoded value and a value to write can be. */
export type PlainValue = string | string[] | number | number[] | bigint | bigint[] | Uint8Array;

export type DicomValue =
  | PlainValue
  | Uint8Array[]
  | undefined
  | unknown[];

/**
 * Decodes a (non-sequence) value.
 * - text VRs: trimmed string, or string[] when the value holds several (backslash-separated);
 *   DS/IS: number or number[] (NaN for text that is not a number); empty -> '' (text) or undefined (DS/IS)
 * - US SS UL SL FL FD: number or number[]; SV UV: bigint or bigint[]; AT: tag number(s); empty -> undefined
 * - everything else (OB OW OD OF OL OV UN, unknown VRs): a Uint8Array view of the bytes, no copy
 */
export function decodeValue(vr: string, bytes: Uint8Array, offset: number, length: number, littleEndian: boolean, charset: string | boolean = false): DicomValue {
  if (TEXT_VRS.has(vr)) {
    const raw = decodeText(bytes, offset, offset + length, CHARSET_VRS.has(vr) ? charset : false);
    if (vr === 'DS' || vr === 'IS') {
      const parts = raw.split('\\').map((p) => p.trim()).filter((p, i, all) => p !== '' || all.length > 1);
      if (parts.length === 0) return undefined;
      const nums = parts.map((p) => (p === '' ? NaN : Number(p)));
      return nums.length === 1 ? nums[0] : nums;
    }
    if (SINGLE_TEXT_VRS.has(vr) || raw.indexOf('\\') < 0) return trimValue(raw, vr);
    return raw.split('\\').map((p) => trimValue(p, vr));
  }
  const size = NUMERIC_SIZES[vr];
  if (size) {
    const count = Math.floor(length / size);
    if (count === 0) return undefined;
    const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, count * size);
    const le = littleEndian;
    const read = (i: number): number | bigint => {
      const o = i * size;
      switch (vr) {
        case 'US': return dv.getUint16(o, le);
        case 'SS': return dv.getInt16(o, le);
        case 'UL': return dv.getUint32(o, le);
        case 'SL': return dv.getInt32(o, le);
        case 'FL': return dv.getFloat32(o, le);
        case 'FD': return dv.getFloat64(o, le);
        case 'AT': return ((dv.getUint16(o, le) << 16) | dv.getUint16(o + 2, le)) >>> 0;
        case 'SV': return dv.getBigInt64(o, le);
        default: return dv.getBigUint64(o, le); // UV
      }
    };
    if (count === 1) return read(0) as number | bigint;
    const out = new Array(count);
    for (let i = 0; i < count; i++) out[i] = read(i);
    return out as number[] | bigint[];
  }
  return bytes.subarray(offset, offset + length);
}
