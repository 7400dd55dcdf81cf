// The runtime's WebRTC answerer, from the runtime's build (exported by path until the package index
// exports it).
export * from '../../../../packages/runtime/dist/serve/webrtc-answer.js';
