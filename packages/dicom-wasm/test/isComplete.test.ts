// isComplete must tell a whole file from every prefix of it (a file still being written), never throw.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encapsulated, isComplete, parseDicom, writeDicom, type WriteElement } from '../src/index.js';
import { everyVr } from './parse-fixtures.js';

const sampleDir = join(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/rtcloud-sample');
const have = existsSync(sampleDir);
if (!have) console.warn(`[dicom-wasm] ${sampleDir} absent: skipping real-file truncation tests`);

const SYNTAXES = ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'];

function firstIncompletePrefixComplete(bytes: Uint8Array, cuts: Iterable<number>): number | undefined {
  for (const cut of cuts) if (isComplete(bytes.subarray(0, cut))) return cut;
  return undefined;
}

describe('isComplete on generated files', () => {
  for (const ts of SYNTAXES) {
    for (const undefinedSeq of [true, false]) {
      it(`every prefix of an every-VR file is incomplete (${ts}, ${undefinedSeq ? 'undefined' : 'defined'} lengths)`, () => {
        const bytes = writeDicom(everyVr({ undefinedSeq }), { transferSyntaxUID: ts });
        expect(isComplete(bytes)).toBe(true);
        const all = Array.from({ length: bytes.length }, (_, i) => i);
        expect(firstIncompletePrefixComplete(bytes, all)).toBeUndefined();
      });
    }
  }

  it('every prefix of a file with encapsulated pixel data is incomplete', () => {
    const els: WriteElement[] = [
      { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
      { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' },
      { tag: 'Rows', vr: 'US', value: 1 },
      { tag: 'PixelData', vr: 'OB', value: encapsulated([new Uint8Array(10), new Uint8Array(7), new Uint8Array(0)]) },
    ];
    const bytes = writeDicom(els, { transferSyntaxUID: '1.2.840.10008.1.2.4.50' });
    expect(isComplete(bytes)).toBe(true);
    expect(firstIncompletePrefixComplete(bytes, Array.from({ length: bytes.length }, (_, i) => i))).toBeUndefined();
  });

  it('never throws, whatever it is given', () => {
    for (const x of [new Uint8Array(0), new Uint8Array(1), new Uint8Array(131), new Uint8Array(132), new Uint8Array(4096).fill(0xff)]) {
      expect(isComplete(x)).toBe(false);
    }
    expect(isComplete(null as unknown as Uint8Array)).toBe(false);
    expect(isComplete('DICM' as unknown as Uint8Array)).toBe(false);
  });

  it('a non-image object (no pixel data expected) is complete without pixel data', () => {
    const bytes = writeDicom(
      [{ tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.88.11' }, { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2' }],
      { transferSyntaxUID: '1.2.840.10008.1.2.1' },
    );
    expect(isComplete(bytes)).toBe(true);
  });
});

describe.skipIf(!have)('isComplete on the real mosaic', () => {
  const bytes = have ? readFileSync(join(sampleDir, '001_000013_000001.dcm')) : new Uint8Array(0);

  it('every prefix through the meta group, the headers, and every element boundary and header byte is incomplete', () => {
    expect(isComplete(bytes)).toBe(true);
    const ds = parseDicom(bytes);
    const cuts = new Set<number>();
    for (let i = 0; i < 6000; i++) cuts.add(i);
    const visit = (d: typeof ds) => {
      for (const e of d.elements()) {
        for (let k = 0; k <= 12; k++) cuts.add(e.headerOffset + k);
        cuts.add(e.valueOffset + (e.length > 0 ? e.length - 1 : 0));
        cuts.add(e.end);
        cuts.add(e.end - 1);
        for (const it of e.items ?? []) visit(it);
      }
    };
    visit(ds);
    cuts.delete(bytes.length);
    expect(cuts.size).toBeGreaterThan(6000);
    expect(firstIncompletePrefixComplete(bytes, [...cuts].filter((c) => c < bytes.length))).toBeUndefined();
  });

  it('prefixes cut at many offsets through the CSA header and the pixel data are incomplete', () => {
    const cuts: number[] = [];
    for (let c = 6000; c < bytes.length; c += 61) cuts.push(c);
    cuts.push(bytes.length - 1, bytes.length - 2, 307200);
    expect(firstIncompletePrefixComplete(bytes, cuts)).toBeUndefined();
  });

  it('works on bytes in module memory too', async () => {
    const { allocInput } = await import('../src/index.js');
    const view = allocInput(bytes.length);
    view.set(bytes);
    expect(isComplete(view)).toBe(true);
    expect(isComplete(view.subarray(0, 307200))).toBe(false);
    expect(isComplete(view.subarray(0, 5000))).toBe(false);
  });
});
