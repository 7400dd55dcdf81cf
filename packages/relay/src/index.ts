// @rtfmri/relay: the cloud relay (Node). Routes experiment sessions to control-room runtimes by
// name; holds no files and no DICOM. The wire protocol's ends are also at '@rtfmri/relay/protocol'
// (browser-safe).
export * from './protocol.js';
export { Relay, sharedToken, tokenPolicyFromJson, grantAllows, CLIENT_BUFFER_DEFAULTS, type TokenPolicy, type RelayOptions, type RelayStats } from './relay.js';
export { startRelayServer, type RelayServer, type RelayServerOptions } from './server.js';
