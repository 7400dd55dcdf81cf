// Session-consistent UIDs: each replacement derives from SHA-256(secret, original UID), so every
// thread and process holding the same secret maps a UID the same way, and nobody without the
// secret can map an original UID to its replacement.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/**
 * Made by `createUidMap` only: anonymize computes the same replacements in WebAssembly from the
 * map's `secret` and `root` (src/core/anonymize.c), so a hand-made object's `map` would be ignored.
 */
export interface UidMap {
  /** The secret the replacement UIDs derive from: share it (not the map) with worker threads. */
  readonly secret: string;
  /** UID root of the replacements; undefined = '2.25' (UUID-derived). */
  readonly root: string | undefined;
  /** The replacement for `uid`; the same input gives the same output for this secret. */
  map(uid: string): string;
  /**
   * Days by which the Modified Dates option shifts dates back: 3653 to 7305 (10 to 20 years),
   * from SHA-256(secret, NUL, 'rtfmri date shift'), so a site's dates shift alike in every process.
   */
  readonly dateShiftDays: number;
}

const madeMaps = new WeakSet<UidMap>();

/** Throws unless `m` was made by createUidMap (see UidMap). */
export function assertUidMap(m: UidMap): void {
  if (!madeMaps.has(m)) throw new TypeError('uidMap must be made by createUidMap (anonymize derives replacements from its secret and root)');
}

const limbs = new Uint32Array(8);
/** Decimal digits of the 128-bit big-endian number in words[0..3] (no BigInt: it is 10x slower here). */
function decimal128(words: ArrayLike<number>): string {
  for (let i = 0; i < 4; i++) {
    limbs[i * 2] = words[i] >>> 16;
    limbs[i * 2 + 1] = words[i] & 0xffff;
  }
  let out = '';
  for (;;) {
    let rem = 0;
    let nonzero = false;
    for (let i = 0; i < 8; i++) {
      const cur = rem * 65536 + limbs[i];
      const q = Math.floor(cur / 1e7);
      rem = cur - q * 1e7;
      limbs[i] = q;
      if (q !== 0) nonzero = true;
    }
    if (!nonzero) return String(rem) + out;
    out = String(rem).padStart(7, '0') + out;
  }
}

/**
 * A new random secret (128 bits, hex) for `createUidMap`. A site keeps one (e.g. in a file only the
 * runtime can read) so its UID replacements and date shift survive restarts.
 */
export function newUidSecret(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return bytesToHex(b);
}

/**
 * A UID map for one session. Replacements derive from `secret` and the original UID
 * (SHA-256), so every worker holding the same secret maps a UID the same way, and nobody
 * without the secret can map an original UID to its replacement.
 */
export function createUidMap(options: { secret?: string; root?: string } = {}): UidMap {
  const secret = options.secret ?? newUidSecret();
  if (typeof secret !== 'string') throw new TypeError('UID map secret must be a string');
  const root = options.root;
  if (root !== undefined && !/^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(root)) throw new RangeError(`bad UID root ${root}`);
  const maxDigits = root === undefined ? 0 : 64 - root.length - 1;
  if (root !== undefined && maxDigits < 12) throw new RangeError(`UID root ${root} leaves too few digits`);
  const cache = new Map<string, string>();
  const prefix = `${secret}\u0000`;
  // sized for the whole prefix: until this was fixed, a secret of 256 characters or more was
  // hashed with only the first 256 characters of secret + NUL (the prefix was written into a
  // 256-byte buffer before it grew), so such secrets now map differently; shorter ones do not
  let msg = new Uint8Array(Math.max(256, prefix.length + 128));
  // one byte per character (the low byte), not UTF-8: replacements must not change across versions
  for (let i = 0; i < prefix.length; i++) msg[i] = prefix.charCodeAt(i) & 0xff;
  const dateShiftDays = dateShiftOf(secret);
  const made: UidMap = {
    secret,
    root,
    dateShiftDays,
    map(uid: string): string {
      const hit = cache.get(uid);
      if (hit !== undefined) return hit;
      const n = prefix.length + uid.length;
      if (msg.length < n) {
        const next = new Uint8Array(n * 2);
        next.set(msg.subarray(0, prefix.length));
        msg = next;
      }
      // UIDs are ASCII (digits and dots); anything else is hashed by its low byte, still deterministic
      for (let i = 0; i < uid.length; i++) msg[prefix.length + i] = uid.charCodeAt(i) & 0xff;
      const d = sha256(msg.subarray(0, n));
      const h = (i: number) => ((d[i * 4] << 24) | (d[i * 4 + 1] << 16) | (d[i * 4 + 2] << 8) | d[i * 4 + 3]) >>> 0;
      // a version-8 (custom) UUID from the first 128 bits, written as a 2.25 UID
      const words = [h(0), ((h(1) & 0xffff0fff) | 0x00008000) >>> 0, ((h(2) & 0x3fffffff) | 0x80000000) >>> 0, h(3)];
      const digits = decimal128(words);
      const out = root === undefined ? `2.25.${digits}` : `${root}.${digits.slice(0, maxDigits)}`;
      if (cache.size > 100_000) cache.clear();
      cache.set(uid, out);
      return out;
    },
  };
  madeMaps.add(made);
  return made;
}

/** The Modified Dates shift of a secret: 3653 + (first 32 bits of SHA-256(secret, NUL, 'rtfmri date shift')) mod 3653 days. */
export function dateShiftOf(secret: string): number {
  const d = sha256(Uint8Array.from(`${secret}\u0000rtfmri date shift`, (c) => c.charCodeAt(0) & 0xff));
  return 3653 + (((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0) % 3653;
}

const processMaps = new Map<string, UidMap>();
/** The process's map for a UID root, used when a call passes no `uidMap`. */
export function defaultUidMap(root: string | undefined): UidMap {
  const key = root ?? '';
  let m = processMaps.get(key);
  if (!m) {
    m = createUidMap({ root });
    processMaps.set(key, m);
  }
  return m;
}
