// @rtfmri/dicom-wasm/synthetic: a synthetic Siemens-like EPI run (mosaic volumes, block design,
// ROI) for demos, tests and benchmarks without real data; and the seeded PRNG behind its noise.
export {
  syntheticEpiVolume,
  syntheticEpiSeries,
  syntheticEpiElements,
  syntheticMosaicPixels,
  syntheticRoi,
  roiMask,
  roiMean,
  blockDesign,
  sliceTimes,
} from '../synthetic.js';
export type { SyntheticEpiOptions } from '../synthetic.js';
export { rng } from '../rng.js';
