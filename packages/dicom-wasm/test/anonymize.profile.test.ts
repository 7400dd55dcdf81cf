// The Basic Profile as data: the table, its combined codes, the temporal and safe-private options,
// and every kind of attribute issue 12 found left behind, at every nesting level and in every
// transfer syntax.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { anonymize } from '../src/anonymize/index.js';
import { compile } from '../src/anonymize/compile.js';
import { shiftedDates } from './reference/dates.js';
import {
  BASIC_PROFILE_EDITION, BASIC_PROFILE_SOURCE, BASIC_PROFILE_TABLE, COMBINED_CODES, DEFAULT_PROFILE, basicProfile, resolveRow,
} from '../src/anonymize/profile.js';
import { createUidMap, dateShiftOf } from '../src/anonymize/uid-map.js';
import { parseDicom, type DicomDataset } from '../src/dataset.js';
import { keywordOf, tagOf, vrOf } from '../src/dictionary.js';
import { DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE } from '../src/transfer-syntax.js';
import { writeDicom } from '../src/writer.js';
import { FINDINGS_SECRETS, findingsElements } from './phi-fixtures.js';
import { inflateSync } from 'fflate';

const s = (ds: DicomDataset | undefined, k: string | number) => ds?.getString(k as string);

describe('Table E.1-1 as data', () => {
  it(`holds every row of PS3.15 ${BASIC_PROFILE_EDITION} Table E.1-1, each code one the standard defines`, () => {
    expect(BASIC_PROFILE_SOURCE).toContain('PS3.15 2024b');
    expect(BASIC_PROFILE_TABLE).toHaveLength(621);
    const counts: Record<string, number> = {};
    for (const [, code] of BASIC_PROFILE_TABLE) counts[code] = (counts[code] ?? 0) + 1;
    expect(counts).toEqual({ X: 384, D: 92, U: 54, Z: 42, 'X/D': 22, 'X/Z': 11, 'X/Z/D': 8, 'Z/D': 6, 'X/Z/U*': 2 });
    // a few rows checked against the standard's text
    const row = (t: string) => BASIC_PROFILE_TABLE.find((r) => r[0] === t);
    expect(row('00100010')?.[1]).toBe('Z'); // Patient's Name
    expect(row('0008002a')?.slice(0, 3)).toEqual(['0008002a', 'X/Z/D', 'T']); // Acquisition DateTime
    expect(row('00081140')?.[1]).toBe('X/Z/U*'); // Referenced Image Sequence
    expect(row('00880200')?.[1]).toBe('X'); // Icon Image Sequence
    expect(row('fffcfffc')?.[1]).toBe('X'); // Data Set Trailing Padding
    expect(row('odd')?.slice(1, 3)).toEqual(['X', 'R']);
    // every standard tag of the table is in the dictionary (so rules resolve by keyword too)
    const unknown = BASIC_PROFILE_TABLE.filter(([t]) => /^[0-9a-f]{8}$/.test(t) && keywordOf(parseInt(t, 16)) === undefined).map((r) => r[3]);
    expect(unknown).toEqual([]);
  });

  it('compiles every row into a rule (repeating groups by mask), resolving combined codes', () => {
    const c = compile(DEFAULT_PROFILE);
    expect(c.rules.size + c.masked.length).toBe(620); // all but the private-attributes row
    for (const [tag, code, opts] of BASIC_PROFILE_TABLE) {
      if (!/^[0-9a-f]{8}$/.test(tag)) continue;
      const rule = c.rules.get(parseInt(tag, 16))!;
      expect(rule.basic).toBe(code);
      expect(rule.action).toBe(resolveRow(code, opts, tag, 'modified'));
      if (!opts.includes('T')) expect(rule.action).toBe(COMBINED_CODES[code]);
    }
    expect(COMBINED_CODES).toMatchObject({ 'Z/D': 'Z', 'X/Z': 'Z', 'X/D': 'X', 'X/Z/D': 'Z', 'X/Z/U*': 'K' });
  });

  it('resolves the temporal rows per option: modified shifts dates and keeps times, full keeps, remove follows the profile', () => {
    const byOption = (t: 'modified' | 'full' | 'remove') => compile(basicProfile({ temporal: t })).rules;
    const modified = byOption('modified');
    const full = byOption('full');
    const remove = byOption('remove');
    const temporal = BASIC_PROFILE_TABLE.filter(([t, , o]) => o.includes('T') && /^[0-9a-f]{8}$/.test(t));
    expect(temporal).toHaveLength(165);
    const kinds: Record<string, number> = {};
    for (const [t, code] of temporal) {
      const tag = parseInt(t, 16);
      const vr = vrOf(tag)!;
      expect(full.get(tag)!.action).toBe('K');
      expect(remove.get(tag)!.action).toBe(COMBINED_CODES[code]);
      const m = modified.get(tag)!.action;
      kinds[`${vr}:${m}`] = (kinds[`${vr}:${m}`] ?? 0) + 1;
      if (vr === 'TM') expect(m).toBe('K');
      else if (vr === 'DA' || vr === 'DT') expect(m).toBe('S');
      else expect(m).toBe(COMBINED_CODES[code]);
    }
    expect(modified.get(tagOf('TimezoneOffsetFromUTC')!)!.action).toBe('X');
    expect(modified.get(tagOf('AcquisitionTime')!)!.action).toBe('K');
    expect(modified.get(tagOf('PatientBirthDate')!)!.action).toBe('Z'); // not a temporal row
    expect(modified.get(tagOf('PatientBirthTime')!)!.action).toBe('X');
    console.log('temporal rows under Modified Dates (VR:action):', JSON.stringify(kinds));
  });

  it('shifts dates by whole days, keeps the time of day, drops UTC offsets and empties what is not a date', () => {
    expect(shiftedDates('20190219', 'DA', 1)).toEqual(['20190218']);
    expect(shiftedDates('20190301', 'DA', 1)).toEqual(['20190228']);
    expect(shiftedDates('20200301\\2019.03.01', 'DA', 1)).toEqual(['20200229', '20190228']);
    expect(shiftedDates('20190219-20190221', 'DA', 365)).toEqual(['20180219-20180221']);
    expect(shiftedDates('20190219124750.3275+0100', 'DT', 3653)).toEqual(['20090218124750.3275']);
    expect(shiftedDates('2019021912', 'DT', 1)).toEqual(['2019021812']);
    expect(shiftedDates('2019', 'DT', 1)).toEqual(['']);
    expect(shiftedDates('20190231', 'DA', 1)).toEqual(['']);
    expect(shiftedDates('Jane', 'DA', 1)).toEqual(['']);
    expect(shiftedDates('', 'DA', 1)).toEqual(['']);
    // the shift derives from the secret: 10 to 20 years back, the same in every process
    for (const secret of ['a', 'b', 'site-secret', 'x'.repeat(300)]) {
      const d = createUidMap({ secret }).dateShiftDays;
      expect(d).toBe(dateShiftOf(secret));
      expect(d).toBeGreaterThanOrEqual(3653);
      expect(d).toBeLessThan(7306);
    }
    expect(new Set(['a', 'b', 'c', 'd'].map(dateShiftOf)).size).toBeGreaterThan(1);
  });
});

const SYNTAXES = [EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE];

function plainText(out: Uint8Array, ts: string): string {
  const bytes = ts === DEFLATED_EXPLICIT_VR_LE ? inflateSync(out.subarray(132 + 12 + new DataView(out.buffer, out.byteOffset).getUint32(140, true))) : out;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

describe('the attributes issue 12 found left behind', () => {
  const uidMap = createUidMap({ secret: 'findings' });
  const days = uidMap.dateShiftDays;
  for (const ts of SYNTAXES) {
    it(`are removed, emptied, replaced or shifted at every level (${ts})`, () => {
      const input = writeDicom(findingsElements(8), { transferSyntaxUID: ts });
      const o = parseDicom(input);
      const out = anonymize(input, { uidMap });
      const a = parseDicom(out);
      const text = plainText(out, ts);
      for (const secret of FINDINGS_SECRETS) expect(text.includes(secret), secret).toBe(false);
      for (const k of ['TimezoneOffsetFromUTC', 'PregnancyStatus', 'StudyComments', 'IconImageSequence', 'RequestingService', 'AdmissionID',
        'CurrentPatientLocation', 'PerformedStationAETitle', 'DataSetTrailingPadding', 'StationName']) {
        expect(o.has(k), k).toBe(true);
        expect(a.element(k)?.length ?? 0, k).toBe(0);
      }
      for (const k of ['TimezoneOffsetFromUTC', 'PregnancyStatus', 'StudyComments', 'IconImageSequence', 'DataSetTrailingPadding']) expect(a.has(k), k).toBe(false);
      expect(a.element('ContrastBolusAgent')!.length).toBe(0); // Z/D
      expect(a.get('AcquisitionContextSequence')).toEqual([]); // X/Z: an empty sequence
      expect(a.get('VerifyingObserverSequence')).toEqual([]); // D on a sequence: emptied
      expect(a.get('ContentSequence')).toEqual([]);
      expect(s(a, 'VerifyingOrganization')).toBe('ANONYMIZED'); // D
      expect(s(a, 'PersonName')).toBe('ANONYMIZED');
      expect(s(a, 'RTPlanLabel')).toBe('ANONYMIZED');
      // dates shifted (RT plan too), times kept, the UTC offset gone
      expect(s(a, 'RTPlanDate')).toBe(shiftedDates('20190220', 'DA', days)[0]);
      expect(s(a, 'RTPlanTime')).toBe('101010');
      expect(s(a, 'StudyDate')).toBe(shiftedDates('20190219', 'DA', days)[0]);
      expect(s(a, 'AcquisitionDateTime')).toBe(`${shiftedDates('20190219', 'DA', days)[0]}124750.3275`);
      expect(s(a, 'AcquisitionTime')).toBe('124750.3275');
      expect(s(a, 'InstanceCreationTime')).toBe('124752.701');
      // per-frame functional groups: every item's frame date-times shifted, the time of day kept
      const frames = a.get('PerFrameFunctionalGroupsSequence') as DicomDataset[];
      expect(frames).toHaveLength(8);
      for (const [i, f] of frames.entries()) {
        const fc = (f.get('FrameContentSequence') as DicomDataset[])[0];
        const t = String(124750 + i).padStart(6, '0');
        expect(s(fc, 'FrameAcquisitionDateTime')).toBe(`${shiftedDates('20190219', 'DA', days)[0]}${t}.3275`);
        expect(s(fc, 'FrameReferenceDateTime')).toBe(`${shiftedDates('20190219', 'DA', days)[0]}${t}.3275`);
        expect(fc.get('FrameAcquisitionDuration')).toBe(1500);
        expect(f.has(0x20051011)).toBe(false);
      }
      // repeating groups: curve data and overlay data go, the overlay's size stays
      expect(a.has(0x50000010) || a.has(0x50003000) || a.has(0x60003000)).toBe(false);
      expect(a.get(0x60000010)).toBe(2);
      expect(Array.from(a.pixelData() as Uint16Array)).toEqual(Array.from(o.pixelData() as Uint16Array));
      expect(s(a, 'SOPInstanceUID')).toBe(uidMap.map('1.3.12.2.1107.5.2.19.35119.1'));
    });
  }

  it('with Full Dates keeps every date and time (UTC offsets too); with no option removes or empties them', () => {
    const input = writeDicom(findingsElements(2), { transferSyntaxUID: EXPLICIT_VR_LE });
    const full = parseDicom(anonymize(input, { uidMap, profile: basicProfile({ temporal: 'full' }) }));
    expect(s(full, 'StudyDate')).toBe('20190219');
    expect(s(full, 'TimezoneOffsetFromUTC')).toBe('+0100');
    expect(s(full, 'AcquisitionDateTime')).toBe('20190219124750.3275+0100');
    expect(s(full, 'LongitudinalTemporalInformationModified')).toBe('UNMODIFIED');
    expect((full.get('DeidentificationMethodCodeSequence') as DicomDataset[]).map((i) => s(i, 'CodeValue'))).toEqual(['113100', '113106', '113111']);
    const none = parseDicom(anonymize(input, { uidMap, profile: basicProfile({ temporal: 'remove', safePrivate: false }) }));
    expect(none.element('StudyDate')!.length).toBe(0); // Z
    expect(none.element('AcquisitionTime')!.length).toBe(0); // X/Z
    expect(none.element('AcquisitionDateTime')!.length).toBe(0); // X/Z/D
    expect(none.has('InstanceCreationDate')).toBe(false); // X/D
    expect(s(none, 'RTPlanTime')).toBeUndefined(); // X/D
    const fc = ((none.get('PerFrameFunctionalGroupsSequence') as DicomDataset[])[0].get('FrameContentSequence') as DicomDataset[])[0];
    expect(s(fc, 'FrameAcquisitionDateTime')).toBe('19000101000000'); // D: a dummy
    expect(s(none, 'LongitudinalTemporalInformationModified')).toBe('REMOVED');
    expect((none.get('DeidentificationMethodCodeSequence') as DicomDataset[]).map((i) => s(i, 'CodeValue'))).toEqual(['113100']);
  });

  it('gives the same output in every process for the same secret (UIDs and date shift)', () => {
    const input = writeDicom(findingsElements(2), { transferSyntaxUID: EXPLICIT_VR_LE });
    const here = anonymize(input, { uidMap: createUidMap({ secret: 'site-secret-1' }) });
    const script = `import { anonymize, createUidMap, writeDicom } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
import { findingsElements } from ${JSON.stringify(new URL('./phi-fixtures.ts', import.meta.url).pathname)};
const out = anonymize(writeDicom(findingsElements(2), { transferSyntaxUID: '1.2.840.10008.1.2.1' }), { uidMap: createUidMap({ secret: 'site-secret-1' }) });
process.stdout.write(Buffer.from(out).toString('base64'));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(Buffer.from(r.stdout, 'base64').equals(Buffer.from(here))).toBe(true);
  });
});


describe('options', () => {
  it('refuses a date shift that is not a whole number of days (RangeError, before parsing)', () => {
    const input = writeDicom(findingsElements(1), { transferSyntaxUID: EXPLICIT_VR_LE });
    expect(() => anonymize(input, { dateShiftDays: 1.5 })).toThrow(RangeError);
    expect(() => basicProfile({ temporal: 'sometimes' as never })).toThrow(RangeError);
    const a = parseDicom(anonymize(input, { dateShiftDays: 1 }));
    expect(s(a, 'StudyDate')).toBe('20190218');
  });
});
