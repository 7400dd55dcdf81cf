// The neurofeedback experiment: per TR, take the next volume from the scanner stream (through
// whatever DataInterface it is given: local, or remote through a relay), average the signal in
// a region of interest and turn it into feedback (percent change from a baseline).
import { mosaicToVolume, type DicomDataset, type RoiBox } from '@rtfmri/dicom-wasm';
import { syntheticRoi } from '@rtfmri/dicom-wasm/synthetic';
import type { DataInterfaceApi } from '@rtfmri/sdk';

export interface NeurofeedbackOptions {
  di: Pick<DataInterfaceApi, 'initScannerStream' | 'getImageData' | 'closeStream'>;
  imgDir: string;
  /** e.g. '001_000013_{TR:06d}.dcm' */
  filePattern: string;
  volumes: number;
  /** ROI box in volume coordinates (default: the synthetic run's ROI, 64x64x36 geometry). */
  roi?: RoiBox;
  /** Slices in the mosaic when the dataset does not say (anonymized CSA); default 36. */
  slices?: number;
  /** Volumes that form the baseline for percent signal change (default 5). */
  baselineVolumes?: number;
  /** Seconds to wait for each volume (default 10). */
  timeout?: number;
  /** First index of the stream (default 0). */
  firstIndex?: number;
  minFileSize?: number;
  anonymize?: boolean;
  /** Called as soon as each volume is received and analysed. */
  onVolume?: (r: VolumeResult) => void;
}

export interface VolumeResult {
  index: number;
  instanceNumber: number | undefined;
  /** Mean ROI intensity. */
  roiMean: number;
  /** Percent change from the baseline mean (NaN while the baseline is being collected). */
  feedback: number;
  /** performance.timeOrigin + performance.now() when the dataset was in hand (parsed). */
  receivedAt: number;
  dataset: DicomDataset;
}

/** Mean of the ROI box of a mosaic volume (works without the CSA header: slices from the option). */
export function roiMean(ds: DicomDataset, roi: RoiBox, slicesHint = 36): number {
  let data: ArrayLike<number>;
  let rows: number;
  let cols: number;
  try {
    const v = mosaicToVolume(ds);
    data = v.data;
    rows = v.rows;
    cols = v.cols;
  } catch {
    // No mosaic information left after anonymization: index the mosaic directly.
    const mRows = Number(ds.get('Rows'));
    const mCols = Number(ds.get('Columns'));
    const grid = Math.ceil(Math.sqrt(slicesHint));
    rows = mRows / grid;
    cols = mCols / grid;
    const px = ds.pixelData();
    if (!px || Array.isArray(px)) throw new Error('no uncompressed pixel data');
    const mosaic = px as ArrayLike<number>;
    let sum = 0;
    let n = 0;
    for (let s = roi.slice0; s < roi.slice1; s++) {
      const tr = Math.floor(s / grid) * rows;
      const tc = (s % grid) * cols;
      for (let r = roi.row0; r < roi.row1; r++)
        for (let c = roi.col0; c < roi.col1; c++) {
          sum += mosaic[(tr + r) * mCols + tc + c]!;
          n++;
        }
    }
    return n ? sum / n : NaN;
  }
  let sum = 0;
  let n = 0;
  for (let s = roi.slice0; s < roi.slice1; s++)
    for (let r = roi.row0; r < roi.row1; r++)
      for (let c = roi.col0; c < roi.col1; c++) {
        sum += data[(s * rows + r) * cols + c]!;
        n++;
      }
  return n ? sum / n : NaN;
}

export async function runNeurofeedback(opts: NeurofeedbackOptions): Promise<VolumeResult[]> {
  const roi = opts.roi ?? syntheticRoi();
  const baselineN = opts.baselineVolumes ?? 5;
  const id = await opts.di.initScannerStream(opts.imgDir, opts.filePattern, opts.minFileSize ?? 0, opts.anonymize ?? true);
  const results: VolumeResult[] = [];
  let baseline = NaN;
  try {
    for (let k = 0; k < opts.volumes; k++) {
      const index = (opts.firstIndex ?? 0) + k;
      const ds = await opts.di.getImageData(id, k === 0 ? index : null, opts.timeout ?? 10);
      const receivedAt = performance.timeOrigin + performance.now();
      const mean = roiMean(ds, roi, opts.slices);
      if (k + 1 === baselineN) baseline = (results.reduce((a, r) => a + r.roiMean, 0) + mean) / baselineN;
      const inst = Number(ds.get('InstanceNumber'));
      const r: VolumeResult = {
        index,
        instanceNumber: Number.isFinite(inst) ? inst : undefined,
        roiMean: mean,
        feedback: Number.isNaN(baseline) ? NaN : ((mean - baseline) / baseline) * 100,
        receivedAt,
        dataset: ds,
      };
      results.push(r);
      opts.onVolume?.(r);
    }
  } finally {
    await opts.di.closeStream(id).catch(() => {});
  }
  return results;
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** A feedback bar for a terminal: one block per 0.5 % (capped). */
export function bar(feedback: number): string {
  if (Number.isNaN(feedback)) return '(baseline)';
  const n = Math.min(20, Math.round(Math.abs(feedback) / 0.5));
  return (feedback >= 0 ? '+' : '-') + '#'.repeat(n);
}
