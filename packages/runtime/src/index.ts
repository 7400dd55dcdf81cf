export {
  DataInterface,
  DATA_INTERFACE_METHODS,
  compileFilePattern,
  MAX_TR_WIDTH,
  MAX_TIMEOUT_SEC,
  PHI_POLICIES,
  type PhiPolicy,
  type DataInterfaceMethod,
  type DataInterfaceOptions,
  type DataCallOptions as CallOptions,
  type WorkRoute,
  type PutFileData,
  type FileStream,
  type RemoteFileStream,
  settleLocked,
} from './data-interface.js';
export { SeriesWatch, guessStreamPattern, type SeriesInfo, type SeriesWatchOptions } from './series.js';
export { PathPolicy } from './paths.js';
export { loadUidSecret } from './uid-secret.js';
export { WatchHub, routeFor, shareInfo, mountOf, lockedByWriter, type WatchRoute, type ShareInfo, type ShareProbe } from './watcher.js';
export { ValidationError, NotFoundError, TimeoutError, StateError, DisconnectedError } from './errors.js';
// The control-room service (serve) and replay.
export { RuntimeService, type RuntimeServiceOptions } from './serve/service.js';
export { startRuntimeServer, remoteFacade, serveSession, type RuntimeServer, type RuntimeServerOptions } from './serve/runtime-server.js';
export { FeedbackHub, feedbackHubOf } from './serve/feedback.js';
export { replayFiles, replayDir, findSeries, fillPattern, patternRegex, nowMs, type ReplaySource, type ReplayEvent, type ReplayOptions, type ReplayResult } from './serve/replay.js';
