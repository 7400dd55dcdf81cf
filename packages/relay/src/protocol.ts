// @rtfmri/relay/protocol: the relay's wire protocol and its two ends (the experiment's client, the
// runtime's connection), importable from browsers and Node alike: no Node built-ins here.
export * from './framing.js';
export {
  DATA_INTERFACE_METHODS, METHOD_ARGS, WAIT_TIMEOUT_ARG, SERIES_WATCH_OPTION_KEYS, checkArgs, checkCallOptions, splitCallOptions,
  effectiveWait, isPlainObject, describeValue, type DataInterfaceMethod, type DataCallOptions, type SeriesInfo, type SeriesWatchOptions,
} from './methods.js';
export { RelayClient, RelayRuntimeConnection, type RelayClientOptions, type RelayRuntimeOptions, type SessionEvent, type SessionInfo } from './peer.js';
export { ACTIVE_MS, SHARED_BULK_CHUNK, SHARED_BULK_MARK, SessionActivity, SessionLink, SessionSender } from './session-link.js';
export * from './tokens.js';
