// @rtfmri/dicom-wasm: DICOM Part 10 parsing, completeness checks, writing and anonymization.
// The structural walk runs in WebAssembly (src/core/walker.c); values decode lazily in TypeScript.
import { tagOf } from './dictionary.js';
import { setKeywordResolver } from './writer.js';

export { ready, allocInput, inModuleMemory } from './wasm.js';
export {
  parseDicom,
  isComplete,
  DicomDataset,
  IMPLICIT_VR_LE,
  EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
  DEFLATED_EXPLICIT_VR_LE,
} from './dataset.js';
export type { DicomElement, ParseOptions, PixelData } from './dataset.js';
export { DicomParseError } from './errors.js';
export { tagOf, keywordOf, vrOf, parseTagKey, tagHex, dictionarySource } from './dictionary.js';
export { decodeValue, decodeText } from './values.js';
export type { DicomValue } from './values.js';

// modules of the writer/anonymizer side of the package
export * from './writer.js';
export * from './csa.js';
export * from './synthetic.js';
export * from './profile.js';
export * from './anonymize.js';
export * from './mosaic.js';

// the writer resolves any standard keyword through the full dictionary
setKeywordResolver(tagOf);
