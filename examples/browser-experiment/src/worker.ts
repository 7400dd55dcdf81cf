// The page's SDK worker: the SDK's worker plus @cornerstonejs/dicom-image-loader's codecs for
// compressed pixel data, loaded on the first compressed volume only.
import { exposeWorker } from '@rtfmri/sdk/browser';

exposeWorker(async () => (await import('./decode.js')).cornerstoneDecoder);
