// A profile compiled once (per profile object) into the lookups the rewrite makes for every
// element of every image.

import { parseTagKey } from '../dictionary.js';
import { resolveTag, writeElementBytes, type WriteElement } from '../writer.js';
import type { Enc } from './context.js';
import type { AnonymizationProfile, ProfileRule, SafePrivateRule } from './profile.js';

export interface Compiled {
  rules: Map<number, ProfileRule>;
  /** rules for repeating groups ('(60xx,3000)'): tag & mask === value */
  masked: { mask: number; value: number; rule: ProfileRule }[];
  /** the same rules in an open-addressing table: looked up for every element of every image */
  ruleTable: TagTable<ProfileRule>;
  /** blanked elements by rule index * 4 + encoding, with the stream VR (0 = implicit) they were made for */
  blanks: (Uint8Array | null | undefined)[];
  blankVr: Int32Array;
  safe: Map<number, SafePrivateRule[]>; // by group
  csaKeep: Set<string>;
  add: { tag: number; el: WriteElement }[];
  /** the added elements, encoded once per encoding (explicit | little endian << 1) */
  addBytes: (Uint8Array[] | undefined)[];
}

export function addedBytes(c: Compiled, enc: Enc): Uint8Array[] {
  const k = (enc.explicit ? 1 : 0) | (enc.littleEndian ? 2 : 0);
  return (c.addBytes[k] ??= c.add.map((a) => writeElementBytes(a.el, enc)));
}

/**
 * A read-only map from tag to value, probed linearly in a typed array: a `Map` lookup with tags
 * as keys (some above the small-integer range) costs several times more.
 */
export class TagTable<T> {
  private readonly keys: Uint32Array;
  private readonly slots: Int32Array;
  private readonly values: T[];
  private readonly shift: number;
  private readonly mask: number;
  constructor(map: Map<number, T>) {
    let bits = 4;
    while (1 << bits < map.size * 4) bits++;
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.keys = new Uint32Array(1 << bits);
    this.slots = new Int32Array(1 << bits).fill(-1);
    this.values = [];
    for (const [tag, v] of map) {
      let h = Math.imul(tag, 0x9e3779b1) >>> this.shift;
      while (this.slots[h] >= 0) h = (h + 1) & this.mask;
      this.keys[h] = tag;
      this.slots[h] = this.values.length;
      this.values.push(v);
    }
  }
  /** The value's index (0 .. size-1), or -1. */
  index(tag: number): number {
    let h = Math.imul(tag, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const s = this.slots[h];
      if (s < 0 || this.keys[h] === tag >>> 0) return s;
      h = (h + 1) & this.mask;
    }
  }
  at(i: number): T {
    return this.values[i];
  }
  get(tag: number): T | undefined {
    const i = this.index(tag);
    return i < 0 ? undefined : this.values[i];
  }
}

const compiledProfiles = new WeakMap<AnonymizationProfile, Compiled>();

/** A profile's or caller's tag: a keyword, any tag spelling parseTagKey reads, or a number. */
export function tagOfKey(key: string | number): number {
  const t = parseTagKey(key);
  if (t !== undefined) return t;
  return resolveTag(key);
}

export function compile(profile: AnonymizationProfile): Compiled {
  let c = compiledProfiles.get(profile);
  if (c) return c;
  const rules = new Map<number, ProfileRule>();
  const masked: Compiled['masked'] = [];
  for (const r of profile.rules) {
    const m = /^\(?([0-9a-fx]{4}),?([0-9a-fx]{4})\)?$/i.exec(r.tag);
    if (m && /x/i.test(r.tag)) {
      // a repeating group: x digits match anything, the group stays even (not private)
      const hex = m[1] + m[2];
      let mask = 0;
      let value = 0;
      for (let i = 0; i < 8; i++) {
        const c = hex[i].toLowerCase();
        mask = mask * 16 + (c === 'x' ? 0 : 15);
        value = value * 16 + (c === 'x' ? 0 : parseInt(c, 16));
      }
      masked.push({ mask: (mask | 0x00010000) >>> 0, value: value >>> 0, rule: r });
      continue;
    }
    rules.set(tagOfKey(r.tag), r);
  }
  const safe = new Map<number, SafePrivateRule[]>();
  for (const s of profile.safePrivate) {
    const list = safe.get(s.group) ?? [];
    list.push(s);
    safe.set(s.group, list);
  }
  const add = profile.add
    .map((a) => ({ tag: tagOfKey(a.tag), el: { tag: tagOfKey(a.tag), vr: a.vr, value: a.value } as WriteElement }))
    .sort((x, y) => x.tag - y.tag);
  c = { rules, masked, ruleTable: new TagTable(rules), blanks: [], blankVr: new Int32Array(rules.size * 4), safe, csaKeep: new Set(profile.csaKeep), add, addBytes: [] };
  compiledProfiles.set(profile, c);
  return c;
}

/** The rule of a tag: exact first, then the repeating-group rules (checked for groups 50xx/60xx only). */
export function maskedRule(c: Compiled, tag: number): ProfileRule | undefined {
  const hi = tag >>> 24;
  if (hi !== 0x50 && hi !== 0x60) return undefined;
  for (const m of c.masked) if (((tag & m.mask) >>> 0) === m.value) return m.rule;
  return undefined;
}
