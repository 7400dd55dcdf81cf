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
// Remote data: relay, control-room service, replay (H5).
export { Relay, sharedToken, tokenPolicyFromJson, type TokenPolicy, type RelayOptions, type RelayStats } from './relay/relay.js';
export { startRelayServer, type RelayServer, type RelayServerOptions } from './relay/server.js';
export { RelayClient, RelayRuntimeConnection, type RelayClientOptions, type SessionEvent, type SessionInfo } from './relay/peer.js';
export { SessionLink } from './relay/session-link.js';
export { RuntimeService, type RuntimeServiceOptions } from './serve/service.js';
export { startRuntimeServer, remoteFacade, serveSession, type RuntimeServer, type RuntimeServerOptions } from './serve/runtime-server.js';
export { replayFiles, replayDir, findSeries, fillPattern, patternRegex, nowMs, type ReplaySource, type ReplayEvent, type ReplayOptions, type ReplayResult } from './serve/replay.js';
