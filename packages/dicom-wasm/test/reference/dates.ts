// Test oracle (see rewrite.ts), and the specification the C pass (src/core/anonymize.c's dummy_text,
// shift_value) follows: dummies for action D, shifted dates for the Modified Dates option.

import type { PlainValue } from '../../src/values.js';

/** A dummy value of a VR for action D (PS3.15: a non-empty value consistent with the VR). */
export function dummyValue(vr: string): PlainValue | Uint8Array {
  switch (vr) {
    case 'DA': return '19000101';
    case 'TM': return '000000';
    case 'DT': return '19000101000000';
    case 'AS': return '000D';
    case 'DS': case 'IS': return '0';
    case 'US': case 'SS': case 'UL': case 'SL': case 'FL': case 'FD': case 'AT': return 0;
    case 'SV': case 'UV': return 0n;
    case 'OB': case 'OW': case 'OD': case 'OF': case 'OL': case 'OV': case 'UN': return new Uint8Array(vr === 'OD' || vr === 'OV' ? 8 : vr === 'OF' || vr === 'OL' ? 4 : 2);
    // AE CS LO LT PN SH ST UC UR UT
    default: return 'ANONYMIZED';
  }
}

const DAY_MS = 86_400_000;

/** 'YYYYMMDD' (or the ACR-NEMA 'YYYY.MM.DD') shifted back by `days`, or '' when not a valid date. */
function shiftDate(d: string, days: number): string {
  const m = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(d);
  if (!m) return '';
  const y = +m[1];
  const mo = +m[2];
  const da = +m[3];
  const t = Date.UTC(y, mo - 1, da);
  const check = new Date(t);
  // 20230231 and the like are not dates
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== da) return '';
  const s = new Date(t - days * DAY_MS);
  const sy = s.getUTCFullYear();
  if (sy < 1) return '';
  return String(sy).padStart(4, '0') + String(s.getUTCMonth() + 1).padStart(2, '0') + String(s.getUTCDate()).padStart(2, '0');
}

/**
 * The values of a DA or DT element shifted back by `days` (Modified Dates option). A DA value is a
 * date (or a range 'A-B'); a DT keeps its time of day and fraction and loses its UTC offset
 * suffix (TimezoneOffsetFromUTC is removed too). Values that are not valid dates become empty;
 * a DT of only a year or a year and month is emptied (shifting it by days is not defined).
 */
export function shiftedDates(text: string, vr: string, days: number): string[] {
  return text.split('\\').map((raw) => {
    const v = raw.trim();
    if (v === '') return '';
    if (vr === 'DA') {
      if (v.includes('-')) {
        const [a, b] = v.split('-');
        const sa = a === '' ? '' : shiftDate(a, days);
        const sb = b === undefined || b === '' ? '' : shiftDate(b, days);
        return (a !== '' && sa === '') || (b !== undefined && b !== '' && sb === '') ? '' : `${sa}-${sb}`;
      }
      return shiftDate(v, days);
    }
    const m = /^(\d{8})(\d{0,6}(?:\.\d{1,6})?)([+-]\d{4})?$/.exec(v);
    if (!m) return '';
    const date = shiftDate(m[1], days);
    return date === '' ? '' : date + m[2];
  });
}
