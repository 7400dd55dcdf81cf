// rt-cloud's rtCommon/imageHandling.py, the parts that need no file system: same names and argument
// orders, times in seconds. Node and browsers (no Node built-ins); the file-reading functions are
// in ./node.ts.

import {
  DEFAULT_PROFILE, anonymize, isComplete, parseDicom, parseTagKey, type AnonymizationProfile, type AnonymizeOptions, type DicomDataset,
} from '@rtfmri/dicom-wasm';
import { StateError, ValidationError } from '@rtfmri/transport';
import { applyOrientation, axcodes2ornt, orntTransform, type AxCodes, type Orientation } from '../nifti/orientation.js';
import { dicomToNifti, mosaicToNii } from '../nifti/dicom.js';
import { cloneHeader } from '../nifti/header.js';
import { niftiImage, type NiftiImage } from '../nifti/image.js';
import { pyFormat } from './format.js';

// ---------------------------------------------------------------- reading DICOM

/**
 * rt-cloud's readDicomFromBuffer(data): the bytes as a DicomDataset, or ValidationError
 * "Dicom may be corrupted or truncated" when they do not parse or the file is not whole
 * (pixel data included).
 */
export function readDicomFromBuffer(data: Uint8Array): DicomDataset {
  if (!(data instanceof Uint8Array)) throw new ValidationError('readDicomFromBuffer: data must be a Uint8Array');
  let ds: DicomDataset;
  try {
    ds = parseDicom(data);
  } catch (err) {
    throw new ValidationError(`readDicomFromBuffer: Dicom may be corrupted or truncated ${(err as Error).message}`);
  }
  if (!isComplete(data)) throw new ValidationError('readDicomFromBuffer: Dicom may be corrupted or truncated (incomplete pixel data)');
  return ds;
}

/** rt-cloud's writeDicomToBuffer(dicomImg): the dataset's Part-10 bytes. */
export function writeDicomToBuffer(dicomImg: DicomDataset): Uint8Array {
  return dicomImg.toBytes();
}

/** What readRetryDicomFromDataInterface needs from a DataInterface (local, remote or browser). */
export interface WatchAccess {
  watchFile(filename: string, timeout?: number): Promise<Uint8Array>;
  getFile(filename: string): Promise<Uint8Array>;
}

/** First wait of readRetryDicomFromDataInterface before it looks at the file (seconds; doubles up to 1 s). */
export const READ_RETRY_FIRST_LOOK = 0.05;
/** A file present, not whole and unchanged for this long (seconds) is truncated or corrupt: null. */
export const READ_RETRY_SETTLE = 0.2;
/**
 * The same when its bytes cannot be seen (a remote runtime's PHI policy refuses a DICOM that
 * cannot be anonymized, so growth is invisible): refused this long (seconds) -> null.
 */
export const READ_RETRY_SETTLE_UNSEEN = 1;

function errName(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return e?.code === 'TIMEOUT' || e?.name === 'TimeoutError' ? 'timeout' : e?.name ?? '';
}

function isPhiRefusal(err: unknown): boolean {
  const e = err as { name?: string; details?: { reason?: string } };
  return e?.name === 'ValidationError' && e.details?.reason === 'PHI';
}

const nowMs = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

type Look = { kind: 'missing' } | { kind: 'whole' } | { kind: 'broken'; bytes?: Uint8Array };

async function lookAt(di: WatchAccess, filename: string): Promise<Look> {
  try {
    const bytes = await di.getFile(filename);
    let whole = false;
    try {
      whole = isComplete(bytes) && parseDicom(bytes) !== undefined;
    } catch {
      whole = false;
    }
    return whole ? { kind: 'whole' } : { kind: 'broken', bytes };
  } catch (err) {
    // Under the runtime's PHI policy a DICOM that cannot be anonymized (cut or corrupt) is refused.
    if (isPhiRefusal(err)) return { kind: 'broken' };
    if ((err as { name?: string })?.name === 'NotFoundError') return { kind: 'missing' };
    throw err;
  }
}

const isAbsolutePath = (p: string): boolean => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');

/**
 * rt-cloud's readRetryDicomFromDataInterface(dataInterface, filename, timeout=5): waits (watchFile,
 * after an initWatch on its folder) for `filename` and returns it as a DicomDataset, or null (rt-cloud's
 * None) when it did not come whole within `timeout` seconds or is not a DICOM that parses.
 *
 * A truncated or corrupt file answers null quickly, as in rt-cloud (0.01 s there), not after the
 * whole timeout: the runtime's watchFile waits for a DICOM file to be whole (it may still be being
 * written), so with a full path this helper waits in short steps (0.05 s, doubling to 1 s) and,
 * when a step ends without the file, looks at it (getFile): present but not whole and unchanged
 * after READ_RETRY_SETTLE (0.2 s) -> null (~0.3 s for a file already cut). Through a remote
 * runtime that anonymizes, a cut DICOM cannot be fetched (refused: it cannot be anonymized), so
 * growth cannot be seen: refused for READ_RETRY_SETTLE_UNSEEN (1 s) -> null (~1.1 s). A bare file
 * name (no folder) cannot be looked at (getFile needs a full path): it waits the timeout.
 *
 * Errors that say the call itself is wrong or cannot be made (no initWatch, a folder outside the
 * allowed ones, a type not allowed, the link down) are thrown; rt-cloud logged them and returned
 * None. timeout <= 0 is a ValidationError (rt-cloud: RequestError).
 */
export async function readRetryDicomFromDataInterface(dataInterface: WatchAccess, filename: string, timeout = 5): Promise<DicomDataset | null> {
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) {
    throw new ValidationError('readRetryDicomFromDataInterface: timeout parameter must be > 0 secs');
  }
  if (typeof filename !== 'string' || filename.length === 0) throw new ValidationError('readRetryDicomFromDataInterface: filename must be a non-empty string');
  const deadline = nowMs() + timeout * 1000;
  const canLook = isAbsolutePath(filename);
  let step = READ_RETRY_FIRST_LOOK;
  let broken: { bytes?: Uint8Array; since: number } | undefined;
  for (;;) {
    const remaining = (deadline - nowMs()) / 1000;
    if (remaining < 0.001) return null;
    const wait = canLook ? Math.min(remaining, broken ? READ_RETRY_SETTLE : step) : remaining;
    let data: Uint8Array | undefined;
    try {
      data = await dataInterface.watchFile(filename, wait);
    } catch (err) {
      if (isPhiRefusal(err) || errName(err) === 'NotFoundError') return null;
      if (errName(err) !== 'timeout') throw err;
    }
    if (data) {
      try {
        return readDicomFromBuffer(data);
      } catch {
        return null;
      }
    }
    if (!canLook) continue;
    const look = await lookAt(dataInterface, filename);
    if (look.kind === 'broken') {
      if (broken && look.bytes && broken.bytes && sameBytes(look.bytes, broken.bytes)) return null;
      if (broken && !look.bytes && !broken.bytes && nowMs() - broken.since >= READ_RETRY_SETTLE_UNSEEN * 1000) return null;
      if (!broken || look.bytes || broken.bytes) broken = { bytes: look.bytes, since: nowMs() };
    } else {
      broken = undefined;
      step = Math.min(step * 2, 1);
    }
  }
}

// ---------------------------------------------------------------- anonymization, volumes, names

/** rt-cloud's imageHandling.attributesToAnonymize: the 19 attributes its anonymizeDicom blanks. */
export const attributesToAnonymize: readonly string[] = [
  'PatientID', 'PatientAge', 'PatientBirthDate', 'PatientName',
  'PatientSex', 'PatientSize', 'PatientWeight', 'PatientPosition',
  'StudyDate', 'StudyTime', 'SeriesDate', 'SeriesTime',
  'AcquisitionDate', 'ContentDate', 'ContentTime',
  'InstanceCreationDate', 'InstanceCreationTime',
  'PerformedProcedureStepStartDate', 'PerformedProcedureStepStartTime',
];

let rtcloudProfile: AnonymizationProfile | undefined;

/**
 * dicom-wasm's default profile (PS3.15 Basic Profile with Modified Dates and Safe Private) with
 * rt-cloud's 19 attributes emptied where the profile would keep or shift them (PatientPosition,
 * the dates, StudyTime, ContentTime, ...); those it removes stay removed.
 */
export function rtcloudAnonymizationProfile(): AnonymizationProfile {
  if (rtcloudProfile) return rtcloudProfile;
  const actionOf = new Map<number, string>();
  for (const r of DEFAULT_PROFILE.rules) {
    const t = parseTagKey(r.tag);
    if (t !== undefined) actionOf.set(t, r.action);
  }
  const extra = attributesToAnonymize
    .filter((tag) => actionOf.get(parseTagKey(tag) ?? -1) !== 'X')
    .map((tag) => ({ tag, action: 'Z' as const, note: "rt-cloud's anonymizeDicom blanks it" }));
  rtcloudProfile = { ...DEFAULT_PROFILE, name: `${DEFAULT_PROFILE.name}+rtcloud`, rules: [...DEFAULT_PROFILE.rules, ...extra] };
  return rtcloudProfile;
}

/**
 * rt-cloud's anonymizeDicom(dicomImg), returning a NEW dataset (a DicomDataset is an immutable view
 * of its bytes; rt-cloud changed the pydicom object in place): use the return value. rt-cloud's 19
 * attributes (attributesToAnonymize) come back empty or absent, AcquisitionTime is kept; on top,
 * dicom-wasm's default profile (what the runtime applies before DICOM leaves the control room)
 * removes names, institutions and private data (except the Siemens CSA fields mosaics and slice
 * timing need), replaces UIDs and shifts other dates. `options` pass through to dicom-wasm's
 * anonymize (`options.profile` replaces the profile).
 */
export function anonymizeDicom(dicomImg: DicomDataset, options: AnonymizeOptions = {}): DicomDataset {
  return parseDicom(anonymize(dicomImg.toBytes(), { profile: rtcloudAnonymizationProfile(), ...options }));
}

/** parseDicomVolume's result: numpy's (sliceDim, sliceDim, nSlices) array in C order. */
export interface DicomVolume {
  /** [rows, columns, slices] of the volume (rows = columns = sliceDim). */
  shape: [number, number, number];
  /** volume[r, c, s] is data[(r * shape[1] + c) * shape[2] + s] (numpy C order), float64. */
  data: Float64Array;
}

/**
 * rt-cloud's parseDicomVolume(dicomImg, sliceDim): cuts a mosaic into sliceDim x sliceDim tiles, every
 * tile of the grid (empty ones too, as rt-cloud does: use mosaicToVolume or convertDicomImgToNifti
 * for only the real slices), as a float64 array volume[row, col, slice].
 */
export function parseDicomVolume(dicomImg: DicomDataset, sliceDim: number): DicomVolume {
  if (!Number.isInteger(sliceDim) || sliceDim <= 0) throw new ValidationError('parseDicomVolume: sliceDim must be a positive integer');
  const rows = dicomImg.getNumber('Rows');
  const cols = dicomImg.getNumber('Columns');
  const px = dicomImg.pixelData();
  if (!rows || !cols || px === undefined || Array.isArray(px)) throw new StateError('parseDicomVolume: no (uncompressed) pixel data');
  const image = px as ArrayLike<number>;
  if (image.length < rows * cols) throw new StateError('parseDicomVolume: pixel data shorter than Rows x Columns');
  const perRow = Math.floor(cols / sliceDim);
  const perCol = Math.floor(rows / sliceDim);
  const maxSlices = perRow * perCol;
  const data = new Float64Array(sliceDim * sliceDim * maxSlices).fill(NaN);
  let s = 0;
  for (let row = 0; row < perCol; row++) {
    for (let col = 0; col < perRow; col++) {
      const rpos = row * sliceDim;
      const cpos = col * sliceDim;
      for (let r = 0; r < sliceDim; r++) {
        for (let c = 0; c < sliceDim; c++) data[(r * sliceDim + c) * maxSlices + s] = Number(image[(rpos + r) * cols + cpos + c]);
      }
      s++;
    }
  }
  return { shape: [sliceDim, sliceDim, maxSlices], data };
}

/** The config fields getDicomFileName reads (rt-cloud's cfg: a toml/json StructDict). */
export interface DicomNameConfig {
  dicomNamePattern?: string | null;
  dicomDir: string;
}

function joinPath(dir: string, name: string): string {
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) return name;
  if (dir === '') return name;
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}

/**
 * rt-cloud's getDicomFileName(cfg, scanNum, fileNum): cfg.dicomDir joined with
 * cfg.dicomNamePattern filled in. A pattern with '{TR' is filled by name (SCAN=scanNum, TR=fileNum,
 * e.g. '001_{SCAN:06d}_{TR:06d}.dcm'); any other by position with the scan number zero-padded to 2
 * digits and the file number to 3 (e.g. '{}_{}.dcm' -> '13_005.dcm').
 */
export function getDicomFileName(cfg: DicomNameConfig, scanNum: number, fileNum: number): string {
  if (typeof scanNum !== 'number' || !(scanNum >= 0)) throw new ValidationError(`ScanNumber not supplied or invalid ${String(scanNum)}`);
  const pattern = cfg?.dicomNamePattern;
  if (pattern === undefined || pattern === null) throw new ValidationError('Missing config settings dicomNamePattern');
  let fileName: string;
  if (pattern.includes('{TR')) fileName = pyFormat(pattern, [], { SCAN: scanNum, TR: fileNum });
  else fileName = pyFormat(pattern, [String(scanNum).padStart(2, '0'), String(fileNum).padStart(3, '0')]);
  return joinPath(cfg.dicomDir, fileName);
}

/**
 * rt-cloud's dataInterface.isRunningRemote() (and clientInterface.isDataRemote()): true when the
 * DataInterface's calls go to a runtime elsewhere (dataRemote: true; the browser SDK always is).
 */
export function isRunningRemote(dataInterface: { dataRemote?: boolean; isRunningRemote?: () => boolean }): boolean {
  if (!dataInterface || typeof dataInterface !== 'object') throw new ValidationError('isRunningRemote(dataInterface): pass the DataInterface');
  if (typeof dataInterface.isRunningRemote === 'function') return dataInterface.isRunningRemote() === true;
  return dataInterface.dataRemote === true;
}

// ---------------------------------------------------------------- NIfTI

/**
 * rt-cloud's convertDicomImgToNifti(dicomImg, dicomFilename=None): the image as dcm2niix converts
 * it (rt-cloud ran dcm2niix on a temporary file; here the conversion runs in memory, no file and no
 * dcm2niix needed), as a NiftiImage { header, affine, data, shape, sliceTimes }. Also takes the
 * single-slice datasets of one volume. `dicomFilename` is accepted and ignored (rt-cloud's temporary
 * file name). A truncated or corrupt image: StateError "Failed to convert Dicom to Nifti. Dicom may
 * be corrupted".
 */
export function convertDicomImgToNifti(dicomImg: DicomDataset | DicomDataset[] | Uint8Array, dicomFilename?: string | null): NiftiImage {
  void dicomFilename;
  try {
    const ds = dicomImg instanceof Uint8Array ? parseDicom(dicomImg) : dicomImg;
    return dicomToNifti(ds);
  } catch (err) {
    throw new StateError(`Failed to convert Dicom to Nifti. Dicom may be corrupted (${(err as Error).message})`, { cause: err });
  }
}

/**
 * rt-cloud's getTransform(target_orientation, dicom_orientation): the orientation transform (nibabel's
 * ornt_transform) from the DICOM's axis codes to the target's, for saveAsNiftiImage (cfg.axesTransform).
 */
export function getTransform(targetOrientation: AxCodes | string, dicomOrientation: AxCodes | string): Orientation {
  return orntTransform(axcodes2ornt(dicomOrientation), axcodes2ornt(targetOrientation));
}

/**
 * The image rt-cloud's saveAsNiftiImage writes, in memory: nibabel's mosaic_to_nii of the DICOM,
 * reoriented by `axesTransform` (getTransform's result), with the reference image's header and
 * affine (nilearn's new_img_like(reference, data, copy_header=True): cal_min/cal_max set to the
 * data's range, scaling unset). The voxels keep the DICOM's integer type (rt-cloud wrote float64
 * data cast to the reference's type).
 */
export function niftiLikeReference(dicomDataObject: DicomDataset, axesTransform: Orientation, reference: NiftiImage): NiftiImage {
  const nii = mosaicToNii(dicomDataObject);
  const { data, shape } = applyOrientation(nii.data, nii.shape, axesTransform);
  const header = cloneHeader(reference.header);
  header.scl_slope = NaN;
  header.scl_inter = NaN;
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  header.cal_min = data.length ? mn : 0;
  header.cal_max = data.length ? mx : 0;
  return niftiImage(data, shape, reference.affine, header);
}
