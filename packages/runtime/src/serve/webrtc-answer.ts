// The runtime's side of browser WebRTC: answers offers that arrive as SIGNAL frames on a relay
// session, and serves each opened data channel exactly like the relay session itself. Each
// browser gets its own channel; when its relay session closes (page closed, relay gone), its
// channels close too, so nothing is left behind on this side.
import { createNodeWebRtcLink, isWebRtcSignal, type NodeWebRtcLink } from '@rtfmri/transport/node';
import type { Link } from '@rtfmri/transport';
import type { RelayRuntimeConnection } from '@rtfmri/relay/protocol';

export interface WebRtcAnswerOptions {
  /**
   * Local address for ICE host candidates: one the browsers can reach (the control room's LAN
   * address). Default: RTFMRI_WEBRTC_BIND, else 127.0.0.1. No STUN/TURN server is ever contacted.
   */
  bindAddress?: string;
  /** Give up on a channel that has not opened within this, ms. Default 10000. */
  timeoutMs?: number;
  /** Channels per relay session at once (a misbehaving page cannot exhaust this side). Default 4. */
  maxPerSession?: number;
  log?: (line: string) => void;
}

const answerers = new WeakMap<RelayRuntimeConnection, true>();

/**
 * Answer WebRTC offers on every session of `conn` (idempotent per connection); `serve` gets each
 * open channel (serve it with the same allow-listed RPC as the relay session).
 */
export function answerWebRtcOffers(
  conn: RelayRuntimeConnection,
  serve: (link: Link, sid: number) => void,
  opts: WebRtcAnswerOptions = {},
): void {
  if (answerers.has(conn)) return;
  answerers.set(conn, true);
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const bindAddress = opts.bindAddress ?? env?.RTFMRI_WEBRTC_BIND ?? '127.0.0.1';
  const max = opts.maxPerSession ?? 4;
  const links = new Map<string, NodeWebRtcLink>();
  conn.onSignal((sid, msg) => {
    if (!isWebRtcSignal(msg)) return;
    const key = `${sid}/${msg.session}`;
    const known = links.get(key);
    if (known) return known.handleSignal(msg);
    if (msg.type !== 'offer' || typeof msg.sdp !== 'string') return;
    const session = conn.sessions.get(sid);
    if (!session) return;
    let mine = 0;
    for (const k of links.keys()) if (k.startsWith(`${sid}/`)) mine++;
    if (mine >= max) {
      opts.log?.(`session ${sid}: refused a WebRTC offer (${mine} channels open already)`);
      return conn.sendSignal(sid, { kind: 'webrtc', session: msg.session, bye: true });
    }
    const link = createNodeWebRtcLink({
      // Signals for this link are routed here by key, so the link itself subscribes to nothing.
      signaler: { send: (m) => conn.sendSignal(sid, m), onSignal: () => () => {} },
      initiator: false,
      session: msg.session,
      bindAddress,
      timeoutMs: opts.timeoutMs,
    });
    links.set(key, link);
    const offSession = session.onClose(() => link.close('relay session closed'));
    let opened = false;
    void link.closed.then((info) => {
      links.delete(key);
      offSession();
      opts.log?.(opened ? `session ${sid}: WebRTC channel closed (${info.reason})` : `session ${sid}: WebRTC channel did not open (${info.reason})`);
    });
    link.handleSignal(msg);
    void link.opened.then(
      () => {
        opened = true;
        opts.log?.(`session ${sid}: WebRTC channel open`);
        serve(link, sid);
      },
      () => {},
    );
  });
  void conn.closed.then(() => {
    for (const l of links.values()) l.close('relay link closed');
  });
}
