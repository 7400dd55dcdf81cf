// A burst (many streams' volumes closed at the same instant, checked in one turn) takes its
// delivery memory from the volumes sent before (recycled once they left this process), not from
// fresh allocations: fresh external memory per burst made V8 run a mark-compact every second burst,
// its pauses inside the burst. The list of kept buffers is bounded.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ready } from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { checkFile, recycleDelivered, recycledStats } from '../src/check.js';
import { lookRequest, rmrf, tmpDir } from './util.js';

const dir = tmpDir();
afterAll(() => rmrf(dir));

const request = (file: string, anonymize: boolean) => lookRequest(dir, file, anonymize);

describe('delivery memory in a burst', () => {
  it('16 volumes checked in one turn reuse the memory of 16 volumes delivered before, each its own', async () => {
    await ready();
    const files = Array.from({ length: 16 }, (_, k) => {
      const f = path.join(dir, `vol_${k}.dcm`);
      fs.writeFileSync(f, syntheticEpiVolume(k));
      return f;
    });
    for (const anonymize of [false, true]) {
      // a first burst: its memory is handed back once "sent"
      const first = files.map((f) => checkFile(request(f, anonymize)));
      const lent = new Set<ArrayBufferLike>();
      for (const r of first) {
        expect(r.status).toBe('ok');
        if (r.status === 'ok') {
          lent.add(r.bytes.buffer);
          recycleDelivered(r.bytes);
        }
      }
      // the next burst, in one synchronous turn (no chance to prepare spares in between)
      const next = files.map((f) => checkFile(request(f, anonymize)));
      const got = next.map((r) => (r.status === 'ok' ? r.bytes.buffer : null));
      expect(new Set(got).size, 'each volume its own memory').toBe(16);
      const reused = got.filter((b) => b && lent.has(b)).length;
      // at most the one spare prepared beforehand is fresh
      expect(reused, `anonymize ${anonymize}`).toBeGreaterThanOrEqual(15);
      // and the bytes are the file's (or its anonymized copy), not a previous volume's
      next.forEach((r, k) => {
        if (r.status !== 'ok') throw new Error(r.status);
        if (!anonymize) expect(Buffer.compare(Buffer.from(r.bytes), fs.readFileSync(files[k]!))).toBe(0);
        else expect(r.bytes.length).toBeGreaterThan(0);
      });
      for (const r of next) if (r.status === 'ok') recycleDelivered(r.bytes);
    }
  });

  it('what is kept is bounded (count and bytes), and memory handed back twice is kept once', () => {
    for (let i = 0; i < 100; i++) recycleDelivered(new Uint8Array(1 << 20));
    const s = recycledStats();
    expect(s.count).toBeLessThanOrEqual(32);
    expect(s.bytes).toBeLessThanOrEqual(32 << 20);
    const b = new Uint8Array(300 * 1024);
    recycleDelivered(b);
    const before = recycledStats().count;
    recycleDelivered(b);
    expect(recycledStats().count).toBe(before);
  });
});
