// @rtfmri/sdk: what experiment code imports (Node entry).
export { DataInterface, type DataInterfaceOptions, type DataInterfaceApi, type CallOptions, type SeriesInfo, type SeriesWatchOptions } from './data-interface.js';
export { RemoteDataInterface, REMOTE_METHODS, type RemoteOptions } from './remote.js';
export { type PutFileData } from './data-interface.js';
export { type FileStream, type PutFileSource } from './file-transfer.js';
export { readLocalFile, writeLocalFile } from './local-files.js';
export { hostRelay, type HostedRelay, type HostRelayOptions } from './relay-host.js';
export { SubjectInterface, WebDisplayInterface, type FeedbackCarrier, type FeedbackMessage, type SubjectResponse, type DisplayEvent } from './feedback.js';
export { percentSignalChange, polyFit, detrend, RoiTimeCourse, type TimeCourseOptions, type TimeCoursePoint } from './signal.js';
import './feedback-local.js';
export { mintClientToken, mintRuntimeToken, METHOD_SCOPES, type MintClientOptions } from '@rtfmri/relay/protocol';
export {
  measureClockSkew,
  getDicomAcquisitionTime,
  getDicomRepetitionTime,
  timeToNextTR,
  nowSeconds,
  type ClockSource,
} from './timing.js';
export {
  uploadFilesFromList,
  downloadFilesFromList,
  uploadFolderToCloud,
  uploadFilesToCloud,
  downloadFolderFromCloud,
  downloadFilesFromCloud,
  type ProgressCallback,
  type TransferProgress,
} from './helpers.js';
export type { FileAccess } from './helpers.js';
export { DicomDataset, parseDicom, ready as dicomReady } from '@rtfmri/dicom-wasm';
export {
  ValidationError,
  NotFoundError,
  TimeoutError,
  StateError,
  DisconnectedError,
  ProtocolError,
  AuthError,
  CancelledError,
  RtfmriError,
} from '@rtfmri/transport';
// rt-cloud's helpers (imageHandling, utils) with their names and argument orders, and NIfTI-1
// (MOVING-FROM-RTCLOUD.md maps every rt-cloud function); the file-based ones are Node only.
export * from './rtcloud/index.js';
export {
  readDicomFromFile, writeDicomFile, findNewestFile, convertDicomFileToNifti, readNifti, saveNifti, saveAsNiftiImage,
  getAxesForTransform,
} from './rtcloud/node.js';
