// The DICOM reader that `@rtfmri/sdk/browser` re-exports (parseDicom, DicomDataset, dicomReady).
//
// Bound as local constants, not `export { ... } from`: esbuild marks a module that re-exports
// live, and with code splitting a live module's static imports make the importing entry load their
// chunk. A plain re-export here made every page (even one that never touches DICOM) import the
// dicom-wasm chunk; unused constants are dropped, so a page bundles DICOM code only when it uses it.
import { DicomDataset as Dataset, parseDicom as parse, ready } from '@rtfmri/dicom-wasm/parse';

export const DicomDataset = Dataset;
export type DicomDataset = Dataset;
export const parseDicom = parse;
export const dicomReady = ready;
