// Signaling for WebRTC links: small plain-data messages carried by any Signaler. No Node-only imports.

/** Anything that carries signaling messages both ways: an RpcPeer (sendSignal/onSignal) fits. */
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

export function randomSessionId(): string {
  const b = new Uint8Array(9);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Signaling over an RpcPeer's SIGNAL frames (the relay forwards these between its two peers). */
export function peerSignaler(peer: { sendSignal(msg: unknown): void; onSignal(h: (msg: unknown) => void): () => void }): Signaler {
  return { send: (msg) => peer.sendSignal(msg), onSignal: (h) => peer.onSignal(h) };
}

/** Two in-process signalers wired to each other (tests, same-process peers). */
export function createLocalSignalerPair(): [Signaler, Signaler] {
  const handlers: [Array<(m: unknown) => void>, Array<(m: unknown) => void>] = [[], []];
  const make = (me: 0 | 1): Signaler => ({
    send: (msg) => {
      const copy = JSON.parse(JSON.stringify(msg));
      setTimeout(() => handlers[1 - me].forEach((h) => h(copy)), 0);
    },
    onSignal: (h) => {
      handlers[me].push(h);
      return () => {
        const i = handlers[me].indexOf(h);
        if (i >= 0) handlers[me].splice(i, 1);
      };
    },
  });
  return [make(0), make(1)];
}
