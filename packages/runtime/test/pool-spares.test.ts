// A look in the pool's worker delivers into memory the main thread lends it with the request
// (recycled, already touched): the worker cannot prepare spares of its own (it blocks between
// tasks) and its deliveries leave it, so without the loan every delivery there was fresh memory.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ready } from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { checkFile, recycleDelivered, recycledStats } from '../src/check.js';
import { WorkRouter } from '../src/work-router.js';
import { lookRequest, rmrf, tmpDir } from './util.js';

const dir = tmpDir();
afterAll(() => rmrf(dir));

const request = (file: string, anonymize: boolean) => lookRequest(dir, file, anonymize);

describe('delivery memory of pool looks', () => {
  it('a pool look takes recycled memory with it and delivers into it; the bytes are the inline look\'s', async () => {
    await ready();
    const file = path.join(dir, 'vol_0.dcm');
    fs.writeFileSync(file, syntheticEpiVolume(3));
    const router = new WorkRouter('pool', 1);
    try {
      await router.warm();
      for (const anonymize of [true, false]) {
        // memory handed back after a send: 1 MiB, bigger than any volume's copy needs
        const lent = new Uint8Array(1 << 20);
        recycleDelivered(lent);
        const before = recycledStats().count;
        const r = await router.run(request(file, anonymize));
        expect(r.status).toBe('ok');
        if (r.status !== 'ok') return;
        // the loan left with the request (transferred: detached here) ...
        expect(recycledStats().count).toBe(before - 1);
        expect(lent.byteLength).toBe(0);
        // ... and came back holding the delivery (a fresh allocation would be the copy's size)
        expect(r.bytes.buffer.byteLength).toBe(1 << 20);
        const inline = checkFile(request(file, anonymize));
        if (inline.status !== 'ok') throw new Error(inline.status);
        expect(Buffer.compare(Buffer.from(r.bytes), Buffer.from(inline.bytes))).toBe(0);
      }
      // nothing to lend: the look still delivers (into memory of the worker's own)
      while (recycledStats().count > 0) {
        const r = await router.run(request(file, false));
        if (r.status !== 'ok') throw new Error(r.status);
      }
      const r = await router.run(request(file, true));
      expect(r.status).toBe('ok');
    } finally {
      await router.release();
    }
  });
});
