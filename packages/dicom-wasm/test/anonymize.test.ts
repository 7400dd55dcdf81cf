import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dcmjs from 'dcmjs';
import dicomParser from 'dicom-parser';
import { inflateSync } from 'fflate';
import { anonymize } from '../src/anonymize/index.js';
import { createUidMap } from '../src/anonymize/uid-map.js';
import { csaValues, parseCsaHeader, writeCsaHeader } from '../src/csa.js';
import { parseDicom, type DicomDataset } from '../src/dataset.js';
import { DicomParseError } from '../src/errors.js';
import { parseTagKey } from '../src/dictionary.js';
import { mosaicToVolume } from '../src/mosaic.js';
import { havePydicom, pydicomCheck } from './oracles.js';
import { BASIC_PROFILE_EDITION, DEFAULT_PROFILE, RTCLOUD_BLANKED, type AnonymizationProfile } from '../src/anonymize/profile.js';
import { compile } from '../src/anonymize/compile.js';
import { shiftedDates } from './reference/dates.js';
import { syntheticEpiSeries, syntheticEpiVolume, type SyntheticEpiOptions } from '../src/synthetic.js';
import { DEFLATED_EXPLICIT_VR_LE as TS_DEFLATED_LE, EXPLICIT_VR_BE as TS_EXPLICIT_BE, EXPLICIT_VR_LE as TS_EXPLICIT_LE, IMPLICIT_VR_LE as TS_IMPLICIT_LE, JPEG_BASELINE as TS_JPEG_BASELINE } from '../src/transfer-syntax.js';
import { writeDicom, encapsulated, buildFileMeta, type WriteElement } from '../src/writer.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const haveSample = existsSync(SAMPLE + '001_000013_000001.dcm');
if (!haveSample) console.warn(`anonymize.test: ${SAMPLE} absent, skipping the real-file checks`);

const SMALL: SyntheticEpiOptions = { tile: 16, slices: 9, volumes: 3, seriesHeaderBytes: 3000 };

/** Text that must never leave the control room (all of it is in the synthetic volume). */
const IDENTIFYING = [
  'Doe', 'Jane', 'RTFMRI0001', '19880514', 'Springfield', 'Evergreen', 'Referrer', 'Robert', 'AWP45031', '45031',
  'Operator', 'Olivia', 'Performer', 'Paul', 'Record^Rita', 'MRN-99887766', 'Smith', 'ACC20190219', '20190219',
  'Radiology', 'SITE NOTES',
];

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

function str(ds: DicomDataset, key: string): string | undefined {
  return ds.getString(key);
}

function dcmjsDict(bytes: Uint8Array) {
  return dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer);
}

function rawOf(ds: DicomDataset, key: string): Buffer {
  const el = ds.element(key)!;
  return Buffer.from(ds.bytes.subarray(el.headerOffset, el.end));
}

/** Raw bytes of each top-level element, by tag. */
function rawElements(ds: DicomDataset): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const el of ds.elements()) if (el.tag >>> 16 !== 2) m.set(el.tag, Buffer.from(ds.bytes.subarray(el.headerOffset, el.end)));
  return m;
}

describe('anonymize (default profile) on a synthetic Siemens volume', () => {
  const input = syntheticEpiVolume(4, SMALL);
  const uidMap = createUidMap({ secret: 'test-session' });
  const output = anonymize(input, { uidMap });
  const a = parseDicom(output);
  const o = parseDicom(input);

  it('leaves no identifying text anywhere in the bytes', () => {
    const text = latin1(output);
    for (const word of IDENTIFYING) expect(text.includes(word), word).toBe(false);
    // the input did hold all of it
    const before = latin1(input);
    for (const word of IDENTIFYING) expect(before.includes(word), word).toBe(true);
  });

  it('applies Table E.1-1 to every attribute of the input that it lists', () => {
    const compiled = compile(DEFAULT_PROFILE);
    const seen: Record<string, number> = {};
    for (const el of o.elements()) {
      if (el.tag >>> 16 === 2 || el.tag >>> 16 & 1) continue;
      const rule = compiled.rules.get(el.tag);
      if (!rule) continue;
      seen[rule.action] = (seen[rule.action] ?? 0) + 1;
      const after = a.element(el.tag);
      const k = el.keyword ?? el.tagHex;
      switch (rule.action) {
        case 'X': expect(after, k).toBeUndefined(); break;
        case 'Z': expect(after?.length, k).toBe(0); break;
        case 'K': if (el.vr !== 'SQ') expect(after && Buffer.from(after.raw).equals(Buffer.from(el.raw)), k).toBe(true); break;
        case 'U': expect(str(a, k), k).toBe(uidMap.map(str(o, k)!)); break;
        case 'S': expect(a.get(k), k).toEqual(shiftedDates(str(o, k)!, el.vr, uidMap.dateShiftDays).join('\\')); break;
        case 'D': expect(after && after.length > 0 && !Buffer.from(after.raw).equals(Buffer.from(el.raw)), k).toBe(true); break;
      }
    }
    expect(Object.keys(seen).sort()).toEqual(['K', 'S', 'U', 'X', 'Z']);
    // rt-cloud's 19: emptied or removed, except the times (kept: the temporal option) and the dates (shifted)
    for (const k of RTCLOUD_BLANKED) {
      expect(o.has(k), k).toBe(true);
      const el = a.element(k);
      if (k === 'PatientPosition') expect(str(a, k)).toBe(str(o, k)); // not in Table E.1-1: not identifying
      else if (o.element(k)!.vr === 'TM') expect(str(a, k), k).toBe(str(o, k));
      else if (o.element(k)!.vr === 'DA' && k !== 'PatientBirthDate') expect(str(a, k), k).toMatch(/^(19|20)\d{6}$/);
      else expect(el === undefined || el.length === 0, k).toBe(true);
    }
    expect(str(a, 'StudyDate')).not.toBe(str(o, 'StudyDate'));
  });

  it('removes or empties the Annex E attributes rt-cloud leaves behind, and says how it de-identified', () => {
    for (const k of [
      'InstitutionName', 'InstitutionAddress', 'StationName', 'DeviceSerialNumber', 'OperatorsName', 'PerformingPhysicianName',
      'OtherPatientIDs', 'StudyDescription', 'PhysiciansOfRecord', 'InstitutionalDepartmentName', 'PerformedProcedureStepDescription',
      'PerformedProcedureStepID',
    ]) {
      expect(o.has(k), k).toBe(true);
      expect(a.element(k)?.length ?? 0, k).toBe(0);
    }
    expect(a.element('ReferringPhysicianName')!.length).toBe(0);
    expect(a.element('AccessionNumber')!.length).toBe(0);
    expect(str(a, 'PatientIdentityRemoved')).toBe('YES');
    expect(a.get('DeidentificationMethod')).toContain(`PS3.15 ${BASIC_PROFILE_EDITION} E.1-1 Basic Profile (rtfmri)`);
    const codes = (a.get('DeidentificationMethodCodeSequence') as DicomDataset[]).map((i) => [str(i, 'CodeValue'), str(i, 'CodingSchemeDesignator')]);
    expect(codes).toEqual([['113100', 'DCM'], ['113107', 'DCM'], ['113111', 'DCM']]);
    expect(str(a, 'LongitudinalTemporalInformationModified')).toBe('MODIFIED');
  });

  it('drops private data except the creators and elements it keeps, and filters the CSA header', () => {
    expect(o.has(0x00330010)).toBe(true);
    for (const tag of [0x00330010, 0x00331010, 0x00291008, 0x00291009, 0x00291018, 0x00291019, 0x00291020]) expect(a.has(tag)).toBe(false);
    expect(str(a, '00290010')).toBe('SIEMENS CSA HEADER');
    expect(str(a, '00190010')).toBe('SIEMENS MR HEADER');
    expect(a.get(0x0019100a)).toBe(9);
    const csaEl = a.element(0x00291010)!;
    const csa = parseCsaHeader(a.bytes.subarray(csaEl.valueOffset, csaEl.valueOffset + csaEl.length));
    expect(csa.elements.has('ImaCoilString')).toBe(false);
    expect(csa.elements.has('UsedChannelString')).toBe(false);
    expect(csaValues(csa, 'NumberOfImagesInMosaic')).toEqual([9]);
    expect(csaValues(csa, 'MosaicRefAcqTimes')).toHaveLength(9);
  });

  it('keeps timing, geometry and pixels; mosaicToVolume still works on the output', () => {
    for (const k of ['AcquisitionTime', 'RepetitionTime', 'ImagePositionPatient', 'ImageOrientationPatient', 'PixelSpacing',
      'SliceThickness', 'ImageType', 'InstanceNumber', 'Rows', 'Columns', 'EchoTime', 'SeriesNumber']) {
      expect(a.get(k), k).toEqual(o.get(k));
    }
    const before = mosaicToVolume(o);
    const after = mosaicToVolume(a);
    expect(after.slices).toBe(9);
    expect(after.sliceTimes).toEqual(before.sliceTimes);
    expect(Buffer.from(after.data.buffer).equals(Buffer.from(before.data.buffer))).toBe(true);
  });

  it('leaves every element it does not touch byte-identical', () => {
    const before = rawElements(o);
    const after = rawElements(a);
    const touched = new Set<number>();
    for (const r of DEFAULT_PROFILE.rules) if (r.action !== 'K') touched.add(parseTagKey(r.tag)!);
    for (const r of DEFAULT_PROFILE.add) touched.add(parseTagKey(r.tag)!);
    let compared = 0;
    for (const [tag, raw] of before) {
      const vr = o.element(tag)!.vr;
      if (touched.has(tag) || tag >>> 16 & 1 || vr === 'UI' || vr === 'SQ') continue;
      expect(after.get(tag)?.equals(raw), tag.toString(16)).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(30);
    expect(after.get(0x7fe00010)!.equals(before.get(0x7fe00010)!)).toBe(true);
  });

  it('replaces UIDs consistently within a session and fixes the meta group', () => {
    expect(str(a, 'SOPInstanceUID')).not.toBe(str(o, 'SOPInstanceUID'));
    expect(str(a, 'SOPInstanceUID')).toMatch(/^2\.25\.\d+$/);
    expect(str(a, 'MediaStorageSOPInstanceUID')).toBe(str(a, 'SOPInstanceUID'));
    expect(str(a, 'SOPClassUID')).toBe(str(o, 'SOPClassUID'));
    // the same session map gives the same replacements for the same originals, in other volumes too
    const series = syntheticEpiSeries(SMALL).map((b) => parseDicom(anonymize(b, { uidMap })));
    const study = new Set(series.map((d) => str(d, 'StudyInstanceUID')));
    expect(study.size).toBe(1);
    expect([...study][0]).toBe(str(a, 'StudyInstanceUID'));
    expect(new Set(series.map((d) => str(d, 'SOPInstanceUID'))).size).toBe(3);
    expect(str(series[0], 'FrameOfReferenceUID')).toBe(str(a, 'FrameOfReferenceUID'));
    // a map with the same secret (another worker of the session) agrees; another session does not
    const again = parseDicom(anonymize(input, { uidMap: createUidMap({ secret: 'test-session' }) }));
    expect(str(again, 'SOPInstanceUID')).toBe(str(a, 'SOPInstanceUID'));
    const other = parseDicom(anonymize(input, { uidMap: createUidMap() }));
    expect(str(other, 'SOPInstanceUID')).not.toBe(str(a, 'SOPInstanceUID'));
  });

  it('writes the meta group buildFileMeta writes', () => {
    const metaLen = 12 + new DataView(output.buffer, output.byteOffset).getUint32(140, true);
    const expected = buildFileMeta([], TS_EXPLICIT_LE, [
      { tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) },
      { tag: 0x00020002, vr: 'UI', value: str(o, 'SOPClassUID')! },
      { tag: 0x00020003, vr: 'UI', value: str(a, 'SOPInstanceUID')! },
    ]);
    expect(Buffer.from(output.subarray(132, 132 + metaLen)).equals(Buffer.from(expected))).toBe(true);
    expect(output.subarray(0, 128).every((b) => b === 0)).toBe(true);
  });

  it('recurses into sequences, fixing defined lengths', () => {
    const seqBefore = o.element('ReferencedImageSequence')!;
    const seqAfter = a.element('ReferencedImageSequence')!;
    expect(seqBefore.length).toBeGreaterThan(0); // the synthetic file uses defined lengths
    expect(seqAfter.length).not.toBe(seqBefore.length);
    const items = seqAfter.items!;
    expect(items).toHaveLength(2);
    for (const [i, it] of items.entries()) {
      expect(str(it, 'ReferencedSOPInstanceUID')).toBe(uidMap.map(str(seqBefore.items![i], 'ReferencedSOPInstanceUID')!));
      expect(str(it, 'ReferencedSOPClassUID')).toBe('1.2.840.10008.5.1.4.1.1.4');
    }
    const p = dicomParser.parseDicom(output);
    expect(p.elements.x00081140.items![1].dataSet!.string('x00081155')).toBe(str(items[1], 'ReferencedSOPInstanceUID'));
  });

  it('is read by dcmjs and dicom-parser', () => {
    const { meta, dict } = dcmjsDict(output);
    expect(meta['00020003'].Value[0]).toBe(str(a, 'SOPInstanceUID'));
    expect(dict['00080032'].Value[0]).toBe(str(o, 'AcquisitionTime'));
    expect(dict['00100010'].Value ?? []).toEqual([]);
    const p = dicomParser.parseDicom(output);
    expect(p.string('x00180080')).toBe(str(o, 'RepetitionTime'));
    expect(p.elements.x7fe00010.length).toBe(o.element('PixelData')!.length);
  });

  it('keeps attributes the caller lists', () => {
    const kept = parseDicom(anonymize(input, { uidMap, keep: ['PatientName', '(0008,0080)', 0x00331010, 'StudyInstanceUID'] }));
    expect(str(kept, 'PatientName')).toBe('Doe^Jane');
    expect(str(kept, 'InstitutionName')).toBe('Springfield General Hospital');
    expect(str(kept, 'StudyInstanceUID')).toBe(str(o, 'StudyInstanceUID'));
    expect(str(kept, '00331010')).toBe('Doe^Jane scanned by Operator^Olivia');
    expect(str(kept, '00330010')).toBe('RTFMRI SITE NOTES'); // its creator stays with it
    const seqKept = parseDicom(anonymize(input, { uidMap, keep: ['ReferencedImageSequence'] }));
    expect(rawOf(seqKept, 'ReferencedImageSequence').equals(rawOf(o, 'ReferencedImageSequence'))).toBe(true);
    expect(kept.element('PatientID')!.length).toBe(0);
  });

  it('takes the profile as data', () => {
    const profile: AnonymizationProfile = {
      ...DEFAULT_PROFILE,
      rules: [...DEFAULT_PROFILE.rules.filter((r) => r.tag !== 'PatientName'), { tag: 'PatientName', action: 'D', value: 'SUBJECT^01' }],
      removePrivate: false,
      add: [],
    };
    const out = parseDicom(anonymize(input, { uidMap, profile }));
    expect(str(out, 'PatientName')).toBe('SUBJECT^01');
    expect(str(out, '00331010')).toBe('Doe^Jane scanned by Operator^Olivia');
    expect(out.has('PatientIdentityRemoved')).toBe(false);
  });

  it('uses a UID root when asked', () => {
    const out = parseDicom(anonymize(input, { uidRoot: '1.2.826.0.1.3680043.10.999' }));
    const uid = str(out, 'SOPInstanceUID')!;
    expect(uid.startsWith('1.2.826.0.1.3680043.10.999.')).toBe(true);
    expect(uid.length).toBeLessThanOrEqual(64);
  });

  const dcmdump = spawnSync('dcmdump', ['--version']).status === 0;
  it.skipIf(!dcmdump)('is accepted by dcmtk dcmdump (skipped without dcmtk)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-anon-'));
    try {
      writeFileSync(join(dir, 'a.dcm'), output);
      const out = execFileSync('dcmdump', ['-q', '+E', join(dir, 'a.dcm')], { encoding: 'utf8' });
      expect(out).toContain('AcquisitionTime');
      expect(out).not.toContain('Doe^Jane');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A data set with nested sequences of each length kind, UIDs and names at every level. */
function nested(): WriteElement[] {
  const inner = (k: number, undefinedLength: boolean) => ({
    undefinedLength,
    elements: [
      { tag: 'ReferencedSOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
      { tag: 'ReferencedSOPInstanceUID', vr: 'UI', value: `1.3.12.2.1107.5.2.19.45031.${k}` },
      { tag: 'OperatorsName', vr: 'PN', value: 'Operator^Olivia' },
    ] as WriteElement[],
  });
  return [
    { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
    { tag: 'SOPInstanceUID', vr: 'UI', value: '1.3.12.2.1107.5.2.19.45031.1' },
    { tag: 'PatientName', vr: 'PN', value: 'Doe^Jane' },
    { tag: 'InstitutionName', vr: 'LO', value: 'Springfield General Hospital' },
    { tag: 'AcquisitionTime', vr: 'TM', value: '124750.327500' },
    {
      tag: 'ReferencedImageSequence', vr: 'SQ',
      value: [
        inner(2, false),
        {
          elements: [
            ...inner(3, false).elements,
            { tag: 'SourceImageSequence', vr: 'SQ', undefinedLength: true, value: [inner(4, true), inner(5, false)] },
          ],
        },
      ],
    },
    { tag: 'SourceImageSequence', vr: 'SQ', undefinedLength: true, value: [inner(6, false), inner(7, true)] },
    { tag: 'Rows', vr: 'US', value: 2 },
    { tag: 'Columns', vr: 'US', value: 2 },
    { tag: 'BitsAllocated', vr: 'US', value: 16 },
    { tag: 'PixelData', vr: 'OW', value: new Uint16Array([1, 2, 3, 4]) },
  ];
}

describe('anonymize across transfer syntaxes and sequence shapes', () => {
  for (const ts of [TS_EXPLICIT_LE, TS_IMPLICIT_LE, TS_EXPLICIT_BE, TS_DEFLATED_LE]) {
    it(`rewrites nested sequences of every length kind (${ts})`, () => {
      const input = writeDicom(nested(), { transferSyntaxUID: ts });
      const uidMap = createUidMap({ secret: 's' });
      const output = anonymize(input, { uidMap });
      const a = parseDicom(output);
      expect(a.transferSyntaxUID).toBe(ts);
      const plain = ts === TS_DEFLATED_LE ? latin1(inflateSync(output.subarray(132 + output[140] + 12))) : latin1(output);
      expect(plain).not.toContain('Olivia');
      expect(plain).not.toContain('45031');
      expect(plain).not.toContain('Springfield');
      const ref = a.element('ReferencedImageSequence')!.items!;
      expect(str(ref[0], 'ReferencedSOPInstanceUID')).toBe(uidMap.map('1.3.12.2.1107.5.2.19.45031.2'));
      expect(ref[0].element('OperatorsName')?.length ?? 0).toBe(0);
      const deep = ref[1].element('SourceImageSequence')!.items!;
      expect(deep.map((d) => str(d, 'ReferencedSOPInstanceUID'))).toEqual([4, 5].map((k) => uidMap.map(`1.3.12.2.1107.5.2.19.45031.${k}`)));
      expect(deep.map((d) => str(d, 'ReferencedSOPClassUID'))).toEqual(['1.2.840.10008.5.1.4.1.1.4', '1.2.840.10008.5.1.4.1.1.4']);
      const src = a.element('SourceImageSequence')!.items!;
      expect(src.map((d) => str(d, 'ReferencedSOPInstanceUID'))).toEqual([6, 7].map((k) => uidMap.map(`1.3.12.2.1107.5.2.19.45031.${k}`)));
      expect(str(a, 'AcquisitionTime')).toBe('124750.327500');
      expect(Array.from(a.pixelData() as Uint16Array)).toEqual([1, 2, 3, 4]);
      // the peers agree
      const { dict } = dcmjsDict(output);
      expect(dict['00081140'].Value[1]['00082112'].Value[1]['00081155'].Value[0]).toBe(uidMap.map('1.3.12.2.1107.5.2.19.45031.5'));
      if (ts !== TS_DEFLATED_LE) {
        const p = dicomParser.parseDicom(output);
        expect(p.elements.x00082112.items![1].dataSet!.string('x00081155')).toBe(uidMap.map('1.3.12.2.1107.5.2.19.45031.7'));
      }
    });
  }

  it('keeps encapsulated pixel data (fragments and offset table) byte-identical', () => {
    const frames = [new Uint8Array([0xff, 0xd8, 1, 2, 0xff, 0xd9]), new Uint8Array([0xff, 0xd8, 3, 0xff, 0xd9, 0])];
    const input = writeDicom(
      [...nested().filter((e) => e.tag !== 'PixelData'), { tag: 'PixelData', vr: 'OB', value: encapsulated(frames) }],
      { transferSyntaxUID: TS_JPEG_BASELINE },
    );
    const o = parseDicom(input);
    const a = parseDicom(anonymize(input));
    const raw = (d: DicomDataset) => rawOf(d, 'PixelData');
    expect(raw(a).equals(raw(o))).toBe(true);
    expect(a.transferSyntaxUID).toBe(TS_JPEG_BASELINE);
  });

  it('gives a Part-10 file for a bare data set', () => {
    const input = writeDicom(nested(), { transferSyntaxUID: TS_IMPLICIT_LE, fileMeta: false });
    const out = anonymize(input);
    expect(latin1(out.subarray(128, 132))).toBe('DICM');
    const a = parseDicom(out);
    expect(a.transferSyntaxUID).toBe(TS_IMPLICIT_LE);
    expect(str(a, 'MediaStorageSOPInstanceUID')).toBe(str(a, 'SOPInstanceUID'));
  });

  it('throws DicomParseError for input that does not parse (truncations and garbage)', () => {
    const input = syntheticEpiVolume(0, SMALL);
    for (const cut of [10, 140, 300, 1000, 2000]) {
      expect(() => anonymize(input.subarray(0, cut))).toThrow(DicomParseError);
    }
    expect(() => anonymize(new Uint8Array(500).fill(7))).toThrow(DicomParseError);
  });

  it('finds the CSA header in whichever private block its creator reserved', () => {
    const csa = writeCsaHeader([
      { name: 'NumberOfImagesInMosaic', vr: 'US', values: [4] },
      { name: 'ImaCoilString', vr: 'LO', values: ['HEA;HEP'] },
    ]);
    const input = writeDicom(
      [
        ...nested(),
        { tag: 0x00290010, vr: 'LO', value: 'SOMEONE ELSE' },
        { tag: 0x00290011, vr: 'LO', value: 'SIEMENS CSA HEADER' },
        { tag: 0x00291010, vr: 'OB', value: csa },
        { tag: 0x00291110, vr: 'OB', value: csa },
      ],
      { transferSyntaxUID: TS_EXPLICIT_LE },
    );
    const a = parseDicom(anonymize(input));
    expect(a.has(0x00290010)).toBe(false);
    expect(a.has(0x00291010)).toBe(false);
    expect(str(a, '00290011')).toBe('SIEMENS CSA HEADER');
    const el = a.element(0x00291110)!;
    const h = parseCsaHeader(a.bytes.subarray(el.valueOffset, el.valueOffset + el.length));
    expect([...h.elements.keys()]).toEqual(['NumberOfImagesInMosaic']);
  });

  it('filters two CSA image headers of one file separately (the reused filter buffer is not shared)', () => {
    // the same layout, different values: the second would be patched into the first one's buffer
    const csaOf = (t: number) => writeCsaHeader([
      { name: 'NumberOfImagesInMosaic', vr: 'US', values: [4] },
      { name: 'TimeAfterStart', vr: 'DS', values: [t] },
      { name: 'ImaCoilString', vr: 'LO', values: ['HEA;HEP'] },
    ]);
    const input = writeDicom(
      [
        ...nested(),
        { tag: 0x00290010, vr: 'LO', value: 'SIEMENS CSA HEADER' },
        { tag: 0x00290011, vr: 'LO', value: 'SIEMENS CSA HEADER' },
        { tag: 0x00291010, vr: 'OB', value: csaOf(1.5) },
        { tag: 0x00291110, vr: 'OB', value: csaOf(7.5) },
      ],
      { transferSyntaxUID: TS_EXPLICIT_LE },
    );
    for (let round = 0; round < 3; round++) {
      const a = parseDicom(anonymize(input));
      const times = [0x00291010, 0x00291110].map((tag) => {
        const el = a.element(tag)!;
        return csaValues(parseCsaHeader(a.bytes.subarray(el.valueOffset, el.valueOffset + el.length)), 'TimeAfterStart');
      });
      expect(times).toEqual([[1.5], [7.5]]);
    }
  });

  it('copes with huge UID and creator values (no stack overflow on long text)', () => {
    const big = '1.' + '2'.repeat(2_000_000);
    const input = writeDicom(
      [
        ...nested(),
        { tag: 'FrameOfReferenceUID', vr: 'UI', value: big }, // implicit VR: no 64 KB limit on the length
        { tag: 0x00330010, vr: 'LO', value: 'y'.repeat(1_000_000) },
        { tag: 0x00350010, vr: 'UN', value: new Uint8Array(3_000_000).fill(0x41) },
      ],
      { transferSyntaxUID: TS_IMPLICIT_LE },
    );
    const uidMap = createUidMap({ secret: 'big' });
    const a = parseDicom(anonymize(input, { uidMap }));
    expect(str(a, 'FrameOfReferenceUID')).toBe(uidMap.map(big));
    expect(a.has(0x00350010)).toBe(false);
    expect(a.has(0x00330010)).toBe(false);
  });

  it('removes an attribute to blank whose VR no standard defines (it cannot be re-encoded)', () => {
    const input = syntheticEpiVolume(0, SMALL);
    const at = parseDicom(input).element('SeriesDate')!.headerOffset;
    input[at + 4] = 0x53; // 'DA' -> 'SA', which the parser reads (with a 2-byte length, as the bytes say)
    const o = parseDicom(input);
    expect(o.element('SeriesDate')!.vr).toBe('SA');
    const uidMap = createUidMap({ secret: 'sa' });
    const a = parseDicom(anonymize(input, { uidMap }));
    expect(a.has('SeriesDate')).toBe(false);
    expect(str(a, 'StudyDate')).toBe(shiftedDates(str(o, 'StudyDate')!, 'DA', uidMap.dateShiftDays)[0]);
    expect(str(a, 'AcquisitionTime')).toBe(str(o, 'AcquisitionTime'));
  });

  it('drops a CSA header it cannot read rather than pass it on', () => {
    const input = writeDicom(
      [
        ...nested(),
        { tag: 0x00290010, vr: 'LO', value: 'SIEMENS CSA HEADER' },
        { tag: 0x00291010, vr: 'OB', value: new Uint8Array(40).fill(0xee) },
      ],
      { transferSyntaxUID: TS_EXPLICIT_LE },
    );
    const a = parseDicom(anonymize(input));
    expect(a.has(0x00291010)).toBe(false);
  });
});

describe('session UIDs', () => {
  it('derive from SHA-256(secret, NUL, UID) as a version-8 UUID (checked against node:crypto)', () => {
    // secrets of 256 characters and more too (they were hashed with only the first 256 characters
    // of secret + NUL before the buffer was sized for the whole prefix)
    const cases = [['k', '1.2.3'], ['', ''], ['x'.repeat(55), '1.2'], ['s'.repeat(200), `1.3.12.2.1107.5.2.19.45031.${'9'.repeat(280)}`],
      ['y'.repeat(255), '1.2'], ['y'.repeat(256), '1.2'], [`${'z'.repeat(300)}a`, '1.2.3'], [`${'z'.repeat(300)}b`, `1.2.${'7'.repeat(300)}`]];
    for (const [secret, uid] of cases) {
      const d = createHash('sha256').update(Buffer.from(`${secret}\0${uid}`, 'latin1')).digest();
      d[6] = (d[6] & 0x0f) | 0x80;
      d[8] = (d[8] & 0x3f) | 0x80;
      expect(createUidMap({ secret }).map(uid)).toBe(`2.25.${BigInt('0x' + d.subarray(0, 16).toString('hex'))}`);
    }
  });

  it('depend on every character of a long secret', () => {
    expect(createUidMap({ secret: `${'z'.repeat(300)}a` }).map('1.2')).not.toBe(createUidMap({ secret: `${'z'.repeat(300)}b` }).map('1.2'));
    expect(createUidMap({ secret: 'y'.repeat(256) }).map('1.2')).not.toBe(createUidMap({ secret: 'y'.repeat(257) }).map('1.2'));
  });

  it('are the same as in earlier versions (pinned replacements)', () => {
    expect(createUidMap({ secret: 'k' }).map('1.2.3')).toBe('2.25.144391129138364339749806624669026222663');
    expect(createUidMap({ secret: '' }).map('')).toBe('2.25.146485314518219279177634940613413046828');
    expect(createUidMap({ secret: 'k', root: '1.2.826.0.1.3680043.10.543' }).map('1.2.3')).toBe('1.2.826.0.1.3680043.10.543.1443911291383643397498066246690262226');
    expect(createUidMap({ secret: 'k' }).map('é漢')).toBe('2.25.125437927550738960975921336300277553250');
  });

  it('are valid 2.25 UIDs of a version-8 UUID, distinct for distinct inputs', () => {
    const m = createUidMap({ secret: 'k' });
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const u = m.map(`1.3.12.2.1107.5.2.19.45031.${i}`);
      expect(u).toMatch(/^2\.25\.(0|[1-9]\d*)$/);
      expect(u.length).toBeLessThanOrEqual(64);
      const hex = BigInt(u.slice(5)).toString(16).padStart(32, '0');
      expect(hex[12]).toBe('8');
      expect('89ab').toContain(hex[16]);
      seen.add(u);
    }
    expect(seen.size).toBe(2000);
  });
});

describe.skipIf(!haveSample)('anonymize on the real rt-cloud sample', () => {
  const files = haveSample ? readdirSync(SAMPLE).filter((f) => /^001_000013_0000\d\d\.dcm$/.test(f)).sort() : [];
  it('removes the names, institution and serial number, keeps timing and the mosaic', () => {
    // a fixed secret: a random one makes 2.25 UIDs that contain e.g. '45031' by chance now and then
    const uidMap = createUidMap({ secret: 'real-sample' });
    const studies = new Set<string>();
    for (const f of files) {
      const input = new Uint8Array(readFileSync(SAMPLE + f));
      const output = anonymize(input, { uidMap });
      const text = latin1(output);
      for (const word of ['greenEyes', 'Norman', 'Mennen', 'Princeton', 'Washington', '45031', 'AWP45031', '19880514', '20190219']) {
        expect(text.includes(word), `${f}: ${word}`).toBe(false);
      }
      const o = parseDicom(input);
      const a = parseDicom(output);
      expect(str(a, 'AcquisitionTime')).toBe(str(o, 'AcquisitionTime'));
      expect(str(a, 'InstanceNumber')).toBe(str(o, 'InstanceNumber'));
      expect(a.get('RepetitionTime')).toBe(1500);
      const vol = mosaicToVolume(a);
      expect([vol.slices, vol.rows, vol.cols]).toEqual([27, 64, 64]);
      expect(vol.sliceTimes).toEqual(mosaicToVolume(o).sliceTimes);
      expect(rawOf(a, 'PixelData').equals(rawOf(o, 'PixelData'))).toBe(true);
      studies.add(str(a, 'StudyInstanceUID')!);
      dcmjsDict(output);
      dicomParser.parseDicom(output);
    }
    expect(studies.size).toBe(1);
  });
});

describe('anonymize on hostile input', () => {
  it('mutated and truncated files give DicomParseError or a file that parses (2000 cases)', () => {
    const bases = [
      syntheticEpiVolume(1, { ...SMALL, seriesHeaderBytes: 400 }),
      writeDicom(nested(), { transferSyntaxUID: TS_EXPLICIT_LE }),
      writeDicom(nested(), { transferSyntaxUID: TS_IMPLICIT_LE }),
      writeDicom(nested(), { transferSyntaxUID: TS_EXPLICIT_BE }),
    ];
    let seed = 987654321;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    let ok = 0;
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const base = bases[i % bases.length];
      let bytes: Uint8Array;
      if (i % 5 === 0) bytes = base.subarray(0, rand(base.length));
      else {
        bytes = base.slice(0, Math.min(base.length, 6000));
        const flips = 1 + rand(4);
        for (let f = 0; f < flips; f++) {
          const at = 132 + rand(bytes.length - 132);
          bytes[at] = rand(3) === 0 ? 0xff : rand(256);
        }
      }
      let out: Uint8Array;
      try {
        out = anonymize(bytes, { uidMap: createUidMap({ secret: 'fuzz' }) });
      } catch (e) {
        expect(e, `case ${i}`).toBeInstanceOf(DicomParseError);
        rejected++;
        continue;
      }
      parseDicom(out); // what it returns must itself parse
      ok++;
    }
    expect(ok).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});

// pydicom (Debian python3-pydicom) with warnings as errors: value lengths, VRs, meta.
describe.skipIf(!havePydicom)('anonymized files pass pydicom with warnings as errors (skipped without python3-pydicom)', () => {
  it('in every transfer syntax, synthetic and real', () => {
    const inputs: Uint8Array[] = [syntheticEpiVolume(2, SMALL)];
    for (const ts of [TS_EXPLICIT_LE, TS_IMPLICIT_LE, TS_EXPLICIT_BE, TS_DEFLATED_LE]) inputs.push(writeDicom(nested(), { transferSyntaxUID: ts }));
    if (haveSample) inputs.push(new Uint8Array(readFileSync(SAMPLE + '001_000013_000003.dcm')));
    const out = pydicomCheck(inputs.map((b) => anonymize(b)), [
      'assert d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID, f',
      'assert d.PatientIdentityRemoved == "YES", f',
      'assert str(d.PatientName) == "", f',
    ]);
    expect(out).toBe(`ok ${inputs.length}`);
  });
});

const PYDICOM_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files/';
const havePydicomFiles = existsSync(PYDICOM_FILES);
describe.skipIf(!havePydicomFiles)("pydicom's test files (skipped without python3-pydicom)", () => {
  it('every file that parses anonymizes into a file that parses, meta consistent, patient blanked', () => {
    const uidMap = createUidMap({ secret: 'pydicom-files' });
    let done = 0;
    for (const f of readdirSync(PYDICOM_FILES).filter((n) => n.endsWith('.dcm'))) {
      const bytes = new Uint8Array(readFileSync(PYDICOM_FILES + f));
      let o: DicomDataset;
      try {
        o = parseDicom(bytes);
      } catch {
        continue; // truncated and malformed samples: parseDicom's tests cover them
      }
      const a = parseDicom(anonymize(bytes, { uidMap }));
      if (o.has('SOPInstanceUID')) {
        expect(str(a, 'MediaStorageSOPInstanceUID'), f).toBe(str(a, 'SOPInstanceUID'));
        expect(str(a, 'SOPInstanceUID'), f).toBe(uidMap.map(str(o, 'SOPInstanceUID')!));
      }
      if (o.has('PatientName')) expect(a.element('PatientName')!.length, f).toBe(0);
      if (o.has('PixelData')) expect(rawOf(a, 'PixelData').equals(rawOf(o, 'PixelData')), f).toBe(true);
      expect(a.transferSyntaxUID, f).toBe(o.transferSyntaxUID);
      done++;
    }
    expect(done).toBeGreaterThan(50);
  });
});

describe('meta group follows the data set', () => {
  it('uses the data set SOP instance UID when the meta disagrees', () => {
    const input = writeDicom([...nested(), { tag: 'MediaStorageSOPInstanceUID', vr: 'UI', value: '9.9.9' }], { transferSyntaxUID: TS_EXPLICIT_LE });
    const o = parseDicom(input);
    expect(str(o, 'MediaStorageSOPInstanceUID')).toBe('9.9.9');
    const uidMap = createUidMap({ secret: 'm' });
    const a = parseDicom(anonymize(input, { uidMap }));
    expect(str(a, 'MediaStorageSOPInstanceUID')).toBe(uidMap.map('1.3.12.2.1107.5.2.19.45031.1'));
    expect(str(a, 'SOPInstanceUID')).toBe(str(a, 'MediaStorageSOPInstanceUID'));
  });
});
