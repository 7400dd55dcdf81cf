// renderFrame's 16-bit lookup table gives the bytes of the per-pixel formula (clamped and rounded
// as a Uint8ClampedArray store does), for unsigned and signed pixels and windows that clip.
import { describe, expect, it } from 'vitest';
import { renderFrame } from '../src/browser/frame.js';

function reference(src: ArrayLike<number>, lo: number, hi: number): Uint8ClampedArray {
  const scale = 255 / (hi - lo);
  const out = new Uint8ClampedArray(src.length * 4);
  for (let i = 0; i < src.length; i++) {
    const g = (src[i] - lo) * scale;
    out[i * 4] = out[i * 4 + 1] = out[i * 4 + 2] = g;
    out[i * 4 + 3] = 255;
  }
  return out;
}

describe('renderFrame', () => {
  it('16-bit pixels through the lookup table: the same bytes as the formula', () => {
    let seed = 5;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (const signed of [false, true]) {
      const data = signed ? new Int16Array(64 * 48) : new Uint16Array(64 * 48);
      for (let i = 0; i < data.length; i++) data[i] = signed ? Math.floor(rand() * 65536) - 32768 : Math.floor(rand() * 65536);
      for (const [lo, hi] of [[0, 4095], [-1000, 1000], [100.5, 1234.25], [30000, 30001]] as [number, number][]) {
        const vol = { slices: 1, rows: 48, cols: 64, data, image: { rows: 48, cols: 64, data } };
        const got = renderFrame(vol, { mode: 'mosaic' }, [lo, hi]);
        expect(Buffer.from(got.rgba.buffer).equals(Buffer.from(reference(data, lo, hi).buffer)), `signed ${signed} window ${lo}..${hi}`).toBe(true);
      }
    }
  });
});
