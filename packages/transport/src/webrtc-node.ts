// WebRTC data channel Link for Node on node-datachannel (libdatachannel). No STUN/TURN: host
// candidates only, bound to `bindAddress` (default 127.0.0.1: libdatachannel skips loopback otherwise).
// Signaling is a handful of plain messages carried by any Signaler (e.g. an RpcPeer over the relay).
import nodeDataChannel from 'node-datachannel';
import { BaseLink } from './link.js';
import { DisconnectedError, TimeoutError } from './errors.js';
import { type Signaler, type WebRtcSignal, isWebRtcSignal, randomSessionId } from './signal.js';

type PeerConnection = InstanceType<typeof nodeDataChannel.PeerConnection>;
type DataChannel = ReturnType<PeerConnection['createDataChannel']>;

/** libdatachannel's default SCTP max message size: 256 KiB. */
export const WEBRTC_MAX_MESSAGE = 256 * 1024;

export interface NodeWebRtcOptions {
  signaler: Signaler;
  /** The initiator creates the channel and sends the offer; the other side answers. */
  initiator: boolean;
  /** Pairs the two ends when several negotiations share one signaler; initiator picks it. */
  session?: string;
  bindAddress?: string;
  /** Give up if the channel is not open within this, ms. Default 10000. */
  timeoutMs?: number;
  label?: string;
}

export class NodeWebRtcLink extends BaseLink {
  readonly kind = 'webrtc';
  maxMessageSize = WEBRTC_MAX_MESSAGE;
  readonly session: string;
  private pc: PeerConnection;
  // Holding the channel here keeps it from being garbage-collected mid-transfer (TOOLCHAIN.md).
  private dc: DataChannel | undefined;
  private unsubSignal: () => void;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private openTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private options: NodeWebRtcOptions) {
    super();
    this.lowWaterMark = 1024 * 1024;
    this.session = options.session ?? randomSessionId();
    const { signaler } = options;
    this.pc = new nodeDataChannel.PeerConnection(`rtfmri-${options.initiator ? 'a' : 'b'}`, {
      iceServers: [],
      bindAddress: options.bindAddress ?? '127.0.0.1',
      maxMessageSize: WEBRTC_MAX_MESSAGE,
    });
    const session = this.session;
    this.pc.onLocalDescription((sdp, type) => {
      this.safeSignal({ kind: 'webrtc', session, sdp, type: type as string });
    });
    this.pc.onLocalCandidate((candidate, mid) => {
      this.safeSignal({ kind: 'webrtc', session, candidate, mid });
    });
    this.pc.onStateChange((state) => {
      if (state === 'failed' || state === 'closed' || state === 'disconnected') {
        this.markClosed(`peer connection ${state}`, new DisconnectedError(`not connected: peer connection ${state}`));
        this.cleanup();
      }
    });
    this.unsubSignal = signaler.onSignal((msg) => {
      if (!isWebRtcSignal(msg) || msg.session !== this.session) return;
      try {
        if (msg.sdp !== undefined && msg.type) this.pc.setRemoteDescription(msg.sdp, msg.type as 'offer');
        else if (msg.candidate !== undefined) this.pc.addRemoteCandidate(msg.candidate, msg.mid ?? '0');
        else if (msg.bye) this.close('peer said bye');
      } catch (e) {
        this.close(`bad signal: ${(e as Error).message}`, new DisconnectedError(`not connected: ${(e as Error).message}`));
      }
    });
    if (options.initiator) this.attach(this.pc.createDataChannel(options.label ?? 'rtfmri'));
    else this.pc.onDataChannel((dc) => this.attach(dc));
    this.openTimer = setTimeout(() => {
      if (this.state === 'connecting') this.close('data channel did not open', new TimeoutError('WebRTC data channel did not open in time'));
    }, options.timeoutMs ?? 10_000);
    this.openTimer.unref?.();
  }

  private safeSignal(msg: WebRtcSignal): void {
    try {
      this.options.signaler.send(msg);
    } catch (e) {
      this.close(`signaling failed: ${(e as Error).message}`, new DisconnectedError('not connected: signaling failed'));
    }
  }

  private attach(dc: DataChannel): void {
    if (this.dc) return;
    this.dc = dc;
    dc.onOpen(() => {
      this.maxMessageSize = Math.min(WEBRTC_MAX_MESSAGE, dc.maxMessageSize() || WEBRTC_MAX_MESSAGE);
      if (this.openTimer) clearTimeout(this.openTimer);
      this.markOpen();
    });
    dc.onMessage((msg) => {
      if (typeof msg === 'string') return this.close('text message on a binary link');
      this.deliver(msg instanceof ArrayBuffer ? new Uint8Array(msg) : (msg as Uint8Array));
    });
    dc.onClosed(() => {
      this.markClosed('data channel closed');
      this.cleanup();
    });
    dc.onError((err) => {
      this.markClosed(`data channel error: ${err}`, new DisconnectedError(`not connected: ${err}`));
      this.cleanup();
    });
    dc.setBufferedAmountLowThreshold(this.lowWaterMark);
    dc.onBufferedAmountLow(() => this.checkDrain());
    if (dc.isOpen()) this.markOpen();
  }

  get bufferedAmount(): number {
    try {
      return this.dc && this.state === 'open' ? this.dc.bufferedAmount() : 0;
    } catch {
      return 0;
    }
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    this.assertOpen();
    let msg: Uint8Array;
    if (data instanceof Uint8Array) msg = data;
    else if (data.length === 1) msg = data[0];
    else msg = Buffer.concat(data as Uint8Array[]);
    if (msg.byteLength > this.maxMessageSize) throw new RangeError(`message of ${msg.byteLength} bytes exceeds ${this.maxMessageSize}`);
    if (!this.dc!.sendMessageBinary(msg)) {
      // libdatachannel queues internally and returns false when above its threshold; the bytes are kept.
    }
  }

  protected armDrain(mark: number): void {
    // onBufferedAmountLow fires at the channel threshold; also poll in case a different mark is wanted.
    if (this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.checkDrain();
    }, mark >= this.lowWaterMark ? 5 : 1);
  }

  protected doClose(): void {
    try {
      this.options.signaler.send({ kind: 'webrtc', session: this.session, bye: true });
    } catch {
      // signaling may be gone already
    }
    this.cleanup();
  }

  private cleanup(): void {
    this.unsubSignal();
    if (this.openTimer) clearTimeout(this.openTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    const dc = this.dc;
    const pc = this.pc;
    // Close after the current callback returns: libdatachannel dislikes closing from inside its callbacks.
    setTimeout(() => {
      try {
        dc?.close();
      } catch {
        /* closed */
      }
      try {
        pc.close();
      } catch {
        /* closed */
      }
    }, 0);
  }
}

/** Start a WebRTC link (returns at once in 'connecting' state; `await link.opened`). */
export function createNodeWebRtcLink(options: NodeWebRtcOptions): NodeWebRtcLink {
  return new NodeWebRtcLink(options);
}

/** Free libdatachannel's threads so the process can exit (call once, at the very end). */
export function cleanupWebRtc(): void {
  nodeDataChannel.cleanup();
}
