// @rtfmri/dicom-wasm/parse: reading only (parse, completeness, the dataset, the dictionaries'
// lookups, Siemens mosaic and CSA header): what a viewer or a browser worker needs, without the
// anonymizer, the writer or the Basic Profile table. The main entry point re-exports all of it.
// A bundler's dynamic import('@rtfmri/dicom-wasm/parse') keeps every export of this module: hence a
// module of its own rather than the main entry point.
export { ready, allocInput, inModuleMemory } from '../wasm.js';
export { parseDicom, isComplete, DicomDataset, INFLATE_LIMITS, defaultInflateLimit } from '../dataset.js';
export type { DicomElement, ParseOptions, PixelData } from '../dataset.js';
export { DicomParseError } from '../errors.js';
export { IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE, JPEG_BASELINE } from '../transfer-syntax.js';
export { tagOf, keywordOf, vrOf, parseTagKey, tagHex, dictionarySource } from '../dictionary.js';
export { privateEntry, privateEntriesOf, privateDictionarySource } from '../private-dictionary.js';
export type { PrivateEntry } from '../private-dictionary.js';
export { decodeValue, decodeText } from '../values.js';
export type { DicomValue } from '../values.js';
export { mosaicInfo, mosaicToVolume, sliceTimingOf, MosaicError } from '../mosaic.js';
export type { MosaicInfo, MosaicVolume, RoiBox } from '../mosaic.js';
export { parseCsaHeader, csaValues, isCsaHeader, CsaParseError } from '../csa.js';
export type { CsaElement, CsaHeader } from '../csa.js';
