// Shared by the parser's tests: one element of every VR, nested sequences of both length kinds,
// a private block and signed pixel data. Written with the package's own writer.
import type { WriteElement } from '../src/index.js';

export function everyVr(opts: { undefinedSeq?: boolean } = {}): WriteElement[] {
  const u = opts.undefinedSeq ?? true;
  return [
    { tag: 'SpecificCharacterSet', vr: 'CS', value: 'ISO_IR 192' },
    { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
    { tag: 'SOPInstanceUID', vr: 'UI', value: '1.2.3.4.5' },
    { tag: 0x00080054, vr: 'AE', value: 'STORESCP' },
    { tag: 'PatientAge', vr: 'AS', value: '030Y' },
    { tag: 0x00209165, vr: 'AT', value: [0x00100010, 0x7fe00010] },
    { tag: 'ImageType', vr: 'CS', value: ['ORIGINAL', 'PRIMARY', 'MOSAIC'] },
    { tag: 'StudyDate', vr: 'DA', value: '20190219' },
    { tag: 'PixelSpacing', vr: 'DS', value: [3, 2.5] },
    { tag: 'AcquisitionDateTime', vr: 'DT', value: '20190219124750.327500' },
    { tag: 0x00081163, vr: 'FD', value: [1.5, -2.25] },
    { tag: 0x00089459, vr: 'FL', value: 0.5 },
    { tag: 'InstanceNumber', vr: 'IS', value: 7 },
    { tag: 'Manufacturer', vr: 'LO', value: 'SIEMENS' },
    { tag: 'PatientComments', vr: 'LT', value: 'line one\\not a separator' },
    { tag: 0x00420011, vr: 'OB', value: new Uint8Array([1, 2, 3]) },
    { tag: 0x003a032e, vr: 'OD', value: new Float64Array([1.25, -3]) },
    { tag: 0x00181638, vr: 'OF', value: new Float32Array([0.5, 2]) },
    { tag: 0x00660129, vr: 'OL', value: new Uint32Array([0xdeadbeef, 7]) },
    { tag: 0x00720081, vr: 'OV', value: new BigUint64Array([1n << 40n]) },
    { tag: 0x00281201, vr: 'OW', value: new Uint16Array([0x1234, 0xabcd]) },
    { tag: 'PatientName', vr: 'PN', value: 'Müller^Jöns' },
    { tag: 'StationName', vr: 'SH', value: 'AWP45031' },
    { tag: 0x00186020, vr: 'SL', value: [-5, 70000] },
    {
      tag: 'ReferencedImageSequence', vr: 'SQ', undefinedLength: u,
      value: [
        { elements: [{ tag: 'ReferencedSOPInstanceUID', vr: 'UI', value: '1.2.3' }] },
        {
          undefinedLength: u,
          elements: [
            { tag: 'ReferencedSOPInstanceUID', vr: 'UI', value: '1.2.4' },
            {
              tag: 'SourceImageSequence', vr: 'SQ', undefinedLength: !u,
              value: [{ elements: [{ tag: 'ReferencedSOPClassUID', vr: 'UI', value: '1.2.5.6' }] }, { elements: [] }],
            },
          ],
        },
      ],
    },
    { tag: 'ReferencedStudySequence', vr: 'SQ', value: [] },
    { tag: 0x00189219, vr: 'SS', value: [-2, 3] },
    { tag: 'InstitutionAddress', vr: 'ST', value: 'Washington Rd, Princeton' },
    { tag: 0x00720082, vr: 'SV', value: [-(1n << 40n)] },
    { tag: 'AcquisitionTime', vr: 'TM', value: '124750.327500' },
    { tag: 0x00080119, vr: 'UC', value: ['a long string', 'b'] },
    { tag: 0x00081161, vr: 'UL', value: [4000000000, 1] },
    { tag: 0x0072006d, vr: 'UN', value: new Uint8Array([9, 8, 7, 6]) },
    { tag: 0x0008010e, vr: 'UR', value: 'http://example.invalid/x' },
    { tag: 'Rows', vr: 'US', value: 2 },
    { tag: 'Columns', vr: 'US', value: 2 },
    { tag: 'BitsAllocated', vr: 'US', value: 16 },
    { tag: 'PixelRepresentation', vr: 'US', value: 1 },
    { tag: 0x0008030e, vr: 'UT', value: 'unlimited text ' },
    { tag: 0x0008040c, vr: 'UV', value: [12345678901234n] },
    { tag: 0x00090010, vr: 'LO', value: 'RTFMRI TEST' },
    { tag: 0x00091010, vr: 'OB', value: new Uint8Array([1, 2, 3, 4]) },
    { tag: 0x00091011, vr: 'LO', value: 'private text' },
    { tag: 'PixelData', vr: 'OW', value: new Int16Array([1, -2, 3, -32768]) },
  ];
}

