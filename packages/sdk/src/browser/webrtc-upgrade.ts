// Opens a direct WebRTC data channel to the runtime of a relay session: the relay carries only
// the signaling (SIGNAL frames), the volumes then flow browser <-> control room directly.
// The peer connection itself lives wherever RTCPeerConnection exists (the page); this side only
// needs a Negotiator (a WebRtcOfferer, or a comlink proxy of one) and gets the channel back.
import { DataChannelLink } from '@rtfmri/transport/browser';
import { DisconnectedError, isWebRtcSignal, randomSessionId, type Link } from '@rtfmri/transport';

/** What the offering side does (WebRtcOfferer's methods; may be async across a worker boundary). */
export interface Negotiator {
  create(session: string): RTCDataChannel | Promise<RTCDataChannel>;
  offer(session: string): string | Promise<string>;
  answer(session: string, sdp: string): void | Promise<void>;
  close(session: string): void | Promise<void>;
}

/** The relay client's signaling of the current session (RelayClient fits). */
export interface SessionSignaling {
  sendSignal(msg: unknown): void;
  onSignal(handler: (msg: unknown) => void): () => void;
}

/**
 * Negotiates one data channel over `signaling`; resolves with the open link. The link closes when
 * `session` (the relay session it was negotiated on) closes, so a runtime that goes away is seen at
 * once, not after an ICE timeout.
 */
export async function openDataChannel(
  signaling: SessionSignaling,
  negotiator: Negotiator,
  session: Link,
  timeoutMs = 5000,
): Promise<DataChannelLink> {
  const id = randomSessionId();
  const channel = await negotiator.create(id);
  const link = new DataChannelLink(channel, { timeoutMs, onClose: () => void Promise.resolve(negotiator.close(id)).catch(() => {}) });
  const off = signaling.onSignal((msg) => {
    if (!isWebRtcSignal(msg) || msg.session !== id) return;
    if (msg.bye) return link.close('the runtime closed the data channel');
    if (msg.type === 'answer' && typeof msg.sdp === 'string') {
      Promise.resolve(negotiator.answer(id, msg.sdp)).catch((e: Error) =>
        link.close(`bad answer: ${e.message}`, new DisconnectedError(`not connected: ${e.message}`)),
      );
    }
  });
  const offSession = session.onClose((info) => link.close(`relay session ended (${info.reason})`));
  void link.closed.then(() => {
    off();
    offSession();
    try {
      signaling.sendSignal({ kind: 'webrtc', session: id, bye: true });
    } catch {
      // the relay session is gone already
    }
  });
  try {
    const sdp = await negotiator.offer(id);
    signaling.sendSignal({ kind: 'webrtc', session: id, type: 'offer', sdp });
    await link.opened;
  } catch (e) {
    link.close(`WebRTC negotiation failed: ${(e as Error).message}`);
    throw e;
  }
  return link;
}
