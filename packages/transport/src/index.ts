// @rtfmri/transport: browser-safe entry (no ws, node-datachannel or node:* imports).
// Node-only pieces (ws server/client links, WebRTC peer on node-datachannel): '@rtfmri/transport/node'.
export * from './errors.js';
export { type Link, type LinkState, type CloseInfo, BaseLink, createLocalLinkPair } from './link.js';
export {
  RpcPeer,
  expose,
  connect,
  currentCall,
  peerOf,
  withOptions,
  isForbiddenMethodName,
  IncomingStream,
  ByteStream,
  type Remote,
  type CallOptions,
  type CallContext,
  type RpcPeerOptions,
  type ExposeOptions,
  type ClientAuth,
  type ServerAuth,
  type Identity,
} from './rpc.js';
export { encodeInline, decodeInline, MAX_ERROR_MESSAGE, MAX_ERROR_DETAILS } from './codec.js';
export { BrowserWebSocketLink, connectBrowserWs } from './ws-browser.js';
export { ReconnectingClient, createReconnectingClient, type ReconnectOptions } from './reconnect.js';
export { hmacSha256, sha256 } from './hmac.js';
export { type Signaler, type WebRtcSignal, isWebRtcSignal, peerSignaler, createLocalSignalerPair } from './signal.js';
