// WebRTC for browsers: a Link over a W3C RTCDataChannel, and the offering side of the negotiation.
// No Node-only imports.
//
// Chromium has no RTCPeerConnection inside Web Workers, but an RTCDataChannel can be transferred
// to one (in the task that created it). So the split is: `WebRtcOfferer` runs where
// RTCPeerConnection exists (the page) and hands out channels; `DataChannelLink` wraps a channel
// wherever it ends up (usually the worker that holds the SDK), so volume bytes never touch the
// page's main thread.
//
// Signaling matches the Node side (webrtc-node.ts): non-trickle, one offer and one answer, each
// SDP carrying its candidates: {kind:'webrtc', session, sdp, type}, and {..., bye:true} on close.
import { BaseLink } from '../link.js';
import { DisconnectedError, TimeoutError } from '../errors.js';

/** Chromium's SCTP limit is 256 KiB; libdatachannel's default is the same. */
export const BROWSER_WEBRTC_MAX_MESSAGE = 256 * 1024;

export class DataChannelLink extends BaseLink {
  readonly kind = 'webrtc';
  maxMessageSize = BROWSER_WEBRTC_MAX_MESSAGE;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private openTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly channel: RTCDataChannel,
    options: { timeoutMs?: number; onClose?: () => void } = {},
  ) {
    super();
    this.lowWaterMark = 1024 * 1024;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = this.lowWaterMark;
    channel.addEventListener('message', (ev: MessageEvent) => {
      if (ev.data instanceof ArrayBuffer) this.deliver(new Uint8Array(ev.data));
      else this.close('text message on a binary link');
    });
    channel.addEventListener('bufferedamountlow', () => this.checkDrain());
    channel.addEventListener('close', () => this.markClosed('data channel closed'));
    channel.addEventListener('error', (ev: Event) => {
      const msg = (ev as RTCErrorEvent).error?.message ?? 'data channel error';
      this.markClosed(msg, new DisconnectedError(`not connected: ${msg}`));
    });
    const onOpen = () => {
      if (this.openTimer) clearTimeout(this.openTimer);
      this.markOpen();
    };
    if (channel.readyState === 'open') onOpen();
    else {
      channel.addEventListener('open', onOpen);
      this.openTimer = setTimeout(() => {
        if (this.state === 'connecting') this.close('data channel did not open', new TimeoutError('WebRTC data channel did not open in time'));
      }, options.timeoutMs ?? 10_000);
    }
    if (options.onClose) void this.closed.then(options.onClose);
  }

  get bufferedAmount(): number {
    return this.state === 'open' ? this.channel.bufferedAmount : 0;
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    this.assertOpen();
    let msg: Uint8Array;
    if (data instanceof Uint8Array) msg = data;
    else if (data.length === 1) msg = data[0];
    else {
      let n = 0;
      for (const p of data) n += p.byteLength;
      msg = new Uint8Array(n);
      let o = 0;
      for (const p of data) {
        msg.set(p, o);
        o += p.byteLength;
      }
    }
    if (msg.byteLength > this.maxMessageSize) throw new RangeError(`message of ${msg.byteLength} bytes exceeds ${this.maxMessageSize}`);
    this.channel.send(msg as Uint8Array<ArrayBuffer>);
  }

  protected armDrain(mark: number): void {
    // 'bufferedamountlow' fires only at the channel's threshold: poll for other marks.
    if (this.pollTimer || mark >= this.lowWaterMark) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.checkDrain();
    }, 2);
  }

  protected doClose(): void {
    if (this.openTimer) clearTimeout(this.openTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    try {
      this.channel.close();
    } catch {
      // already closed
    }
  }
}

export interface OffererOptions {
  /** Only host candidates: no STUN/TURN server is ever contacted. */
  iceServers?: RTCIceServer[];
  /** Wait at most this long for ICE gathering before sending the offer, ms. Default 2000. */
  gatherTimeoutMs?: number;
}

/**
 * The offering side, for wherever RTCPeerConnection exists. Three steps per session, so the
 * channel can be transferred to a worker in the task that created it:
 *   create(session) -> channel (transfer it now)   offer(session) -> SDP   answer(session, SDP)
 */
export class WebRtcOfferer {
  private pcs = new Map<string, RTCPeerConnection>();

  constructor(private readonly options: OffererOptions = {}) {}

  static available(): boolean {
    return typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function';
  }

  create(session: string): RTCDataChannel {
    this.close(session);
    const pc = new RTCPeerConnection({ iceServers: this.options.iceServers ?? [] });
    this.pcs.set(session, pc);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.close(session);
    });
    return pc.createDataChannel('rtfmri', { ordered: true });
  }

  async offer(session: string): Promise<string> {
    const pc = this.pcs.get(session);
    if (!pc) throw new DisconnectedError(`not connected: no WebRTC session ${session}`);
    await pc.setLocalDescription();
    await waitGathered(pc, this.options.gatherTimeoutMs ?? 2000);
    const sdp = pc.localDescription?.sdp;
    if (!sdp || !/a=candidate:/.test(sdp)) throw new DisconnectedError('not connected: no ICE candidate gathered (no network interface for WebRTC)');
    return sdp;
  }

  async answer(session: string, sdp: string): Promise<void> {
    const pc = this.pcs.get(session);
    if (!pc) throw new DisconnectedError(`not connected: no WebRTC session ${session}`);
    await pc.setRemoteDescription({ type: 'answer', sdp });
  }

  close(session: string): void {
    const pc = this.pcs.get(session);
    if (!pc) return;
    this.pcs.delete(session);
    try {
      pc.close();
    } catch {
      // closed
    }
  }

  closeAll(): void {
    for (const s of [...this.pcs.keys()]) this.close(s);
  }
}

function waitGathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(t);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}
