// Files for every transfer syntax, VR and sequence shape, made with the package's own writer, so a
// user's clone tests everything without ../shared. Offsets are checked against an independent walk.
import dcmjs from 'dcmjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allocInput, anonymize, defaultInflateLimit, DicomDataset, DicomParseError, encapsulated, INFLATE_LIMITS, inModuleMemory, isComplete,
  keywordOf, parseDicom, tagOf, vrOf, writeDicom, type WriteElement,
} from '../src/index.js';
import {
  DEFLATED_EXPLICIT_VR_LE as TS_DEFLATED, EXPLICIT_VR_BE as TS_BE, EXPLICIT_VR_LE as TS_EXPLICIT, IMPLICIT_VR_LE as TS_IMPLICIT, JPEG_BASELINE as TS_JPEG,
} from '../src/transfer-syntax.js';
import { writeDataSet } from '../src/writer.js';
import { resetCoreForTesting } from '../src/wasm.js';
import { everyVr } from './parse-fixtures.js';

/** Independent walk in TS (explicit or implicit LE/BE), checking every element's offsets. */
function checkOffsets(ds: DicomDataset, depth = 0): number {
  let n = 0;
  const b = ds.bytes;
  let expectedStart = ds.isItem ? ds.valueOffset : -1;
  for (const e of ds.elements()) {
    if (expectedStart >= 0 && !(depth === 0 && e.tag >>> 16 === 2)) expect(e.headerOffset).toBe(expectedStart);
    const le = e.tag >>> 16 === 2 ? true : ds.littleEndian; // the meta group is always LE
    const dv = new DataView(b.buffer, b.byteOffset);
    const group = dv.getUint16(e.headerOffset, le), el = dv.getUint16(e.headerOffset + 2, le);
    expect(((group << 16) | el) >>> 0).toBe(e.tag);
    if (e.length >= 0 && !e.items) expect(e.end).toBe(e.valueOffset + e.length);
    if (e.items) {
      let p = e.valueOffset;
      for (const item of e.items) {
        expect(item.headerOffset).toBe(p);
        expect(dv.getUint32(p, item.littleEndian)).toBe(item.littleEndian ? 0xe000fffe : 0xfffee000);
        n += checkOffsets(item, depth + 1);
        p = item.end;
      }
      expect(e.end).toBe(e.length >= 0 ? e.valueOffset + e.length : p + 8);
    }
    expectedStart = e.end;
    n++;
  }
  if (ds.isItem) expect(expectedStart < 0 ? ds.valueOffset : expectedStart).toBe(ds.length >= 0 ? ds.end : ds.end - 8);
  return n;
}

function checkEveryVr(ds: DicomDataset, ts: string): void {
  expect(ds.transferSyntaxUID).toBe(ts);
  expect(ds.get('SOPInstanceUID')).toBe('1.2.3.4.5');
  expect(ds.get('MediaStorageSOPInstanceUID')).toBe('1.2.3.4.5');
  expect(ds.get('TransferSyntaxUID')).toBe(ts);
  expect(ds.get('00080054')).toBe('STORESCP');
  expect(ds.get('PatientAge')).toBe('030Y');
  expect(ds.get(0x00209165)).toEqual([0x00100010, 0x7fe00010]);
  expect(ds.get('ImageType')).toEqual(['ORIGINAL', 'PRIMARY', 'MOSAIC']);
  expect(ds.get('StudyDate')).toBe('20190219');
  expect(ds.get('PixelSpacing')).toEqual([3, 2.5]);
  expect(ds.get('AcquisitionDateTime')).toBe('20190219124750.327500');
  expect(ds.get(0x00081163)).toEqual([1.5, -2.25]);
  expect(ds.get(0x00089459)).toBe(0.5);
  expect(ds.get('InstanceNumber')).toBe(7);
  expect(ds.get('Manufacturer')).toBe('SIEMENS');
  expect(ds.get('PatientComments')).toBe('line one\\not a separator');
  expect(Array.from(ds.get(0x00420011) as Uint8Array)).toEqual([1, 2, 3, 0]); // OB padded to even length
  const od = ds.get(0x003a032e) as Uint8Array;
  expect(od.length).toBe(16);
  expect((ds.get(0x00720081) as Uint8Array).length).toBe(8);
  expect(ds.get('PatientName')).toBe('Müller^Jöns');
  expect(ds.get('StationName')).toBe('AWP45031');
  expect(ds.get(0x00186020)).toEqual([-5, 70000]);
  expect(ds.get(0x00189219)).toEqual([-2, 3]);
  expect(ds.get('InstitutionAddress')).toBe('Washington Rd, Princeton');
  expect(ds.get(0x00720082)).toBe(-(1n << 40n));
  expect(ds.get(0x0008040c)).toBe(12345678901234n);
  expect(ds.get('AcquisitionTime')).toBe('124750.327500');
  expect(ds.get(0x00080119)).toEqual(['a long string', 'b']);
  expect(ds.get(0x00081161)).toEqual([4000000000, 1]);
  expect(ds.get(0x0008010e)).toBe('http://example.invalid/x');
  expect(ds.get('Rows')).toBe(2);
  expect(ds.get(0x0008030e)).toBe('unlimited text');
  expect(ds.get('(0009,0010)')).toBe('RTFMRI TEST');
  expect(ds.element('00091011')!.isPrivate).toBe(true);
  expect(ds.element('00091011')!.keyword).toBeUndefined();
  // implicit VR: a private element has no known VR, so its value stays bytes
  if (ts === TS_IMPLICIT) expect(new TextDecoder().decode(ds.get('00091011') as Uint8Array)).toBe('private text');
  else expect(ds.get('00091011')).toBe('private text');
  const seq = ds.get('ReferencedImageSequence') as DicomDataset[];
  expect(seq.length).toBe(2);
  expect(seq[0].get('ReferencedSOPInstanceUID')).toBe('1.2.3');
  expect(seq[1].get('ReferencedSOPInstanceUID')).toBe('1.2.4');
  const inner = seq[1].get('SourceImageSequence') as DicomDataset[];
  expect(inner.length).toBe(2);
  expect(inner[0].get('ReferencedSOPClassUID')).toBe('1.2.5.6');
  expect(inner[1].size).toBe(0);
  expect(ds.get('ReferencedStudySequence')).toEqual([]);
  const px = ds.pixelData() as Int16Array;
  expect(px).toBeInstanceOf(Int16Array);
  expect(Array.from(px)).toEqual([1, -2, 3, -32768]);
  const vrs = new Map([...ds.elements()].map((e) => [e.tagHex, e.vr]));
  // implicit VR: the dictionary supplies VRs; private and unknown tags are UN (creators LO)
  if (ts === TS_IMPLICIT) {
    expect(vrs.get('00091010')).toBe('UN');
    expect(vrs.get('00090010')).toBe('LO');
    expect(vrs.get('7FE00010')).toBe('OW');
  } else {
    expect(vrs.get('00091010')).toBe('OB');
    expect(vrs.get('0072006D')).toBe('UN');
  }
  expect(vrs.get('00081140')).toBe('SQ');
  expect(vrs.get('00100010')).toBe('PN');
  expect(checkOffsets(ds)).toBeGreaterThan(50);
}

describe('every transfer syntax, VR and sequence shape (own writer)', () => {
  for (const ts of [TS_IMPLICIT, TS_EXPLICIT, TS_BE, TS_DEFLATED]) {
    for (const undefinedSeq of [true, false]) {
      it(`${ts}, ${undefinedSeq ? 'undefined' : 'defined'}-length sequences`, () => {
        const bytes = writeDicom(everyVr({ undefinedSeq }), { transferSyntaxUID: ts });
        const ds = parseDicom(bytes);
        checkEveryVr(ds, ts);
        expect(isComplete(bytes)).toBe(true);
        expect(ds.toBytes()).toBe(bytes);
        if (ts === TS_DEFLATED) expect(ds.bytes.length).toBeGreaterThan(bytes.length);
        else expect(ds.bytes).toBe(bytes);
      });
    }
  }

  it('bare data sets (no preamble, no meta) in implicit LE, explicit LE and explicit BE', () => {
    for (const ts of [TS_IMPLICIT, TS_EXPLICIT, TS_BE]) {
      const bytes = writeDataSet(everyVr(), ts);
      const ds = parseDicom(bytes);
      expect(ds.transferSyntaxUID).toBe(ts);
      expect(ds.dataSetOffset).toBe(0);
      expect(ds.get('InstanceNumber')).toBe(7);
      expect(ds.get('PatientName')).toBe('Müller^Jöns');
      expect((ds.get('ReferencedImageSequence') as DicomDataset[]).length).toBe(2);
      expect(Array.from(ds.pixelData() as Int16Array)).toEqual([1, -2, 3, -32768]);
      expect(isComplete(bytes)).toBe(true);
    }
  });

  it('meta without preamble', () => {
    const bytes = writeDicom(everyVr(), { transferSyntaxUID: TS_EXPLICIT, preamble: false });
    checkEveryVr(parseDicom(bytes), TS_EXPLICIT);
  });

  it('encapsulated pixel data: offset table and fragments kept as bytes', () => {
    const frags = [new Uint8Array([0xff, 0xd8, 1, 2, 0xff, 0xd9]), new Uint8Array([5, 6, 7, 8])];
    const els: WriteElement[] = [
      { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
      { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' },
      { tag: 'Rows', vr: 'US', value: 1 },
      { tag: 'PixelData', vr: 'OB', value: encapsulated(frags) },
    ];
    const bytes = writeDicom(els, { transferSyntaxUID: TS_JPEG });
    const ds = parseDicom(bytes);
    const e = ds.element('PixelData')!;
    expect(e.length).toBe(-1);
    expect(e.end).toBe(bytes.length);
    expect(e.fragments!.map((f) => Array.from(f))).toEqual(frags.map((f) => Array.from(f)));
    expect(Array.from(new Uint32Array(e.offsetTable!.slice().buffer))).toEqual([0, 14]);
    expect((ds.pixelData() as Uint8Array[]).length).toBe(2);
    expect(isComplete(bytes)).toBe(true);
    for (let cut = 1; cut < bytes.length; cut++) expect(isComplete(bytes.subarray(0, cut))).toBe(false);
  });

  it('UN of undefined length holds implicit VR LE items', () => {
    const els: WriteElement[] = [
      { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' },
      {
        tag: 0x00291100, vr: 'UN', undefinedLength: true,
        value: [{ elements: [{ tag: 'PatientID', vr: 'LO', value: 'abc' }, { tag: 'Rows', vr: 'US', value: 9 }] }],
      },
    ];
    for (const ts of [TS_EXPLICIT, TS_BE]) {
      const ds = parseDicom(writeDicom(els, { transferSyntaxUID: ts }));
      const e = ds.element('00291100')!;
      expect(e.vr).toBe('UN');
      expect(e.items!.length).toBe(1);
      expect(e.items![0].explicitVR).toBe(false);
      expect(e.items![0].littleEndian).toBe(true);
      expect(e.items![0].get('PatientID')).toBe('abc');
      expect(e.items![0].get('Rows')).toBe(9);
      checkOffsets(ds);
    }
  });

  it('walks in place when the bytes live in module memory (allocInput)', () => {
    const bytes = writeDicom(everyVr(), { transferSyntaxUID: TS_EXPLICIT });
    const view = allocInput(bytes.length);
    view.set(bytes);
    expect(inModuleMemory(view)).toBe(true);
    const ds = parseDicom(view);
    expect(ds.bytes).toBe(view);
    expect((ds.pixelData() as Int16Array).buffer).toBe(view.buffer);
    checkEveryVr(ds, TS_EXPLICIT);
    expect(isComplete(view)).toBe(true);
    expect(isComplete(view.subarray(0, view.length - 1))).toBe(false);
  });

  it('many elements and deep nesting flush the fixed-size table correctly', () => {
    const big: WriteElement[] = [{ tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3' }];
    let items: WriteElement[] = [{ tag: 'PatientID', vr: 'LO', value: 'deep' }];
    for (let d = 0; d < 30; d++) {
      items = [{ tag: 'ReferencedImageSequence', vr: 'SQ', undefinedLength: d % 2 === 0, value: [{ elements: items, undefinedLength: d % 3 === 0 }] }];
    }
    big.push(...items);
    for (let i = 0; i < 200; i++) big.push({ tag: 0x00110000 | (0x1000 + i), vr: 'LO', value: `v${i}` });
    big.push({ tag: 0x00110010, vr: 'LO', value: 'CREATOR' });
    const bytes = writeDicom(big, { transferSyntaxUID: TS_EXPLICIT });
    const reference = parseDicom(bytes);
    const refTags = [...reference.elements()].map((e) => [e.tagHex, e.headerOffset, e.end]);
    resetCoreForTesting(5); // five rows: flushes on nearly every element and patches closed sequences
    try {
      const ds = parseDicom(bytes);
      expect([...ds.elements()].map((e) => [e.tagHex, e.headerOffset, e.end])).toEqual(refTags);
      let node: DicomDataset = ds;
      for (let d = 0; d < 30; d++) node = (node.get('ReferencedImageSequence') as DicomDataset[])[0];
      expect(node.get('PatientID')).toBe('deep');
      checkOffsets(ds);
      expect(ds.get(0x001110c7)).toBe('v199');
    } finally {
      resetCoreForTesting();
    }
  });

  it('nesting deeper than the walker allows is an error, not a crash', () => {
    let items: WriteElement[] = [{ tag: 'PatientID', vr: 'LO', value: 'deep' }];
    for (let d = 0; d < 40; d++) items = [{ tag: 'ReferencedImageSequence', vr: 'SQ', value: [{ elements: items }] }];
    const bytes = writeDicom(items, { transferSyntaxUID: TS_EXPLICIT });
    expect(() => parseDicom(bytes)).toThrow(DicomParseError);
    try { parseDicom(bytes); } catch (e) { expect((e as DicomParseError).reason).toBe('sequences nested too deeply'); }
  });
});

describe('dictionary', () => {
  it('maps keywords, tags and VRs', () => {
    expect(tagOf('PatientName')).toBe(0x00100010);
    expect(keywordOf(0x7fe00010)).toBe('PixelData');
    expect(vrOf(0x7fe00010)).toBe('OW');
    expect(vrOf(0x00280106)).toBe('US');
    expect(vrOf(0x00082112)).toBe('SQ');
    expect(tagOf('NoSuchKeyword')).toBeUndefined();
    expect(keywordOf(0x00091010)).toBeUndefined();
  });

  it('agrees with dcmjs on every attribute of its dictionary', () => {
    const nameMap = dcmjs.data.DicomMetaDictionary.nameMap as Record<string, { tag: string; vr: string; name: string }>;
    let n = 0;
    for (const e of Object.values(nameMap)) {
      const tag = parseInt(e.tag.replace(/[(),]/g, ''), 16);
      const kw = keywordOf(tag)!;
      expect(kw === e.name || 'RETIRED_' + kw === e.name, e.tag).toBe(true);
      expect(tagOf(e.name), e.name).toBe(tag);
      n++;
    }
    expect(n).toBeGreaterThan(5000);
  });
});

describe('hostile lengths', () => {
  it('a small file claiming a 4 GB value fails fast without allocating it', () => {
    const bytes = writeDicom([{ tag: 'SOPInstanceUID', vr: 'UI', value: '1.2' }, { tag: 0x00420011, vr: 'OB', value: new Uint8Array(8) }], { transferSyntaxUID: TS_EXPLICIT });
    const dv = new DataView(bytes.buffer);
    const e = parseDicom(bytes).element(0x00420011)!;
    dv.setUint32(e.headerOffset + 8, 0xfffffff0, true);
    expect(() => parseDicom(bytes)).toThrow(/value extends past end of data/);
    expect(isComplete(bytes)).toBe(false);
  });
});

/** Explicit VR LE short-header element, by hand (the writer chooses its own text encoding). */
function el(group: number, element: number, vr: string, value: Uint8Array): Uint8Array {
  const padded = value.length & 1 ? [...value, 0x20] : [...value];
  return new Uint8Array([group & 0xff, group >> 8, element & 0xff, element >> 8, vr.charCodeAt(0), vr.charCodeAt(1), padded.length & 0xff, padded.length >> 8, ...padded]);
}
const ascii = (t: string) => new Uint8Array([...t].map((c) => c.charCodeAt(0)));

describe('character sets', () => {
  it('decodes person names by SpecificCharacterSet (single-byte and UTF-8), UIDs stay ASCII', () => {
    const cases: [string, Uint8Array, string][] = [
      ['ISO_IR 144', new Uint8Array([0xbb, 0xee, 0xdb, 0xe5, 0xd2]), 'Люлхв'],
      ['ISO_IR 192', new TextEncoder().encode('Müller^Jöns'), 'Müller^Jöns'],
      ['ISO_IR 100', new Uint8Array([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72]), 'Müller'],
      ['', new Uint8Array([0x4d, 0xfc, 0x6c]), 'Mül'],
    ];
    for (const [cs, nameBytes, expected] of cases) {
      const parts = [el(0x0008, 0x0005, 'CS', ascii(cs)), el(0x0008, 0x0018, 'UI', ascii('1.2.3')), el(0x0010, 0x0010, 'PN', nameBytes)];
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) { bytes.set(p, o); o += p.length; }
      const ds = parseDicom(bytes);
      expect(ds.get('PatientName')).toBe(expected.trim());
      expect(ds.get('SOPInstanceUID')).toBe('1.2.3');
    }
  });
});

describe('delimiters inside defined lengths (written by some tools)', () => {
  it('are skipped, and the defined length still decides the end', () => {
    // (0008,1140) SQ of defined length holding one defined-length item that ends with an item
    // delimiter, and the sequence ends with a sequence delimiter, both counted in the lengths
    const uid = el(0x0008, 0x1155, 'UI', ascii('1.2.3'));
    const itemDelim = [0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0];
    const seqDelim = [0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0];
    const itemBody = [...uid, ...itemDelim];
    const item = [0xfe, 0xff, 0x00, 0xe0, itemBody.length, 0, 0, 0, ...itemBody];
    const seqBody = [...item, ...seqDelim];
    const seq = [0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, seqBody.length, 0, 0, 0, ...seqBody];
    const bytes = new Uint8Array([...el(0x0008, 0x0018, 'UI', ascii('1.2')), ...seq, ...el(0x0010, 0x0010, 'PN', ascii('A^B'))]);
    const ds = parseDicom(bytes);
    const items = ds.get('ReferencedImageSequence') as DicomDataset[];
    expect(items.length).toBe(1);
    expect(items[0].get('ReferencedSOPInstanceUID')).toBe('1.2.3');
    expect(ds.element('ReferencedImageSequence')!.end).toBe(ds.element('PatientName')!.headerOffset);
    expect(ds.get('PatientName')).toBe('A^B');
  });
});

describe('API details', () => {
  it('keys in every documented form, typed getters, error fields', () => {
    const ds = parseDicom(writeDicom(everyVr(), { transferSyntaxUID: TS_EXPLICIT }));
    for (const k of ['InstanceNumber', '00200013', '(0020,0013)', '0020,0013', 'x00200013', 0x00200013]) expect(ds.get(k)).toBe(7);
    expect(ds.has('PatientID')).toBe(false);
    expect(ds.get('PatientID')).toBeUndefined();
    expect(ds.get('NotAKeyword')).toBeUndefined();
    expect(ds.getString('PixelSpacing')).toBe('3\\2.5');
    expect(ds.getNumber('PixelSpacing')).toBe(3);
    expect(ds.meta.get('TransferSyntaxUID')).toBe(TS_EXPLICIT);
    expect(ds.meta.has('PatientName')).toBe(false);
    const e = ds.element('PatientName')!;
    expect(e.tagHex).toBe('00100010');
    expect(e.keyword).toBe('PatientName');
    expect(e.raw.length).toBe(e.end - e.headerOffset);
    let err: DicomParseError | undefined;
    try { parseDicom(new Uint8Array(200)); } catch (x) { err = x as DicomParseError; }
    expect(err).toBeInstanceOf(DicomParseError);
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('DICOM_PARSE');
    expect(err!.offset).toBe(0);
    expect(typeof err!.reason).toBe('string');
  });

  it('unaligned input: pixel data is copied, values still right', () => {
    const bytes = writeDicom(everyVr(), { transferSyntaxUID: TS_EXPLICIT });
    const big = new Uint8Array(bytes.length + 1);
    big.set(bytes, 1);
    const view = big.subarray(1);
    const ds = parseDicom(view);
    const px = ds.pixelData() as Int16Array;
    expect(Array.from(px)).toEqual([1, -2, 3, -32768]);
    expect(px.buffer).not.toBe(big.buffer);
    checkEveryVr(ds, TS_EXPLICIT);
  });

  it('a deflated data set beyond maxInflatedBytes fails instead of growing', () => {
    const els: WriteElement[] = [
      { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2' },
      { tag: 0x00420011, vr: 'OB', value: new Uint8Array(1 << 20) }, // 1 MiB of zeros deflates to ~1 KB
    ];
    const bytes = writeDicom(els, { transferSyntaxUID: TS_DEFLATED });
    expect(bytes.length).toBeLessThan(10_000);
    expect(parseDicom(bytes).element(0x00420011)!.length).toBe(1 << 20);
    expect(() => parseDicom(bytes, { maxInflatedBytes: 100_000 })).toThrow(/inflated data set too large/);
  });

  it('a deflate bomb stops at the default bound (100x the file, 64 MiB floor, 256 MiB cap) in every entry point', () => {
    // ~1 MB of deflated zeros would inflate to ~1 GiB: refused after INFLATE_LIMITS allow.
    const els: WriteElement[] = [
      { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2' },
      { tag: 0x00420011, vr: 'OB', value: new Uint8Array(300 << 20) },
    ];
    const bytes = writeDicom(els, { transferSyntaxUID: TS_DEFLATED });
    expect(bytes.length).toBeLessThan(1 << 20);
    expect(defaultInflateLimit(bytes.length)).toBe(INFLATE_LIMITS.floorBytes);
    expect(() => parseDicom(bytes)).toThrow(/inflated data set too large/);
    expect(isComplete(bytes)).toBe(false);
    expect(() => anonymize(bytes)).toThrow(/inflated data set too large/);
    // The same object within the bound reads: the bound is a multiple of the input, not a fixed size.
    expect(defaultInflateLimit(4 << 20)).toBe(INFLATE_LIMITS.maxBytes);
  });
});

afterAll(() => resetCoreForTesting());
