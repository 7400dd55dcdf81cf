// Signaling for WebRTC links: small plain-data messages carried by any Signaler (in the product,
// the relay's SIGNAL frames of an authenticated session). No Node-only imports.
import { hex, randomBytes } from './bytes.js';

/** Anything that carries signaling messages both ways. */
export interface Signaler {
  send(msg: WebRtcSignal): void;
  onSignal(handler: (msg: unknown) => void): () => void;
}

/** One signaling message: an SDP offer/answer, an ICE candidate, or bye. */
export interface WebRtcSignal {
  kind: 'webrtc';
  session: string;
  sdp?: string;
  type?: string;
  candidate?: string;
  mid?: string;
  bye?: boolean;
}

export function isWebRtcSignal(m: unknown): m is WebRtcSignal {
  return !!m && typeof m === 'object' && (m as WebRtcSignal).kind === 'webrtc' && typeof (m as WebRtcSignal).session === 'string';
}

/** A fresh id that pairs the messages of one negotiation. */
export function randomSessionId(): string {
  return hex(randomBytes(9));
}
