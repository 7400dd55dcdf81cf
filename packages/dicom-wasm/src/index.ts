// @rtfmri/dicom-wasm: DICOM Part 10 parsing, completeness checks, anonymization and writing.
// The structural walk runs in WebAssembly (src/core/walker.c); values decode lazily in TypeScript.
//
// The public API, listed by name. Test data generators are behind '@rtfmri/dicom-wasm/synthetic'
// and the writer's building blocks behind '@rtfmri/dicom-wasm/writer' (src/entry/).

// parse and completeness
export { ready, allocInput, inModuleMemory } from './wasm.js';
export { parseDicom, isComplete, DicomDataset, INFLATE_LIMITS, defaultInflateLimit } from './dataset.js';
export type { DicomElement, ParseOptions, PixelData } from './dataset.js';
export { DicomParseError } from './errors.js';
export { IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE, JPEG_BASELINE } from './transfer-syntax.js';

// dictionary and values
export { tagOf, keywordOf, vrOf, parseTagKey, tagHex, dictionarySource } from './dictionary.js';
export { privateEntry, privateEntriesOf, privateDictionarySource } from './private-dictionary.js';
export type { PrivateEntry } from './private-dictionary.js';
export { decodeValue, decodeText } from './values.js';
export type { DicomValue } from './values.js';

// anonymization
export { anonymize, anonymizeParsed } from './anonymize/index.js';
export type { AnonymizeOptions } from './anonymize/index.js';
export { createUidMap, newUidSecret, dateShiftOf } from './anonymize/uid-map.js';
export type { UidMap } from './anonymize/uid-map.js';
export {
  DEFAULT_PROFILE, basicProfile, BASIC_PROFILE_TABLE, BASIC_PROFILE_EDITION, BASIC_PROFILE_SOURCE, COMBINED_CODES,
  SAFE_PRIVATE, SAFE_CSA_ELEMENTS, RTCLOUD_BLANKED,
} from './anonymize/profile.js';
export type {
  AnonymizationAction, AnonymizationProfile, BasicProfileOptions, ProfileRule, SafePrivateRule, TemporalOption,
} from './anonymize/profile.js';

// Siemens mosaic and CSA header
export { mosaicInfo, mosaicToVolume, sliceTimingOf, MosaicError } from './mosaic.js';
export type { MosaicInfo, MosaicVolume, RoiBox } from './mosaic.js';
export { parseCsaHeader, csaValues, isCsaHeader, CsaParseError } from './csa.js';
export type { CsaElement, CsaHeader } from './csa.js';

// writing Part-10 files
export { writeDicom, encapsulated } from './writer.js';
export type { EncapsulatedValue, WriteElement, WriteItem, WriteOptions, WriteValue } from './writer.js';
