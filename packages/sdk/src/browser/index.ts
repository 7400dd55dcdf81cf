// @rtfmri/sdk, browser entry: the DataInterface and what goes with it (core.ts), the DICOM reader
// and rt-cloud's helpers that need no file system, with NIfTI (helpers.ts).
//
// Everything here is side-effect free (package.json "sideEffects"): a bundler keeps what a page
// uses, and the page thread gets no DICOM code unless it calls getImageData or parses itself. The
// halves are apart for bundles made with them as entries (every export of an entry is kept): a
// standalone build's page entry is core.ts.
export * from './core.js';
export * from './helpers.js';
