// VR tables shared by the parser, the value decoder, the writer and the anonymizer.

/** Every VR of the standard (PS3.5 Table 6.2-1): what the parser accepts as explicit and the writer can write. */
export const STANDARD_VRS: ReadonlySet<string> = new Set(
  'AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);

/** VRs whose value is text; multi-valued ones are split on backslash. */
export const TEXT_VRS: ReadonlySet<string> = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);

/** Text VRs with VM 1 by definition: a backslash is part of the text, not a separator. */
export const SINGLE_TEXT_VRS: ReadonlySet<string> = new Set(['LT', 'ST', 'UT', 'UR']);

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length. */
export const LONG_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** STANDARD_VRS by their two bytes as the row table stores them (first | second << 8): 1 = standard. */
export const STANDARD_VR_CODES: Uint8Array = (() => {
  const t = new Uint8Array(65536);
  for (const vr of STANDARD_VRS) t[vr.charCodeAt(0) | (vr.charCodeAt(1) << 8)] = 1;
  return t;
})();
