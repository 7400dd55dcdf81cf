// A data set holding every kind of identifying attribute issue 12 found left behind (and a few
// more of Table E.1-1), nested the way real files nest them: an enhanced-MR-like object with
// per-frame functional groups, an icon, verifying observers, an SR-like content tree, RT plan
// dates, overlays, curves and trailing padding. Used by the profile, PHI and fuzz tests.
import type { WriteElement, WriteItem } from '../src/writer.js';

/** Text that must not survive anonymization (each appears in findingsElements). */
export const FINDINGS_SECRETS = [
  'Gadolinium^Doe', 'Pregnant^Jane', 'Study comment: Jane Doe', 'Observer^Vera', 'Verifier Org', 'Person^Paula',
  'Requesting Svc', 'ADM-4711', 'Ward 7 Bed 3', 'Context^Carl', 'MRC35119', 'ICONPIXELS', 'PADDINGBYTES',
  'OVERLAYBITS', 'Curve^Data', '20190219', '20190220', '124750.3275+0100', 'Plan^Dr', 'AE_STATION_7',
];

const frame = (i: number): WriteItem => ({
  elements: [
    {
      tag: 'FrameContentSequence', vr: 'SQ', value: [{
        elements: [
          { tag: 'FrameAcquisitionNumber', vr: 'US', value: i },
          { tag: 'FrameReferenceDateTime', vr: 'DT', value: `20190219${String(124750 + i).padStart(6, '0')}.3275` },
          { tag: 'FrameAcquisitionDateTime', vr: 'DT', value: `20190219${String(124750 + i).padStart(6, '0')}.3275+0100` },
          { tag: 'FrameAcquisitionDuration', vr: 'FD', value: 1500 },
          { tag: 'StackID', vr: 'SH', value: '1' },
          { tag: 'InStackPositionNumber', vr: 'UL', value: i + 1 },
        ],
      }],
    },
    { tag: 'PlanePositionSequence', vr: 'SQ', value: [{ elements: [{ tag: 'ImagePositionPatient', vr: 'DS', value: [0, 0, i * 3] }] }] },
    // a private block inside a per-frame item: removed like any private element
    { tag: 0x20050010, vr: 'LO', value: 'Philips MR Imaging DD 001' },
    { tag: 0x20051011, vr: 'LO', value: 'Person^Paula' },
  ],
});

/** The findings data set (top-level elements, any transfer syntax). `frames` per-frame items. */
export function findingsElements(frames = 6): WriteElement[] {
  return [
    { tag: 'SpecificCharacterSet', vr: 'CS', value: 'ISO_IR 100' },
    { tag: 'ImageType', vr: 'CS', value: ['ORIGINAL', 'PRIMARY', 'M', 'NONE'] },
    { tag: 'InstanceCreationDate', vr: 'DA', value: '20190219' },
    { tag: 'InstanceCreationTime', vr: 'TM', value: '124752.701' },
    { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4.1' },
    { tag: 'SOPInstanceUID', vr: 'UI', value: '1.3.12.2.1107.5.2.19.35119.1' },
    { tag: 'StudyDate', vr: 'DA', value: '20190219' },
    { tag: 'AcquisitionDateTime', vr: 'DT', value: '20190219124750.3275+0100' },
    { tag: 'StudyTime', vr: 'TM', value: '111435.579' },
    { tag: 'AcquisitionTime', vr: 'TM', value: '124750.3275' },
    { tag: 'TimezoneOffsetFromUTC', vr: 'SH', value: '+0100' },
    { tag: 'Modality', vr: 'CS', value: 'MR' },
    { tag: 'StationName', vr: 'SH', value: 'MRC35119' },
    { tag: 'ReferringPhysicianName', vr: 'PN', value: 'Plan^Dr' },
    { tag: 'PatientName', vr: 'PN', value: 'Doe^Jane' },
    { tag: 'PatientID', vr: 'LO', value: 'RTFMRI0001' },
    { tag: 'PatientBirthDate', vr: 'DA', value: '19880514' },
    { tag: 'PregnancyStatus', vr: 'US', value: 4 },
    { tag: 'ContrastBolusAgent', vr: 'LO', value: 'Gadolinium^Doe' },
    { tag: 'PerformedStationAETitle', vr: 'AE', value: 'AE_STATION_7' },
    { tag: 'StudyComments', vr: 'LT', value: 'Study comment: Jane Doe' },
    { tag: 'RequestingService', vr: 'LO', value: 'Requesting Svc' },
    { tag: 'AdmissionID', vr: 'LO', value: 'ADM-4711' },
    { tag: 'CurrentPatientLocation', vr: 'LO', value: 'Ward 7 Bed 3' },
    {
      tag: 'AcquisitionContextSequence', vr: 'SQ', value: [{
        elements: [
          { tag: 'ValueType', vr: 'CS', value: 'PNAME' },
          { tag: 'PersonName', vr: 'PN', value: 'Context^Carl' },
        ],
      }],
    },
    { tag: 'VerifyingOrganization', vr: 'LO', value: 'Verifier Org' },
    {
      tag: 'VerifyingObserverSequence', vr: 'SQ', value: [{
        elements: [
          { tag: 'VerifyingObserverName', vr: 'PN', value: 'Observer^Vera' },
          { tag: 'VerifyingObserverIdentificationCodeSequence', vr: 'SQ', value: [{ elements: [{ tag: 'CodeMeaning', vr: 'LO', value: 'Observer^Vera' }] }] },
          { tag: 'VerificationDateTime', vr: 'DT', value: '20190220101010' },
        ],
      }],
    },
    {
      tag: 'ContentSequence', vr: 'SQ', value: [{
        elements: [{ tag: 'PersonName', vr: 'PN', value: 'Person^Paula' }],
      }],
    },
    { tag: 'PersonName', vr: 'PN', value: 'Person^Paula' },
    { tag: 'RTPlanLabel', vr: 'SH', value: 'Plan^Dr' },
    { tag: 'RTPlanDate', vr: 'DA', value: '20190220' },
    { tag: 'RTPlanTime', vr: 'TM', value: '101010' },
    {
      tag: 'IconImageSequence', vr: 'SQ', value: [{
        elements: [
          { tag: 'Rows', vr: 'US', value: 2 },
          { tag: 'Columns', vr: 'US', value: 5 },
          { tag: 'BitsAllocated', vr: 'US', value: 8 },
          { tag: 'PixelData', vr: 'OB', value: new TextEncoder().encode('ICONPIXELS') },
        ],
      }],
    },
    { tag: 'SharedFunctionalGroupsSequence', vr: 'SQ', value: [{ elements: [{ tag: 'PixelMeasuresSequence', vr: 'SQ', value: [{ elements: [{ tag: 'PixelSpacing', vr: 'DS', value: [3, 3] }] }] }] }] },
    { tag: 'PerFrameFunctionalGroupsSequence', vr: 'SQ', value: Array.from({ length: frames }, (_, i) => frame(i)) },
    { tag: 'Rows', vr: 'US', value: 2 },
    { tag: 'Columns', vr: 'US', value: 2 },
    { tag: 'BitsAllocated', vr: 'US', value: 16 },
    { tag: 'NumberOfFrames', vr: 'IS', value: frames },
    { tag: 0x50000010, vr: 'US', value: 1 },
    { tag: 0x50003000, vr: 'OB', value: new TextEncoder().encode('Curve^Data') },
    { tag: 0x60000010, vr: 'US', value: 2 },
    { tag: 0x60000011, vr: 'US', value: 5 },
    { tag: 0x60003000, vr: 'OW', value: new TextEncoder().encode('OVERLAYBITS ') },
    { tag: 'PixelData', vr: 'OW', value: new Uint16Array(4 * frames).map((_, i) => i) },
    { tag: 0xfffcfffc, vr: 'OB', value: new TextEncoder().encode('PADDINGBYTES') },
  ];
}
