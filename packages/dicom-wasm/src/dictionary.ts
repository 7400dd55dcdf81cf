// Keyword <-> tag <-> VR for the standard attributes. The table is generated at build time from
// dcmjs's data dictionary (see generated/dictionary-data.js for the version) and indexed on first use.
import { dictionaryData, dictionarySource } from '../generated/dictionary-data.js';

export { dictionarySource };

let byTag: Map<number, { vr: string; keyword: string }> | undefined;
let byKeyword: Map<string, number> | undefined;

function load(): void {
  if (byTag) return;
  byTag = new Map();
  byKeyword = new Map();
  for (const line of dictionaryData.split('\n')) {
    const [hex, vr, keyword, retired] = line.split(' ');
    const tag = parseInt(hex, 16);
    byTag.set(tag, { vr, keyword });
    // an active attribute wins a keyword clash with a retired one
    if (!retired || !byKeyword.has(keyword)) byKeyword.set(keyword, tag);
  }
}

/** Tag number (0x00100010) of a standard keyword ('PatientName'), or undefined. */
export function tagOf(keyword: string): number | undefined {
  load();
  return byKeyword!.get(keyword) ?? byKeyword!.get('RETIRED_' + keyword);
}

/** Standard keyword of a tag, or undefined (private and unknown tags). */
export function keywordOf(tag: number): string | undefined {
  load();
  return byTag!.get(tag >>> 0)?.keyword;
}

/**
 * Dictionary VR of a tag, or undefined. Ambiguous VRs resolve as in implicit VR data sets:
 * 'OB or OW' -> 'OW', 'US or SS' -> 'US' (the dataset picks 'SS' when PixelRepresentation is 1),
 * 'US or OW' -> 'OW'. Item tags have no VR.
 */
export function vrOf(tag: number): string | undefined {
  load();
  const vr = byTag!.get(tag >>> 0)?.vr;
  return vr === undefined ? undefined : resolveVr(vr);
}

/** The raw dcmjs VR code, keeping 'ox' / 'xs' / 'lt' ambiguity markers (used by the dataset). */
export function rawVrOf(tag: number): string | undefined {
  load();
  return byTag!.get(tag >>> 0)?.vr;
}

export function resolveVr(vr: string): string | undefined {
  switch (vr) {
    case 'ox': return 'OW';
    case 'xs': return 'US';
    case 'lt': return 'OW';
    case 'up': return 'UL';
    case 'na': return undefined;
    default: return vr;
  }
}

/** Parses 'PatientName', '00100010', '(0010,0010)', '0010,0010' or a number into a tag number. */
export function parseTagKey(key: string | number): number | undefined {
  if (typeof key === 'number') return Number.isInteger(key) && key >= 0 && key <= 0xffffffff ? key >>> 0 : undefined;
  let m = /^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$/.exec(key);
  if (m && (key.length === 8 || key.includes(','))) return parseInt(m[1] + m[2], 16) >>> 0;
  m = /^[xX]([0-9A-Fa-f]{8})$/.exec(key); // dicom-parser style 'x00100010'
  if (m) return parseInt(m[1], 16) >>> 0;
  return tagOf(key);
}

export function tagHex(tag: number): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
}
