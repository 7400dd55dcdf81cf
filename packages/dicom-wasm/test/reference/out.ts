// Test oracle (see rewrite.ts): the output under construction, a list of input ranges and encoded
// pieces, copied into the result with one pass at the end.

import { filterCsaHeader } from '../../src/csa.js';

/**
 * The output as a list of pieces: ranges of the input (adjacent ones merged, no subarray objects)
 * or encoded bytes. Changes are tried speculatively (a sequence may turn out unchanged), so the
 * list can be cut back to a mark.
 */
export class Out {
  /** null: the input range [a, b); else these bytes (a = 0, b = length) */
  arr: (Uint8Array | null)[] = [];
  a: number[] = [];
  b: number[] = [];
  n = 0;
  range(start: number, end: number): void {
    if (end <= start) return;
    const n = this.n;
    if (n > 0 && this.arr[n - 1] === null && this.b[n - 1] === start) {
      this.b[n - 1] = end;
      return;
    }
    this.arr[n] = null;
    this.a[n] = start;
    this.b[n] = end;
    this.n = n + 1;
  }
  bytes(x: Uint8Array): number {
    const n = this.n;
    this.arr[n] = x;
    this.a[n] = 0;
    this.b[n] = x.length;
    this.n = n + 1;
    return n;
  }
  set(i: number, x: Uint8Array): void {
    this.arr[i] = x;
    this.b[i] = x.length;
  }
  /** A mark: the count and the last range's end (a later range may have extended it). */
  mark(): number {
    return this.n;
  }
  lastEnd(): number {
    return this.n > 0 ? this.b[this.n - 1] : 0;
  }
  reset(n: number, lastEnd: number): void {
    this.n = n;
    if (n > 0) this.b[n - 1] = lastEnd;
  }
  size(from: number): number {
    let s = 0;
    for (let i = from; i < this.n; i++) s += this.b[i] - this.a[i];
    return s;
  }
  /** Copies the pieces into `dst` from `pos`; returns the end position. */
  copy(src: Uint8Array, dst: Uint8Array, pos: number): number {
    for (let i = 0; i < this.n; i++) {
      const x = this.arr[i];
      const a = this.a[i];
      const len = this.b[i] - a;
      if (x === null) {
        // short ranges by hand: a subarray object costs more than copying a few dozen bytes
        if (len <= 48) for (let j = 0; j < len; j++) dst[pos + j] = src[a + j];
        else dst.set(src.subarray(a, a + len), pos);
      } else if (len <= 48) {
        for (let j = 0; j < len; j++) dst[pos + j] = x[j];
      } else {
        dst.set(x, pos);
      }
      pos += len;
    }
    return pos;
  }
}

/** The filtered CSA image header. */
export function filterCsa(value: Uint8Array, keep: ReadonlySet<string>): Uint8Array {
  return filterCsaHeader(value, keep);
}
