// isComplete must tell a whole file from every prefix of it (a file still being written), never throw.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anonymize, createUidMap, encapsulated, isComplete, parseDicom, writeDicom, DicomParseError, type WriteElement } from '../src/index.js';
import { writeDataSet } from '../src/writer.js';
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

describe('trailing zero padding', () => {
  const withZeros = (b: Uint8Array, n: number) => {
    const out = new Uint8Array(b.length + n);
    out.set(b);
    return out;
  };
  const image = (ts: string, pixelData: WriteElement['value'] = new Uint16Array([1, 2, 3, 0])): Uint8Array =>
    writeDicom(
      [
        { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
        { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' },
        { tag: 'Rows', vr: 'US', value: 2 },
        { tag: 'Columns', vr: 'US', value: 2 },
        { tag: 'BitsAllocated', vr: 'US', value: 16 },
        { tag: 'PixelData', vr: 'OW', value: pixelData },
      ],
      { transferSyntaxUID: ts },
    );

  for (const ts of SYNTAXES) {
    it(`zeros after a complete pixel data element are padding (${ts})`, () => {
      const whole = image(ts);
      const ref = parseDicom(whole);
      for (const n of [1, 2, 7, 8, 9, 16, 100, 4096]) {
        const padded = withZeros(whole, n);
        expect(isComplete(padded), `${n} zeros`).toBe(true);
        const ds = parseDicom(padded);
        expect(ds.get('Rows')).toBe(2);
        expect(Array.from(ds.pixelData() as Uint16Array)).toEqual(Array.from(ref.pixelData() as Uint16Array));
        // the data set ends where the pixel data ends: no (0000,0000) rows read from the zeros
        expect([...ds.elements()].map((e) => e.tag)).toEqual([...ref.elements()].map((e) => e.tag));
        const uidMap = createUidMap({ secret: 'pad' });
        expect(anonymize(padded, { uidMap })).toEqual(anonymize(whole, { uidMap }));
      }
    });

    it(`zeros anywhere else still mean a file being written (${ts})`, () => {
      const whole = image(ts);
      const ds = parseDicom(whole);
      const px = [...ds.elements()].find((e) => e.tag === 0x7fe00010)!;
      // deflated: offsets are in the inflated data, and what follows or fills the deflate
      // stream is the inflater's business (bytes after its end are never read)
      if (ts !== '1.2.840.10008.1.2.1.99') {
      // cut before the pixel data (between two elements, or inside a header) and zero-filled
      // past the full size, as a preallocated file would be; only cuts before a non-zero byte
      // (where the next byte is zero, the zero-filled prefix is the longer prefix)
      const cuts = Array.from({ length: px.valueOffset - px.headerOffset + 8 }, (_, i) => px.headerOffset - 8 + i).filter((c) => whole[c] !== 0);
      expect(cuts.length).toBeGreaterThan(4);
      for (const cut of cuts) {
        const b = new Uint8Array(whole.length + 64);
        b.set(whole.subarray(0, cut));
        expect(isComplete(b), `cut at ${cut}`).toBe(false);
      }
      // cut inside the pixel data, then zeros that do not make up its length
      const inside = withZeros(whole.subarray(0, px.valueOffset + 3), 2);
      expect(isComplete(inside)).toBe(false);
      // pixel data shorter than Rows x Columns x BitsAllocated says, then zeros: not padding
      const short = image(ts, new Uint16Array([1, 2, 3]));
      expect(isComplete(short)).toBe(true); // (as it is: isComplete does not check pixel sizes)
      expect(isComplete(withZeros(short, 16))).toBe(false);
      // zeros after the pixel data, then something that is not zero
      const tail = withZeros(whole, 16);
      tail[tail.length - 1] = 1;
      expect(isComplete(tail)).toBe(false);
      expect(() => parseDicom(tail)).toThrow(DicomParseError);
      }
    });
  }

  it('zeros after the last element of a data set without pixel data are not padding', () => {
    const bare = writeDataSet(
      [
        { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.88.11' },
        { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2' },
      ],
      '1.2.840.10008.1.2.1',
    );
    expect(() => parseDicom(withZeros(bare, 5))).toThrow(DicomParseError);
    const sr = writeDicom(
      [{ tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.88.11' }, { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2' }],
      { transferSyntaxUID: '1.2.840.10008.1.2.1' },
    );
    expect(isComplete(sr)).toBe(true);
    expect(isComplete(withZeros(sr, 5))).toBe(false);
  });

  it('encapsulated pixel data: padding after its delimiter, not in place of it', () => {
    const els: WriteElement[] = [
      { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
      { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' },
      { tag: 'Rows', vr: 'US', value: 1 },
      { tag: 'PixelData', vr: 'OB', value: encapsulated([new Uint8Array(10).fill(7), new Uint8Array(6).fill(9)]) },
    ];
    const whole = writeDicom(els, { transferSyntaxUID: '1.2.840.10008.1.2.4.50' });
    expect(isComplete(withZeros(whole, 12))).toBe(true);
    expect((parseDicom(withZeros(whole, 12)).get('PixelData') as Uint8Array[]).map((f) => f.length)).toEqual([10, 6]);
    // the sequence delimiter (last 8 bytes) not written yet: zeros there are not a delimiter
    const noDelimiter = whole.slice(0, whole.length - 8);
    expect(isComplete(withZeros(noDelimiter, 8))).toBe(false);
    expect(isComplete(withZeros(noDelimiter, 100))).toBe(false);
  });

  it.skipIf(!have)('the real mosaic with zeros after it is complete; cut before its pixel data and zero-filled, it is not', () => {
    const bytes = new Uint8Array(readFileSync(join(sampleDir, '001_000013_000001.dcm')));
    expect(isComplete(withZeros(bytes, 1000))).toBe(true);
    const px = [...parseDicom(bytes).elements()].find((e) => e.tag === 0x7fe00010)!;
    // (cut inside the pixel value and zero-filled, it reads as dark pixels: no reader can tell)
    for (const cut of [200, 5000, 150000, px.headerOffset, px.headerOffset + 5, px.valueOffset - 2].filter((c) => bytes[c] !== 0)) {
      const pre = new Uint8Array(bytes.length + 1000);
      pre.set(bytes.subarray(0, cut));
      expect(isComplete(pre), `cut at ${cut}`).toBe(false);
    }
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
