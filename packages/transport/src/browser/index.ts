// @rtfmri/transport/browser: links that need browser APIs (RTCPeerConnection / RTCDataChannel).
export { DataChannelLink, WebRtcOfferer, BROWSER_WEBRTC_MAX_MESSAGE, type OffererOptions } from './webrtc-browser.js';
