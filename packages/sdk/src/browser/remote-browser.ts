// The remote DataInterface in a browser (page or Web Worker): the relay is reached over the
// browser's WebSocket, and each runtime session is upgraded to a direct WebRTC data channel when
// the transport choice allows it. Same methods, same semantics as the Node SDK.
import { connectBrowserWs, RpcPeer, type Link } from '@rtfmri/transport';
import { WebRtcOfferer } from '@rtfmri/transport/browser';
import { RemoteDataInterface, type RemoteOptions } from '../remote.js';
import { STREAM_WINDOW } from '../file-transfer.js';
import { openDataChannel, type Negotiator } from './webrtc-upgrade.js';

/** 'webrtc': a direct channel or nothing; 'websocket': through the relay; 'auto': WebRTC, else the relay. */
export type TransportChoice = 'webrtc' | 'websocket' | 'auto';

export interface LinkStatus {
  connected: boolean;
  /** 'webrtc' (direct channel) or 'relay/ws' (through the relay); undefined while down. */
  link?: string;
  /** Why the direct channel is not used (auto fallback), or why the runtime is unreachable. */
  reason?: string;
}

export interface BrowserRemoteOptions extends Omit<RemoteOptions, 'dial' | 'upgrade'> {
  dataRemote?: true;
  transport?: TransportChoice;
  /** Where RTCPeerConnection lives (a page-side WebRtcOfferer, via comlink from a worker). Default: a local one when available. */
  negotiator?: Negotiator;
  /** How long to try for a direct channel before falling back (auto) or giving up (webrtc), ms. Default 5000. */
  webrtcTimeoutMs?: number;
  /** Told whenever the link in use changes. */
  onStatus?: (status: LinkStatus) => void;
}

export function createBrowserRemote(opts: BrowserRemoteOptions): RemoteDataInterface {
  const choice = opts.transport ?? 'auto';
  if (choice !== 'webrtc' && choice !== 'websocket' && choice !== 'auto') throw new RangeError(`transport must be 'webrtc', 'websocket' or 'auto', not '${String(choice)}'`);
  const negotiator = opts.negotiator ?? (WebRtcOfferer.available() ? new WebRtcOfferer() : undefined);
  const report = (s: LinkStatus) => {
    try {
      opts.onStatus?.(s);
    } catch {
      // a listener's failure must not break the connection
    }
  };
  const upgrade: RemoteOptions['upgrade'] = async ({ session, signaling }) => {
    // Nothing runs on the relay session while a channel is negotiated (it needs no heartbeat: the
    // relay link has one); it carries the RPC only when no channel opens (the fallback).
    const defaultTimeoutMs = opts.callTimeoutMs ?? 60_000;
    let reason: string | undefined;
    if (choice !== 'websocket') {
      try {
        if (!negotiator) throw new Error('WebRTC is not available here (no RTCPeerConnection)');
        const link = await openDataChannel(signaling, negotiator, session, opts.webrtcTimeoutMs ?? 5000);
        report({ connected: true, link: link.kind });
        void link.closed.then((info) => {
          report({ connected: false, reason: info.reason });
          // The channel died but the relay session did not (e.g. ICE failure): drop the relay link
          // so the SDK reconnects and negotiates again (or falls back), instead of staying stuck.
          if (session.state === 'open') (signaling as { close?: () => void }).close?.();
        });
        // The data channel is a physical link that nothing else watches: the RPC on it runs its
        // heartbeat (as the runtime's end does), so a vanished peer fails the calls within 2 s.
        return new RpcPeer(link, { defaultTimeoutMs, heartbeat: true, streamWindow: STREAM_WINDOW });
      } catch (e) {
        reason = `direct WebRTC channel failed: ${(e as Error).message}`;
        if (choice === 'webrtc') {
          report({ connected: false, reason });
          // No fallback wanted: drop the relay link after a pause, so the SDK reconnects and tries
          // again (nothing runs on the relay session until then).
          setTimeout(() => (signaling as { close?: () => void }).close?.(), 2000);
          throw e;
        }
      }
    }
    report({ connected: true, link: session.kind, reason });
    void session.closed.then((info) => report({ connected: false, reason: info.reason }));
    return session;
  };
  const { transport: _t, negotiator: _n, webrtcTimeoutMs: _w, onStatus: _s, dataRemote: _d, ...rest } = opts;
  return new RemoteDataInterface({ ...rest, dial: (url) => connectBrowserWs(url), upgrade });
}
