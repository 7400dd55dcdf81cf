// @rtfmri/transport: browser-safe entry (no ws, node-datachannel or node:* imports).
// Node-only pieces (ws server/client links, WebRTC peer on node-datachannel): '@rtfmri/transport/node'.
export * from './errors.js';
export { type Link, type LinkState, type CloseInfo, BaseLink, createLocalLinkPair } from './link.js';
export { RpcPeer } from './peer.js';
export { expose, connect, peerOf, withOptions, type Remote, type ExposeTarget } from './stub.js';
export { currentCall } from './calls.js';
export { isForbiddenMethodName, type CallOptions, type CallContext, type RpcPeerOptions, type HeartbeatOptions, type ExposeOptions } from './options.js';
export { IncomingStream } from './incoming-stream.js';
export { Liveness, watchLiveness, type LivenessOptions } from './liveness.js';
export { ByteStream, encodeInline, decodeInline, MAX_ERROR_MESSAGE, MAX_ERROR_DETAILS } from './codec.js';
export { MAX_INFLATED_VALUE, MAX_INFLATE_RATIO, INFLATE_FLOOR } from './frames.js';
export { BrowserWebSocketLink, connectBrowserWs } from './ws-browser.js';
export { concatParts, hex, randomBytes } from './bytes.js';
export { hmacSha256, sha256, timingSafeEqual } from './hmac.js';
export { type Signaler, type WebRtcSignal, isWebRtcSignal, randomSessionId } from './signal.js';
