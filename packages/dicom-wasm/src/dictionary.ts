// Keyword <-> tag <-> VR for the standard attributes. The table is generated at build time from
// dcmjs's data dictionary (see generated/dictionary-data.js for the version) and indexed on first use.
import { dictionaryKeywords, dictionarySource, dictionaryTags, dictionaryVrs } from '../generated/dictionary-data.js';

export { dictionarySource };

// Tag -> row is a binary search over the tag column (sorted). Keyword -> row is a Map built on the
// first keyword lookup (~0.9 ms here for 5163 keywords): the generated keyword-order column
// (dictionaryKeywordOrder) is not imported, so bundles leave it out (~11 KB gzip of a browser
// worker's first-volume chunk, issue 14).
let keywords: string[] | undefined;
let keywordRows: Map<string, number> | undefined;

function indexOfTag(tag: number): number {
  let lo = 0, hi = dictionaryTags.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (dictionaryTags[mid] < tag) lo = mid + 1; else hi = mid;
  }
  return lo < dictionaryTags.length && dictionaryTags[lo] === tag ? lo : -1;
}

function keywordsList(): string[] {
  return (keywords ??= dictionaryKeywords.split(','));
}

function indexOfKeyword(keyword: string): number {
  if (!keywordRows) {
    const list = keywordsList();
    keywordRows = new Map();
    // rows in tag order: should two attributes share a keyword, the first (lower tag) wins
    for (let i = 0; i < list.length; i++) if (!keywordRows.has(list[i])) keywordRows.set(list[i], i);
  }
  return keywordRows.get(keyword) ?? -1;
}

/** Tag number (0x00100010) of a standard keyword ('PatientName'), or undefined. */
export function tagOf(keyword: string): number | undefined {
  // dcmjs spells retired keywords RETIRED_<Keyword>; accept both spellings
  let i = indexOfKeyword(keyword);
  if (i < 0) i = keyword.startsWith('RETIRED_') ? indexOfKeyword(keyword.slice(8)) : indexOfKeyword('RETIRED_' + keyword);
  return i < 0 ? undefined : dictionaryTags[i];
}

/** Standard keyword of a tag, or undefined (private and unknown tags). */
export function keywordOf(tag: number): string | undefined {
  const i = indexOfTag(tag >>> 0);
  return i < 0 ? undefined : keywordsList()[i];
}

/**
 * Dictionary VR of a tag, or undefined. Ambiguous VRs resolve as in implicit VR data sets:
 * 'OB or OW' -> 'OW', 'US or SS' -> 'US' (the dataset picks 'SS' when PixelRepresentation is 1),
 * 'US or OW' -> 'OW'. Item tags have no VR.
 */
export function vrOf(tag: number): string | undefined {
  const vr = rawVrOf(tag);
  return vr === undefined ? undefined : resolveVr(vr);
}

/** The raw dcmjs VR code, keeping 'ox' / 'xs' / 'lt' ambiguity markers (used by the dataset). */
export function rawVrOf(tag: number): string | undefined {
  const i = indexOfTag(tag >>> 0);
  return i < 0 ? undefined : dictionaryVrs.slice(2 * i, 2 * i + 2);
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
