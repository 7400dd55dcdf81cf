// Test helpers for the NIfTI tests: synthetic Siemens files in any orientation (mosaics and
// single-slice series, from '@rtfmri/dicom-wasm/synthetic'), and the two oracles rt-cloud used,
// dcm2niix and nibabel (Debian dcm2niix, python3-nibabel), run as subprocesses.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDicom, EXPLICIT_VR_LE, type WriteElement } from '@rtfmri/dicom-wasm';
import { syntheticEpiElements, syntheticMosaicPixels, sliceTimes, type SyntheticEpiOptions } from '@rtfmri/dicom-wasm/synthetic';
import { writeCsaHeader } from '@rtfmri/dicom-wasm/writer';

export const SAMPLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/rtcloud-sample');
export const haveSample = fs.existsSync(path.join(SAMPLE_DIR, '001_000013_000005.dcm'));

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}
export const haveDcm2niix = which('dcm2niix');

/** A python3 that imports nibabel (Debian's /usr/bin/python3 first: a pyenv shim may lack it). */
export const PY: string | undefined = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import nibabel, numpy'], { encoding: 'utf8' }).status === 0,
);
export const haveNibabel = PY !== undefined;

/** Runs a python snippet (with nibabel) that prints one JSON object; `args` become sys.argv[1:]. */
export function py<T>(code: string, ...args: string[]): T {
  const out = execFileSync(PY!, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

/** dcm2niix -s y (single file) -b y (JSON, for SliceTiming) -z n on `input` (a file or folder). */
export function runDcm2niix(input: string, outDir: string, name = 'out'): { nii: string; json: Record<string, unknown> } {
  fs.mkdirSync(outDir, { recursive: true });
  const args = ['-b', 'y', '-z', 'n', '-o', outDir, '-f', name];
  if (fs.statSync(input).isFile()) args.unshift('-s', 'y');
  const r = spawnSync('dcm2niix', [...args, input], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dcm2niix failed: ${r.stdout}${r.stderr}`);
  const niis = fs.readdirSync(outDir).filter((f) => f.endsWith('.nii'));
  if (niis.length !== 1) throw new Error(`dcm2niix wrote ${niis.join(', ') || 'nothing'}: ${r.stdout}`);
  const nii = path.join(outDir, niis[0]);
  const jsonPath = nii.replace(/\.nii$/, '.json');
  return { nii, json: fs.existsSync(jsonPath) ? JSON.parse(fs.readFileSync(jsonPath, 'utf8')) : {} };
}

export interface Orient {
  /** ImageOrientationPatient: row cosine then column cosine. */
  iop: number[];
  /** PixelSpacing [between rows, between columns]. */
  spacing?: [number, number];
  /** Slice spacing (SpacingBetweenSlices and SliceThickness). */
  dz?: number;
  /** Position of the first slice's first voxel (mosaic: of the slice stack's corner). */
  origin?: number[];
  /** Flip the CSA SliceNormalVector (slices along -cross(row, col)). */
  negativeNormal?: boolean;
}

function normalOf(iop: number[]): number[] {
  const r = iop.slice(0, 3);
  const c = iop.slice(3, 6);
  return [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
}

function setEl(els: WriteElement[], tag: WriteElement['tag'], vr: string, value: WriteElement['value']): void {
  const i = els.findIndex((e) => e.tag === tag);
  const el = { tag, vr, value } as WriteElement;
  if (i >= 0) els[i] = el;
  else els.push(el);
}

/** A synthetic Siemens mosaic in orientation `o` (its CSA header rewritten to match). */
export function syntheticMosaic(o: Orient, opts: SyntheticEpiOptions & { protocolSliceNumber?: number; bitsStored?: number; pixels?: Uint16Array } = {}, index = 0): Uint8Array {
  const els = syntheticEpiElements(index, opts);
  const slices = opts.slices ?? 36;
  const tile = opts.tile ?? 64;
  const grid = opts.grid ?? Math.ceil(Math.sqrt(slices));
  const spacing = o.spacing ?? [3, 3];
  const dz = o.dz ?? 3;
  const n = normalOf(o.iop).map((x) => (o.negativeNormal ? -x : x));
  const size = grid * tile;
  // Siemens writes the mosaic's IPP as if the whole mosaic were one slice centred on the stack's first slice.
  const corner = o.origin ?? [-100.5, -80.25, -40];
  const r = o.iop.slice(0, 3);
  const c = o.iop.slice(3, 6);
  const ipp = [0, 1, 2].map((k) => corner[k] - r[k] * spacing[1] * ((size - tile) / 2) - c[k] * spacing[0] * ((size - tile) / 2));
  setEl(els, 'ImageOrientationPatient', 'DS', o.iop);
  setEl(els, 'ImagePositionPatient', 'DS', ipp);
  setEl(els, 'PixelSpacing', 'DS', spacing);
  setEl(els, 'SliceThickness', 'DS', dz);
  setEl(els, 'SpacingBetweenSlices', 'DS', dz);
  if (opts.bitsStored !== undefined) {
    setEl(els, 'BitsStored', 'US', opts.bitsStored);
    setEl(els, 'HighBit', 'US', opts.bitsStored - 1);
  }
  if (opts.pixels) setEl(els, 'PixelData', 'OW', opts.pixels);
  const times = sliceTimes(opts);
  setEl(els, 0x00291010, 'OB', writeCsaHeader([
    { name: 'EchoLinePosition', vr: 'IS', values: [tile / 2] },
    { name: 'ProtocolSliceNumber', vr: 'IS', values: [opts.protocolSliceNumber ?? 0] },
    { name: 'AcquisitionMatrixText', vr: 'SH', values: [`${tile}*${tile}`] },
    { name: 'NumberOfImagesInMosaic', vr: 'US', values: [slices] },
    { name: 'SliceNormalVector', vr: 'FD', values: n },
    { name: 'TimeAfterStart', vr: 'DS', values: [0] },
    { name: 'SliceMeasurementDuration', vr: 'DS', values: [1500 / slices] },
    { name: 'PhaseEncodingDirectionPositive', vr: 'IS', values: [1] },
    { name: 'MosaicRefAcqTimes', vr: 'FD', vm: 0, values: times },
  ]));
  return writeDicom(els, { transferSyntaxUID: EXPLICIT_VR_LE });
}

/** The single-slice files of one synthetic volume (no CSA mosaic fields), slice k at origin + k*dz*normal. */
export function syntheticSliceSeries(o: Orient, opts: SyntheticEpiOptions & { instanceOrder?: 'ascending' | 'descending'; acqTimes?: boolean } = {}): Uint8Array[] {
  const slices = opts.slices ?? 12;
  const tile = opts.tile ?? 64;
  const grid = Math.ceil(Math.sqrt(slices));
  const spacing = o.spacing ?? [3, 3];
  const dz = o.dz ?? 3;
  const n = normalOf(o.iop);
  const origin = o.origin ?? [-100.5, -80.25, -40];
  const mosaic = syntheticMosaicPixels(0, { ...opts, slices, tile });
  const times = sliceTimes({ ...opts, slices });
  const out: Uint8Array[] = [];
  for (let k = 0; k < slices; k++) {
    const els = syntheticEpiElements(0, { ...opts, slices, tile, seriesHeaderBytes: 100 }).filter((e) => {
      const t = typeof e.tag === 'number' ? e.tag : 0;
      return t >>> 16 !== 0x0019 && t >>> 16 !== 0x0029 && t >>> 16 !== 0x0033;
    });
    const px = new Uint16Array(tile * tile);
    const tr = Math.floor(k / grid) * tile;
    const tc = (k % grid) * tile;
    for (let rr = 0; rr < tile; rr++) px.set(mosaic.subarray((tr + rr) * grid * tile + tc, (tr + rr) * grid * tile + tc + tile), rr * tile);
    const ipp = origin.map((x, a) => x + n[a] * dz * k);
    const inst = opts.instanceOrder === 'descending' ? slices - k : k + 1;
    setEl(els, 'ImageType', 'CS', ['ORIGINAL', 'PRIMARY', 'M', 'ND', 'NORM']);
    setEl(els, 'ImageOrientationPatient', 'DS', o.iop);
    setEl(els, 'ImagePositionPatient', 'DS', ipp);
    setEl(els, 'PixelSpacing', 'DS', spacing);
    setEl(els, 'SliceThickness', 'DS', dz);
    setEl(els, 'SpacingBetweenSlices', 'DS', dz);
    setEl(els, 'Rows', 'US', tile);
    setEl(els, 'Columns', 'US', tile);
    setEl(els, 'InstanceNumber', 'IS', inst);
    setEl(els, 'SliceLocation', 'DS', ipp[2]);
    setEl(els, 'SOPInstanceUID', 'UI', `1.2.826.0.1.3680043.10.543.${k + 1}`);
    if (opts.acqTimes !== false) {
      const t = 12 * 3600 + 47 * 60 + 50.3275 + times[k] / 1000;
      const hh = Math.floor(t / 3600);
      const mm = Math.floor((t % 3600) / 60);
      const ss = t - hh * 3600 - mm * 60;
      setEl(els, 'AcquisitionTime', 'TM', `${String(hh).padStart(2, '0')}${String(mm).padStart(2, '0')}${ss.toFixed(6).padStart(9, '0')}`);
    }
    setEl(els, 'PixelData', 'OW', px);
    out.push(writeDicom(els, { transferSyntaxUID: EXPLICIT_VR_LE }));
  }
  return out;
}

/** Orientations to test: axial, oblique (the real run's), coronal, sagittal, a rotated in-plane one. */
export const ORIENTATIONS: Record<string, Orient> = {
  axial: { iop: [1, 0, 0, 0, 1, 0] },
  'oblique (real run)': { iop: [0.999714, -0.00838295, 0.0224008, 0.00575803, 0.993375, 0.114774], spacing: [3, 3], dz: 4 },
  coronal: { iop: [1, 0, 0, 0, 0, -1], spacing: [2.5, 3.5], dz: 3.3 },
  sagittal: { iop: [0, 1, 0, 0, 0, -1], spacing: [3, 2], dz: 4 },
  'double oblique': { iop: [0.8660254, 0.5, 0, -0.4330127, 0.75, 0.5], spacing: [2, 3], dz: 2.5, origin: [12.5, -30, 7] },
};
