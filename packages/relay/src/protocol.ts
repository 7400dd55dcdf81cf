// @rtfmri/relay/protocol: the relay's wire protocol and its two ends (the experiment's client, the
// runtime's connection), importable from browsers and Node alike: no Node built-ins here.
export * from './framing.js';
export { DATA_INTERFACE_METHODS, type DataInterfaceMethod } from './methods.js';
export { RelayClient, RelayRuntimeConnection, type RelayClientOptions, type RelayRuntimeOptions, type SessionEvent, type SessionInfo } from './peer.js';
export { SessionLink, SessionSender } from './session-link.js';
export * from './tokens.js';
