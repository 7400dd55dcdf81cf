// @rtfmri/transport/node: everything from the main entry plus the Node-only links.
export * from './index.js';
export {
  WsLink,
  createWsServer,
  createWsClientLink,
  connectWs,
  DEFAULT_MAX_PAYLOAD,
  disableIncrementalMarking,
  type WsServer,
  type WsServerOptions,
  type WsClientOptions,
} from './ws-node.js';
export { NodeWebRtcLink, createNodeWebRtcLink, acceptWebRtc, connectWebRtc, cleanupWebRtc, WEBRTC_MAX_MESSAGE, LOOPBACK_MTU, type NodeWebRtcOptions } from './webrtc-node.js';
