// A synthetic Siemens-like EPI run: mosaic volumes with a brain-shaped ellipsoid, a block-design
// signal in a box-shaped region of interest, Siemens CSA headers and the identifying attributes a
// real scanner writes (all fake), so tests, the demo and the benchmarks work without real data.
// Everything is derived from the options and a seed: the same options give the same bytes.

import { writeCsaHeader } from './csa.js';
import type { RoiBox } from './mosaic.js';
import { rng } from './rng.js';
import { EXPLICIT_VR_LE } from './transfer-syntax.js';
import { writeDicom, type WriteElement } from './writer.js';

export interface SyntheticEpiOptions {
  /** Volumes in the run (syntheticEpiSeries). Default 20. */
  volumes?: number;
  /** Slice edge in pixels (each slice is tile x tile). Default 64. */
  tile?: number;
  /** Slices per volume. Default 36. */
  slices?: number;
  /** Mosaic grid edge (tiles per row/column). Default ceil(sqrt(slices)). */
  grid?: number;
  /** RepetitionTime in milliseconds. Default 1500. */
  trMs?: number;
  /** Block length in volumes: `block` off, then `block` on, repeating. Default 10. */
  block?: number;
  /** Fractional signal change in the ROI during "on" blocks. Default 0.03. */
  signalChange?: number;
  /** Brain baseline intensity. Default 1000. */
  baseline?: number;
  /** Standard deviation of the noise. Default 8. */
  noise?: number;
  seed?: number;
  roi?: RoiBox;
  /** AcquisitionTime of volume 0, DICOM TM. Default '124750.327500'. */
  startTime?: string;
  /** Study date, DICOM DA. Default '20190219'. */
  date?: string;
  /** Device serial number: Siemens UIDs embed it. Default '45031'. */
  serialNumber?: string;
  /** Size of the CSA series header (its protocol text), bytes. Default 156000 (a volume is then ~457 KB, as from a real Skyra). */
  seriesHeaderBytes?: number;
}

interface Resolved extends Required<Omit<SyntheticEpiOptions, 'grid' | 'roi'>> {
  grid: number;
  roi: RoiBox;
}

function resolve(o: SyntheticEpiOptions = {}): Resolved {
  const tile = o.tile ?? 64;
  const slices = o.slices ?? 36;
  const grid = o.grid ?? Math.ceil(Math.sqrt(slices));
  if (grid * grid < slices) throw new RangeError(`a ${grid}x${grid} mosaic cannot hold ${slices} slices`);
  return {
    volumes: o.volumes ?? 20,
    tile,
    slices,
    grid,
    trMs: o.trMs ?? 1500,
    block: o.block ?? 10,
    signalChange: o.signalChange ?? 0.03,
    baseline: o.baseline ?? 1000,
    noise: o.noise ?? 8,
    seed: o.seed ?? 1,
    roi: o.roi ?? defaultRoi(tile, slices),
    startTime: o.startTime ?? '124750.327500',
    date: o.date ?? '20190219',
    serialNumber: o.serialNumber ?? '45031',
    seriesHeaderBytes: o.seriesHeaderBytes ?? 156000,
  };
}

/** A box inside the ellipsoid, right of centre, in the middle third of the slices. */
function defaultRoi(tile: number, slices: number): RoiBox {
  const s0 = Math.floor(slices / 3);
  const s1 = Math.max(s0 + 1, Math.ceil((2 * slices) / 3));
  const r0 = Math.floor(tile * 0.4);
  const c0 = Math.floor(tile * 0.55);
  const edge = Math.max(2, Math.floor(tile / 8));
  return { slice0: s0, slice1: s1, row0: r0, row1: r0 + edge, col0: c0, col1: c0 + edge };
}

/** The ROI box the options describe (the default one when the options give none). */
export function syntheticRoi(options?: SyntheticEpiOptions): RoiBox {
  return { ...resolve(options).roi };
}

/** 1 inside the ROI, 0 elsewhere; slices x tile x tile, slice-major (the layout of mosaicToVolume). */
export function roiMask(options?: SyntheticEpiOptions): Uint8Array {
  const o = resolve(options);
  const mask = new Uint8Array(o.slices * o.tile * o.tile);
  const { roi } = o;
  for (let s = roi.slice0; s < roi.slice1; s++)
    for (let r = roi.row0; r < roi.row1; r++) mask.fill(1, (s * o.tile + r) * o.tile + roi.col0, (s * o.tile + r) * o.tile + roi.col1);
  return mask;
}

/** Mean of `data` where `mask` is non-zero (e.g. a mosaicToVolume result and roiMask). NaN for an empty mask. */
export function roiMean(data: ArrayLike<number>, mask: ArrayLike<number>): number {
  if (data.length !== mask.length) throw new RangeError(`volume has ${data.length} voxels, mask ${mask.length}`);
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      sum += data[i];
      n++;
    }
  }
  return n === 0 ? NaN : sum / n;
}

/** 1 when volume `index` is in an "on" block of the design, else 0. */
export function blockDesign(index: number, options?: SyntheticEpiOptions): 0 | 1 {
  const { block } = resolve(options);
  return Math.floor(index / block) % 2 === 1 ? 1 : 0;
}

/** Slice acquisition times (ms from the volume start), interleaved even slices first, as on Siemens. */
export function sliceTimes(options?: SyntheticEpiOptions): number[] {
  const o = resolve(options);
  const step = Math.floor((o.trMs / o.slices) * 2) / 2;
  const order: number[] = [];
  for (let s = 0; s < o.slices; s += 2) order.push(s);
  for (let s = 1; s < o.slices; s += 2) order.push(s);
  const times = new Array<number>(o.slices);
  order.forEach((s, k) => (times[s] = k * step));
  return times;
}

function addSeconds(tm: string, seconds: number): string {
  const h = Number(tm.slice(0, 2));
  const m = Number(tm.slice(2, 4));
  const s = Number(tm.slice(4));
  let total = h * 3600 + m * 60 + s + seconds;
  total = ((total % 86400) + 86400) % 86400;
  const micro = Math.round(total * 1e6);
  const hh = Math.floor(micro / 3.6e9);
  const mm = Math.floor((micro % 3.6e9) / 6e7);
  const ssMicro = micro % 6e7;
  const ss = Math.floor(ssMicro / 1e6);
  const frac = ssMicro % 1e6;
  return `${String(hh).padStart(2, '0')}${String(mm).padStart(2, '0')}${String(ss).padStart(2, '0')}.${String(frac).padStart(6, '0')}`;
}

/** Mosaic pixels of one volume (rows x cols of the mosaic). */
export function syntheticMosaicPixels(index: number, options?: SyntheticEpiOptions): Uint16Array {
  const o = resolve(options);
  const size = o.grid * o.tile;
  const px = new Uint16Array(size * size);
  const rand = rng((o.seed * 1000003 + index * 7919) >>> 0);
  const on = blockDesign(index, options) === 1;
  const { roi } = o;
  const half = o.tile / 2;
  const zHalf = o.slices / 2;
  // Slow drift, as real EPI has; small against the block signal.
  const drift = 1 + 0.002 * Math.sin(index / 7);
  for (let s = 0; s < o.slices; s++) {
    const tr = Math.floor(s / o.grid) * o.tile;
    const tc = (s % o.grid) * o.tile;
    const dz = (s + 0.5 - zHalf) / (zHalf * 0.95);
    const inRoiSlice = s >= roi.slice0 && s < roi.slice1;
    for (let r = 0; r < o.tile; r++) {
      const dy = (r + 0.5 - half) / (half * 0.8);
      const base = (tr + r) * size + tc;
      for (let c = 0; c < o.tile; c++) {
        const dx = (c + 0.5 - half) / (half * 0.65);
        const d2 = dx * dx + dy * dy + dz * dz;
        // Two uniforms minus one: a cheap zero-mean noise with sd = noise.
        const n = (rand() + rand() + rand() - 1.5) * 2 * o.noise;
        let v: number;
        if (d2 <= 1) {
          v = o.baseline * drift * (0.85 + 0.15 * (1 - d2));
          if (on && inRoiSlice && r >= roi.row0 && r < roi.row1 && c >= roi.col0 && c < roi.col1) v *= 1 + o.signalChange;
          v += n;
        } else v = 20 + n * 0.5;
        px[base + c] = v < 0 ? 0 : v > 4095 ? 4095 : Math.round(v);
      }
    }
  }
  return px;
}

/** A fake Siemens protocol dump ("MrPhoenixProtocol"), padded to `size` bytes, with identifying text in it. */
function phoenixProtocol(o: Resolved): string {
  const head = [
    '### ASCCONV BEGIN ###',
    'ulVersion = 0x14b44b6',
    'tSequenceFileName = "%SiemensSeq%\\ep2d_bold"',
    'tProtocolName = "func_run-01"',
    `sProtConsistencyInfo.tMeasuredBaselineString = "N4_VE11C_LATEST_${o.serialNumber}"`,
    'tReferringPhysician = "Referrer^Robert"',
    `sKSpace.lBaseResolution = ${o.tile}`,
    `sSliceArray.lSize = ${o.slices}`,
    `alTR[0] = ${o.trMs * 1000}`,
  ].join('\n');
  let text = head + '\n';
  let i = 0;
  while (text.length < o.seriesHeaderBytes - 40) text += `sWipMemBlock.alFree[${i++ % 64}] = ${i}\n`;
  return text + '### ASCCONV END ###';
}

/** Elements of one synthetic volume (the writer sorts them). */
export function syntheticEpiElements(index: number, options?: SyntheticEpiOptions): WriteElement[] {
  const o = resolve(options);
  const size = o.grid * o.tile;
  const serial = o.serialNumber;
  const uidBase = `1.3.12.2.1107.5.2.19.${serial}`;
  const time = addSeconds(o.startTime, (index * o.trMs) / 1000);
  const contentTime = addSeconds(time, 2.4);
  const times = sliceTimes(options);
  const pixelSpacing = 3;
  const csaImage = writeCsaHeader([
    { name: 'EchoLinePosition', vr: 'IS', values: [o.tile / 2] },
    { name: 'UsedChannelString', vr: 'UT', values: ['XXXXXXXXXXXXXXXXXXXX'] },
    { name: 'ProtocolSliceNumber', vr: 'IS', values: [0] },
    { name: 'AcquisitionMatrixText', vr: 'SH', values: [`${o.tile}*${o.tile}`] },
    { name: 'NumberOfImagesInMosaic', vr: 'US', values: [o.slices] },
    { name: 'SliceNormalVector', vr: 'FD', values: [0, 0, 1] },
    { name: 'TimeAfterStart', vr: 'DS', values: [(index * o.trMs) / 1000] },
    { name: 'ImaCoilString', vr: 'LO', values: ['HEA;HEP'] },
    { name: 'SliceMeasurementDuration', vr: 'DS', values: [o.trMs / o.slices] },
    { name: 'PhaseEncodingDirectionPositive', vr: 'IS', values: [1] },
    { name: 'MosaicRefAcqTimes', vr: 'FD', vm: 0, values: times },
  ]);
  const csaSeries = writeCsaHeader([
    { name: 'UsedPatientWeight', vr: 'IS', values: [62] },
    { name: 'MrPhoenixProtocol', vr: 'UN', values: [phoenixProtocol(o)] },
  ]);
  const sop = `${uidBase}.${o.date}${time.replace('.', '').slice(0, 10)}${String(100000 + index * 37 + o.seed).padStart(8, '0')}`;
  const prevSop = `${uidBase}.${o.date}12474270660418950.${index}`;
  return [
    { tag: 'SpecificCharacterSet', vr: 'CS', value: 'ISO_IR 100' },
    { tag: 'ImageType', vr: 'CS', value: ['ORIGINAL', 'PRIMARY', 'M', 'ND', 'NORM', 'MOSAIC'] },
    { tag: 'InstanceCreationDate', vr: 'DA', value: o.date },
    { tag: 'InstanceCreationTime', vr: 'TM', value: contentTime },
    { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
    { tag: 'SOPInstanceUID', vr: 'UI', value: sop },
    { tag: 'StudyDate', vr: 'DA', value: o.date },
    { tag: 'SeriesDate', vr: 'DA', value: o.date },
    { tag: 'AcquisitionDate', vr: 'DA', value: o.date },
    { tag: 'ContentDate', vr: 'DA', value: o.date },
    { tag: 'StudyTime', vr: 'TM', value: '111435.579000' },
    { tag: 'SeriesTime', vr: 'TM', value: addSeconds(o.startTime, -8) },
    { tag: 'AcquisitionTime', vr: 'TM', value: time },
    { tag: 'ContentTime', vr: 'TM', value: contentTime },
    { tag: 'AccessionNumber', vr: 'SH', value: 'ACC20190219' },
    { tag: 'Modality', vr: 'CS', value: 'MR' },
    { tag: 'Manufacturer', vr: 'LO', value: 'SIEMENS' },
    { tag: 'InstitutionName', vr: 'LO', value: 'Springfield General Hospital' },
    { tag: 'InstitutionAddress', vr: 'ST', value: '742 Evergreen Terrace,Springfield,XX,US,00000' },
    { tag: 'ReferringPhysicianName', vr: 'PN', value: 'Referrer^Robert' },
    { tag: 'StationName', vr: 'SH', value: `AWP${serial}` },
    { tag: 'StudyDescription', vr: 'LO', value: 'Doe_Smith^1234_rtfmri' },
    { tag: 'SeriesDescription', vr: 'LO', value: 'func_run-01' },
    { tag: 'InstitutionalDepartmentName', vr: 'LO', value: 'Radiology' },
    { tag: 'PhysiciansOfRecord', vr: 'PN', value: 'Record^Rita' },
    { tag: 'PerformingPhysicianName', vr: 'PN', value: 'Performer^Paul' },
    { tag: 'OperatorsName', vr: 'PN', value: 'Operator^Olivia' },
    { tag: 'ManufacturerModelName', vr: 'LO', value: 'Skyra' },
    {
      tag: 'ReferencedImageSequence', vr: 'SQ',
      value: [0, 1].map((k) => ({
        elements: [
          { tag: 'ReferencedSOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
          { tag: 'ReferencedSOPInstanceUID', vr: 'UI', value: `${prevSop}.${k}` },
        ],
      })),
    },
    { tag: 'PatientName', vr: 'PN', value: 'Doe^Jane' },
    { tag: 'PatientID', vr: 'LO', value: 'RTFMRI0001' },
    { tag: 'PatientBirthDate', vr: 'DA', value: '19880514' },
    { tag: 'PatientSex', vr: 'CS', value: 'F' },
    { tag: 'OtherPatientIDs', vr: 'LO', value: 'MRN-99887766' },
    { tag: 'PatientAge', vr: 'AS', value: '030Y' },
    { tag: 'PatientSize', vr: 'DS', value: 1.7 },
    { tag: 'PatientWeight', vr: 'DS', value: 62.5 },
    { tag: 'ScanningSequence', vr: 'CS', value: 'EP' },
    { tag: 'SequenceVariant', vr: 'CS', value: 'SK' },
    { tag: 'MRAcquisitionType', vr: 'CS', value: '2D' },
    { tag: 'SequenceName', vr: 'SH', value: `*epfid2d1_${o.tile}` },
    { tag: 'SliceThickness', vr: 'DS', value: 3 },
    { tag: 'RepetitionTime', vr: 'DS', value: o.trMs },
    { tag: 'EchoTime', vr: 'DS', value: 28 },
    { tag: 'MagneticFieldStrength', vr: 'DS', value: 3 },
    { tag: 'SpacingBetweenSlices', vr: 'DS', value: 3 },
    { tag: 'NumberOfPhaseEncodingSteps', vr: 'IS', value: o.tile },
    { tag: 'DeviceSerialNumber', vr: 'LO', value: serial },
    { tag: 'SoftwareVersions', vr: 'LO', value: 'syngo MR E11' },
    { tag: 'ProtocolName', vr: 'LO', value: 'func_run-01' },
    { tag: 'AcquisitionMatrix', vr: 'US', value: [o.tile, 0, 0, o.tile] },
    { tag: 'InPlanePhaseEncodingDirection', vr: 'CS', value: 'COL' },
    { tag: 'FlipAngle', vr: 'DS', value: 64 },
    { tag: 'PatientPosition', vr: 'CS', value: 'HFS' },
    { tag: 'StudyInstanceUID', vr: 'UI', value: `${uidBase}.30000019021215313940500000046` },
    { tag: 'SeriesInstanceUID', vr: 'UI', value: `${uidBase}.${o.date}12474270660418950.0.0.0` },
    { tag: 'StudyID', vr: 'SH', value: '1' },
    { tag: 'SeriesNumber', vr: 'IS', value: 13 },
    { tag: 'AcquisitionNumber', vr: 'IS', value: index + 1 },
    { tag: 'InstanceNumber', vr: 'IS', value: index + 1 },
    { tag: 'ImagePositionPatient', vr: 'DS', value: [-(size * pixelSpacing) / 2, -(size * pixelSpacing) / 2, -(o.slices * 3) / 2] },
    { tag: 'ImageOrientationPatient', vr: 'DS', value: [1, 0, 0, 0, 1, 0] },
    { tag: 'FrameOfReferenceUID', vr: 'UI', value: `${uidBase}.1.${o.date}112536349.0.0.0` },
    { tag: 'SliceLocation', vr: 'DS', value: -(o.slices * 3) / 2 },
    { tag: 'SamplesPerPixel', vr: 'US', value: 1 },
    { tag: 'PhotometricInterpretation', vr: 'CS', value: 'MONOCHROME2' },
    { tag: 'Rows', vr: 'US', value: size },
    { tag: 'Columns', vr: 'US', value: size },
    { tag: 'PixelSpacing', vr: 'DS', value: [pixelSpacing, pixelSpacing] },
    { tag: 'BitsAllocated', vr: 'US', value: 16 },
    { tag: 'BitsStored', vr: 'US', value: 12 },
    { tag: 'HighBit', vr: 'US', value: 11 },
    { tag: 'PixelRepresentation', vr: 'US', value: 0 },
    { tag: 'WindowCenter', vr: 'DS', value: o.baseline / 2 },
    { tag: 'WindowWidth', vr: 'DS', value: o.baseline * 1.5 },
    // Siemens MR header: the mosaic slice count and slice times again, outside the CSA blob.
    { tag: 0x00190010, vr: 'LO', value: 'SIEMENS MR HEADER' },
    { tag: 0x0019100a, vr: 'US', value: o.slices },
    { tag: 0x00191029, vr: 'FD', value: times },
    { tag: 0x00290010, vr: 'LO', value: 'SIEMENS CSA HEADER' },
    { tag: 0x00291008, vr: 'CS', value: 'IMAGE NUM 4' },
    { tag: 0x00291009, vr: 'LO', value: o.date },
    { tag: 0x00291010, vr: 'OB', value: csaImage },
    { tag: 0x00291018, vr: 'CS', value: 'MR' },
    { tag: 0x00291019, vr: 'LO', value: o.date },
    { tag: 0x00291020, vr: 'OB', value: csaSeries },
    // A site's private block with identifying text, which the default profile must drop.
    { tag: 0x00330010, vr: 'LO', value: 'RTFMRI SITE NOTES' },
    { tag: 0x00331010, vr: 'LO', value: 'Doe^Jane scanned by Operator^Olivia' },
    { tag: 'PerformedProcedureStepStartDate', vr: 'DA', value: o.date },
    { tag: 'PerformedProcedureStepStartTime', vr: 'TM', value: '111435.795000' },
    { tag: 'PerformedProcedureStepID', vr: 'SH', value: `MR${o.date}111435` },
    { tag: 'PerformedProcedureStepDescription', vr: 'LO', value: 'Doe_Smith^1234_rtfmri' },
    { tag: 'PixelData', vr: 'OW', value: syntheticMosaicPixels(index, options) },
  ];
}

/** Part-10 bytes (explicit VR little endian) of volume `index` (InstanceNumber index + 1). */
export function syntheticEpiVolume(index: number, options?: SyntheticEpiOptions): Uint8Array {
  return writeDicom(syntheticEpiElements(index, options), { transferSyntaxUID: EXPLICIT_VR_LE });
}

/** Every volume of the run, in order. */
export function syntheticEpiSeries(options?: SyntheticEpiOptions): Uint8Array[] {
  const n = resolve(options).volumes;
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(syntheticEpiVolume(i, options));
  return out;
}
