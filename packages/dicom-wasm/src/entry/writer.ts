// @rtfmri/dicom-wasm/writer: the writer's building blocks (what the anonymizer and the synthetic
// series are made of) for callers that splice or re-encode elements themselves. writeDicom and
// encapsulated are on the main entry point.
export {
  writeDataSet,
  writeElementBytes,
  encodeValue,
  encodeHeader,
  encodeItemHeader,
  buildFileMeta,
  resolveTag,
  setKeywordResolver,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
} from '../writer.js';
export { LONG_VRS } from '../vr.js';
export { writeCsaHeader, filterCsaHeader } from '../csa.js';
export type { CsaElementInput } from '../csa.js';
