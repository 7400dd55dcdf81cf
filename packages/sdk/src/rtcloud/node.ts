// rt-cloud's helpers that touch this machine's files (Node only): readDicomFromFile, writeDicomFile,
// findNewestFile, and the NIfTI file functions (convertDicomFileToNifti, readNifti,
// saveAsNiftiImage, getAxesForTransform). Thin wrappers over the browser-safe code in
// ./image-handling.ts and ../nifti/.

import fs from 'node:fs';
import path from 'node:path';
import { parseDicom, type DicomDataset } from '@rtfmri/dicom-wasm';
import { glob, writeFileAtomic } from '@rtfmri/files';
import { StateError, ValidationError } from '@rtfmri/transport';
import { aff2axcodes, type AxCodes, type Orientation } from '../nifti/orientation.js';
import { mosaicToNii } from '../nifti/dicom.js';
import { decodeNifti, encodeNifti, type NiftiImage } from '../nifti/image.js';
import { convertDicomImgToNifti, niftiLikeReference } from './image-handling.js';

/** rt-cloud's readDicomFromFile(filename): the file parsed (DicomParseError when it does not parse). */
export function readDicomFromFile(filename: string): DicomDataset {
  return parseDicom(new Uint8Array(fs.readFileSync(filename)));
}

/** rt-cloud's writeDicomFile(dicomImg, filename): writes the dataset's Part-10 bytes (atomically). */
export async function writeDicomFile(dicomImg: DicomDataset, filename: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(path.resolve(filename)), { recursive: true });
  await writeFileAtomic(filename, dicomImg.toBytes());
}

/**
 * rt-cloud's utils.findNewestFile(filepath, filepattern): the file matching the glob with the
 * newest status-change time (ctime) on this machine, or null. A pattern that is already absolute
 * is used as it is (Python's os.path.join); a relative one is taken in `filepath` ('' = the current
 * folder). Returns the path in the form asked (absolute when the pattern was).
 */
export function findNewestFile(filepath: string, filepattern: string): string | null {
  if (typeof filepath !== 'string' || typeof filepattern !== 'string') throw new ValidationError('findNewestFile(filepath, filepattern): strings expected');
  const full = path.isAbsolute(filepattern) ? filepattern : filepath === '' ? filepattern : path.join(filepath, filepattern);
  const entries = glob(full, { want: 'files' });
  let best: { p: string; ctime: number } | null = null;
  for (const e of entries) {
    let ctime: number;
    try {
      ctime = fs.statSync(e.path).ctimeMs;
    } catch {
      continue;
    }
    if (best === null || ctime > best.ctime) best = { p: e.path, ctime };
  }
  if (best === null) return null;
  return path.isAbsolute(full) ? best.p : path.relative(process.cwd(), best.p);
}

/** The file name dcm2niix's `-f` gives: '.nii' kept, '.nii.gz' kept, anything else gets '.nii'. */
function niftiPath(niftiFilename: string): { file: string; gzip: boolean } {
  if (niftiFilename.endsWith('.nii.gz')) return { file: niftiFilename, gzip: true };
  if (niftiFilename.endsWith('.nii')) return { file: niftiFilename, gzip: false };
  return { file: `${niftiFilename}.nii`, gzip: false };
}

/** Writes a NiftiImage as .nii (or .nii.gz when the name ends so), atomically. Returns the path. */
export async function saveNifti(img: NiftiImage, filename: string): Promise<string> {
  const { file, gzip } = niftiPath(filename);
  await fs.promises.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, encodeNifti(img, { gzip }));
  return file;
}

/**
 * rt-cloud's convertDicomFileToNifti(dicomFilename, niftiFilename): converts as dcm2niix `-s y -b n`
 * did (in this process, no dcm2niix needed) and writes the .nii (.nii.gz when the name ends so; a
 * name without either gets '.nii', as dcm2niix's -f did). A truncated or corrupt DICOM: StateError
 * "Failed to convert Dicom to Nifti. Dicom may be corrupted". Returns the path written.
 */
export async function convertDicomFileToNifti(dicomFilename: string, niftiFilename: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.promises.readFile(dicomFilename));
  } catch (err) {
    throw new StateError(`Failed to convert Dicom to Nifti. Dicom may be corrupted (${(err as Error).message})`, { cause: err });
  }
  return saveNifti(convertDicomImgToNifti(bytes), niftiFilename);
}

/**
 * rt-cloud's readNifti(niftiFilename, memCached=True): a .nii or .nii.gz file read whole into a
 * NiftiImage (always in memory; memCached is accepted for compatibility).
 */
export async function readNifti(niftiFilename: string, memCached = true): Promise<NiftiImage> {
  void memCached;
  return decodeNifti(new Uint8Array(await fs.promises.readFile(niftiFilename)));
}

/**
 * rt-cloud's saveAsNiftiImage(dicomDataObject, fullNiftiFilename, cfg, reference): the mosaic as
 * nibabel's mosaic_to_nii reads it, reoriented by cfg.axesTransform (getTransform's result), written
 * with the reference image's header and affine. `reference`: a NiftiImage (readNifti) or a path.
 * Returns fullNiftiFilename.
 */
export async function saveAsNiftiImage(
  dicomDataObject: DicomDataset, fullNiftiFilename: string, cfg: { axesTransform: Orientation }, reference: NiftiImage | string,
): Promise<string> {
  const ref = typeof reference === 'string' ? await readNifti(reference) : reference;
  await saveNifti(niftiLikeReference(dicomDataObject, cfg.axesTransform, ref), fullNiftiFilename);
  return fullNiftiFilename;
}

/**
 * rt-cloud's getAxesForTransform(startingDicomFile, cfg): [target_orientation, dicom_orientation],
 * the axis codes of cfg.ref_BOLD (a NIfTI file) and of the DICOM as mosaic_to_nii reads it; pass
 * them to getTransform.
 */
export async function getAxesForTransform(startingDicomFile: string, cfg: { ref_BOLD: string }): Promise<[AxCodes, AxCodes]> {
  const ref = await readNifti(cfg.ref_BOLD);
  const targetOrientation = aff2axcodes(ref.affine);
  const dicomOrientation = aff2axcodes(mosaicToNii(readDicomFromFile(startingDicomFile)).affine);
  return [targetOrientation, dicomOrientation];
}
