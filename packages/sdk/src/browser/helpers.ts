// The half of @rtfmri/sdk/browser that is not core.ts: the DICOM reader (parseDicom, DicomDataset,
// dicomReady) and rt-cloud's helpers that need no file system (readRetryDicomFromDataInterface,
// anonymizeDicom, parseDicomVolume, getDicomFileName, ...) with NIfTI-1 encode/decode and
// DICOM -> NIfTI. A standalone build makes it an entry of its own (rtfmri-helpers.js), so that a
// page that needs none of it loads none of it.
export * from './dicom.js';
export * from '../rtcloud/index.js';
