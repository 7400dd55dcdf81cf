// ROI masks from files (loaded on first use, a separate chunk): a NIfTI-1 mask (.nii / .nii.gz)
// placed into the run's voxel grid through both affines (scanner coordinates), or a DICOM mask in
// the run's own grid (a mosaic, or one slice). Nonzero voxels are the ROI.
//
// The NIfTI code is the SDK's (nibabel's mosaic_to_nii affine, the header's sform/qform), from
// @rtfmri/sdk/browser's helpers: only this lazily loaded chunk pulls it in.
import { mosaicToVolume, parseDicom, type DicomDataset } from '@rtfmri/dicom-wasm';
import { decodeNifti, invAffine, matmul, mosaicToNii } from '@rtfmri/sdk/browser';

export class MaskError extends Error {
  override name = 'MaskError';
}

export interface RunGrid {
  slices: number;
  rows: number;
  cols: number;
}

/** A mask in the run's grid: 1 for ROI voxels, slice-major (the mosaicToVolume layout). */
export interface RunMask extends RunGrid {
  mask: Uint8Array;
  voxels: number;
  /** How it was placed: 'affine' (NIfTI through both affines) or 'grid' (DICOM, same grid). */
  how: 'affine' | 'grid';
}

/** The run's grid of a volume (mosaic or one slice). */
export function gridOf(ds: DicomDataset): RunGrid {
  try {
    const v = mosaicToVolume(ds);
    return { slices: v.slices, rows: v.rows, cols: v.cols };
  } catch {
    return { slices: 1, rows: ds.getNumber('Rows') ?? 0, cols: ds.getNumber('Columns') ?? 0 };
  }
}

/** The voxel values of an uncompressed volume, slice-major. */
export function voxelsOf(ds: DicomDataset): ArrayLike<number> {
  try {
    return mosaicToVolume(ds).data;
  } catch {
    const px = ds.pixelData();
    if (!px || Array.isArray(px)) throw new MaskError(`a mask ROI needs uncompressed volumes here (this one is ${ds.transferSyntaxUID}); use a drawn box instead`);
    return px as ArrayLike<number>;
  }
}

const isDicom = (b: Uint8Array) => b.length > 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;

/** Places a mask file into the run's grid, given one volume of the run. */
export function maskForRun(bytes: Uint8Array, name: string, volume: DicomDataset): RunMask {
  const grid = gridOf(volume);
  const n = grid.slices * grid.rows * grid.cols;
  const mask = new Uint8Array(n);
  let how: RunMask['how'];
  if (isDicom(bytes)) {
    const ds = parseDicom(bytes);
    const g = gridOf(ds);
    if (g.slices !== grid.slices || g.rows !== grid.rows || g.cols !== grid.cols) {
      throw new MaskError(`${name}: a DICOM mask must be in the run's grid (${grid.slices} slices of ${grid.rows}x${grid.cols}); it has ${g.slices} of ${g.rows}x${g.cols}`);
    }
    const v = voxelsOf(ds);
    for (let i = 0; i < n; i++) mask[i] = v[i] !== 0 ? 1 : 0;
    how = 'grid';
  } else {
    let img;
    try {
      img = decodeNifti(bytes, { maxBytes: 512 << 20 });
    } catch (e) {
      throw new MaskError(`${name}: neither DICOM nor NIfTI-1 (${(e as Error).message})`);
    }
    let runAffine;
    try {
      runAffine = mosaicToNii(volume).affine;
    } catch (e) {
      throw new MaskError(`${name}: cannot place a NIfTI mask: the run's volumes give no mosaic geometry (${(e as Error).message})`);
    }
    // Run voxel (row, col, slice) -> scanner coordinates -> mask voxel (nearest).
    const m = matmul(invAffine(img.affine), runAffine);
    const [nx, ny, nz] = [img.shape[0], img.shape[1] ?? 1, img.shape[2] ?? 1];
    const d = img.data;
    for (let s = 0; s < grid.slices; s++)
      for (let r = 0; r < grid.rows; r++)
        for (let c = 0; c < grid.cols; c++) {
          const i = Math.round(m[0][0] * r + m[0][1] * c + m[0][2] * s + m[0][3]);
          const j = Math.round(m[1][0] * r + m[1][1] * c + m[1][2] * s + m[1][3]);
          const k = Math.round(m[2][0] * r + m[2][1] * c + m[2][2] * s + m[2][3]);
          if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) continue;
          if (Number(d[i + nx * (j + ny * k)]) !== 0) mask[(s * grid.rows + r) * grid.cols + c] = 1;
        }
    how = 'affine';
  }
  let voxels = 0;
  for (let i = 0; i < n; i++) voxels += mask[i];
  if (!voxels) throw new MaskError(`${name}: no mask voxel falls inside the run's volume (${grid.slices}x${grid.rows}x${grid.cols})`);
  return { ...grid, mask, voxels, how };
}

/** Mean of the volume's voxels under the mask (the sum in voxel order, as the worker's box mean). */
export function maskMean(data: ArrayLike<number>, m: RunMask): number {
  let sum = 0;
  let n = 0;
  const mask = m.mask;
  for (let i = 0; i < mask.length; i++) if (mask[i]) (sum += data[i]), n++;
  return n ? sum / n : Number.NaN;
}
