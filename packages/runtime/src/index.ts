export {
  DataInterface,
  DATA_INTERFACE_METHODS,
  compileFilePattern,
  type DataInterfaceMethod,
  type DataInterfaceOptions,
  type FileAccess,
  type WorkRoute,
} from './data-interface.js';
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
export { PathPolicy, isWithin, realpathNearest } from './paths.js';
export { WatchHub, type WatchRoute } from './watcher.js';
export { ValidationError, NotFoundError, TimeoutError, StateError, DisconnectedError } from './errors.js';
