// Test DICOM data: the real sample volumes when ../shared is present, else H2's synthetic EPI
// generator from @rtfmri/dicom-wasm, so a user's clone still tests streams.
import fs from 'node:fs';
import path from 'node:path';
import * as dicom from '@rtfmri/dicom-wasm';
import * as synthetic from '@rtfmri/dicom-wasm/synthetic';
import { sampleDir, sleep } from './util.js';

type Gen = (index: number, options?: Record<string, unknown>) => Uint8Array;
const synth = (synthetic as unknown as { syntheticEpiVolume?: Gen }).syntheticEpiVolume;

export function hasAnonymize(): boolean {
  return typeof (dicom as unknown as { anonymize?: unknown }).anonymize === 'function';
}

const cache = new Map<number, Uint8Array>();

/** A whole Siemens-like mosaic for volume `i` (~457 KB). */
export async function mosaic(i: number): Promise<Uint8Array> {
  const hit = cache.get(i);
  if (hit) return hit;
  let bytes: Uint8Array;
  if (synth) {
    bytes = synth(i);
  } else {
    const dir = sampleDir();
    if (!dir) throw new Error('no DICOM source: neither the synthetic generator nor ../shared/data/rtcloud-sample');
    bytes = new Uint8Array(fs.readFileSync(path.join(dir, `001_000013_${String((i % 10) + 1).padStart(6, '0')}.dcm`)));
  }
  cache.set(i, bytes);
  return bytes;
}

/** Writes in place in `chunks` writes `gapMs` apart (a scanner writing a file). */
export async function writeChunked(file: string, bytes: Uint8Array, chunks: number, gapMs: number): Promise<{ lastWriteStart: number }> {
  const fd = fs.openSync(file, 'w');
  const step = Math.ceil(bytes.length / chunks);
  let lastWriteStart = 0;
  try {
    for (let off = 0; off < bytes.length; off += step) {
      if (off > 0 && gapMs > 0) await sleep(gapMs);
      lastWriteStart = performance.now();
      fs.writeSync(fd, bytes, off, Math.min(step, bytes.length - off), off);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { lastWriteStart };
}

/** Writes to a hidden temp name in chunks, then renames into place. Returns performance.now() before the rename. */
export async function writeRenamedIn(file: string, bytes: Uint8Array, chunks: number, gapMs: number): Promise<number> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.part`);
  await writeChunked(tmp, bytes, chunks, gapMs);
  const t = performance.now();
  fs.renameSync(tmp, file);
  return t;
}
