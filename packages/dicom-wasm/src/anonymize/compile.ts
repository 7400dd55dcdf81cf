// A profile compiled once (per profile object): its lookups, and the blob the WebAssembly pass
// reads (profileBlob).

import { parseTagKey, vrOf } from '../dictionary.js';
import { resolveTag, writeElementBytes, type WriteElement } from '../writer.js';
import type { Enc } from './context.js';
import type { AnonymizationProfile, ProfileRule, SafePrivateRule } from './profile.js';

export interface Compiled {
  rules: Map<number, ProfileRule>;
  /** rules for repeating groups ('(60xx,3000)'): tag & mask === value */
  masked: { mask: number; value: number; rule: ProfileRule }[];
  safe: Map<number, SafePrivateRule[]>; // by group
  csaKeep: Set<string>;
  add: { tag: number; el: WriteElement }[];
  /** the added elements, encoded once per encoding (explicit | little endian << 1) */
  addBytes: (Uint8Array[] | undefined)[];
  /** the profile for the WebAssembly pass (profileBlob), by the caller's keep list */
  blobs: Map<string, Uint8Array>;
}

export function addedBytes(c: Compiled, enc: Enc): Uint8Array[] {
  const k = (enc.explicit ? 1 : 0) | (enc.littleEndian ? 2 : 0);
  return (c.addBytes[k] ??= c.add.map((a) => writeElementBytes(a.el, enc)));
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
  c = { rules, masked, safe, csaKeep: new Set(profile.csaKeep), add, addBytes: [], blobs: new Map() };
  compiledProfiles.set(profile, c);
  return c;
}


const UNDEF = 0xffffffff;
const vrCode = (vr: string | undefined) => (vr ? vr.charCodeAt(0) | (vr.charCodeAt(1) << 8) : 0);
const textEncoder = new TextEncoder();

/**
 * The profile (and the caller's keep list) as the WebAssembly pass reads it (src/core/anonymize.c,
 * an_profile_load): little-endian words, then the strings. Made once per profile and keep list.
 */
export function profileBlob(c: Compiled, profile: AnonymizationProfile, keep: ReadonlySet<number>, keepKey: string): Uint8Array {
  const hit = c.blobs.get(keepKey);
  if (hit) return hit;
  const rules = [...c.rules.entries()].sort((a, b) => a[0] - b[0]);
  const keepTags = [...keep].sort((a, b) => a - b);
  const adds = c.add.map((a, i) => [0, 1, 2, 3].map((k) => addedBytes(c, { explicit: (k & 1) !== 0, littleEndian: (k & 2) !== 0 })[i]));
  const words = 16 + rules.length * 5 + c.masked.length * 6 + keepTags.length + profile.safePrivate.length * 5 + profile.csaKeep.length * 2 + c.add.length * 9;
  const strings: Uint8Array[] = [];
  let stringPos = words * 4;
  const str = (b: Uint8Array | undefined): [number, number] => {
    if (!b) return [0, UNDEF];
    strings.push(b);
    stringPos += b.length;
    return [stringPos - b.length, b.length];
  };
  // creators match by their Latin-1 text (a character above 0xff never matches); CSA element
  // names by their characters' low bytes, as csa.ts compares them
  const latin1 = (s: string) => (/[^\x00-\xff]/.test(s) ? undefined : Uint8Array.from(s, (ch) => ch.charCodeAt(0)));
  const out: number[] = [0x414e4f31, (profile.replaceOtherUids ? 1 : 0) | (profile.removePrivate ? 2 : 0)];
  const body: number[] = [];
  const section = (count: number, fill: () => void) => {
    out.push(count, 0);
    const at = out.length - 1;
    const start = 16 * 4 + body.length * 4;
    fill();
    out[at] = start;
  };
  // a replacement value for D applies to text VRs (other VRs get their dummy)
  const value = (r: ProfileRule) => str(r.value === undefined ? undefined : textEncoder.encode(r.value));
  section(rules.length, () => {
    for (const [tag, r] of rules) body.push(tag >>> 0, r.action.charCodeAt(0), vrCode(vrOf(tag) ?? 'UN'), ...value(r));
  });
  section(c.masked.length, () => {
    for (const m of c.masked) body.push(m.mask, m.value, m.rule.action.charCodeAt(0), vrCode(vrOf(m.value) ?? 'UN'), ...value(m.rule));
  });
  section(keepTags.length, () => body.push(...keepTags));
  section(profile.safePrivate.length, () => {
    for (const s of profile.safePrivate) {
      const [off, len] = str(latin1(s.creator));
      body.push(s.group, s.element, s.action.charCodeAt(0), off, len);
    }
  });
  section(profile.csaKeep.length, () => {
    for (const name of profile.csaKeep) body.push(...str(Uint8Array.from(name, (ch) => ch.charCodeAt(0) & 0xff)));
  });
  section(c.add.length, () => {
    c.add.forEach((a, i) => {
      body.push(a.tag >>> 0);
      for (let k = 0; k < 4; k++) body.push(...str(adds[i][k]));
    });
  });
  while (out.length < 16) out.push(0);
  const blob = new Uint8Array(stringPos);
  const dv = new DataView(blob.buffer);
  [...out, ...body].forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  let p = words * 4;
  for (const s of strings) {
    blob.set(s, p);
    p += s.length;
  }
  c.blobs.set(keepKey, blob);
  return blob;
}
