// Private attributes of the Siemens, GE and Philips MR creators that fMRI tools read (slice timing,
// mosaic image count, b-values and gradients, phase encoding), by creator: (group, element byte)
// -> VR and keyword. Generated from pydicom's private dictionary (scripts/gen-private-dict.py).
// A private element (gggg,xxee) belongs to the block whose creator (gggg,00xx) names it; the same
// element number means different things under different creators, so nothing is decoded by
// number alone.

import { privateCreators, privateDictionarySource, privateEntries } from './private-dictionary-data.js';

export { privateDictionarySource };

export interface PrivateEntry {
  creator: string;
  group: number;
  /** the element's low byte (ee of (gggg,xxee)) */
  element: number;
  vr: string;
  vm: string;
  /** '' when the source names it 'Unknown' (its VR still decodes the value) */
  keyword: string;
}

let byCreator: Map<string, Map<number, PrivateEntry>> | undefined;
let byKeyword: Map<string, PrivateEntry[]> | undefined;

function index(): void {
  byCreator = new Map();
  byKeyword = new Map();
  for (const [c, group, element, vr, vm, keyword] of privateEntries) {
    const creator = privateCreators[c];
    const e: PrivateEntry = { creator, group, element, vr, vm, keyword };
    let m = byCreator.get(creator);
    if (!m) byCreator.set(creator, (m = new Map()));
    m.set((group << 8) | element, e);
    if (keyword === '') continue; // 'Unknown' in the source: a VR, no keyword
    const list = byKeyword.get(keyword) ?? [];
    list.push(e);
    byKeyword.set(keyword, list);
  }
}

/** The entry for element byte `element` of `group` in a block reserved by `creator`, or undefined. */
export function privateEntry(creator: string, group: number, element: number): PrivateEntry | undefined {
  if (!byCreator) index();
  return byCreator!.get(creator)?.get((group << 8) | (element & 0xff));
}

/** The entries with this keyword (under any creator), or undefined. */
export function privateEntriesOf(keyword: string): PrivateEntry[] | undefined {
  if (!byKeyword) index();
  return byKeyword!.get(keyword);
}

/** True when `creator` is one of the dictionary's creators. */
export function isKnownCreator(creator: string): boolean {
  if (!byCreator) index();
  return byCreator!.has(creator);
}
