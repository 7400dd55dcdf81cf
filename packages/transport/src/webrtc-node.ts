// WebRTC data channel Link for Node on node-datachannel (libdatachannel). No STUN/TURN: host
// candidates only, bound to `bindAddress` (default 127.0.0.1: libdatachannel skips loopback otherwise).
// Signaling is a handful of plain messages carried by any Signaler (in the product: the relay's
// SIGNAL frames of an authenticated session).
import { createRequire } from 'node:module';
import type NodeDataChannel from 'node-datachannel';
import { BaseLink } from './link.js';
import { DisconnectedError, StateError, TimeoutError } from './errors.js';
import { type Signaler, type WebRtcSignal, isWebRtcSignal, randomSessionId } from './signal.js';

// node-datachannel is an optional peer: loaded on the first WebRTC use, so a process that only
// relays (the cloud relay) or only speaks WebSocket never needs its native binary.
let loaded: typeof NodeDataChannel | undefined;
function ndc(): typeof NodeDataChannel {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)('node-datachannel') as typeof NodeDataChannel;
    } catch (e) {
      throw new StateError(`WebRTC in Node needs the package node-datachannel ('npm install node-datachannel@0.33.4'): ${(e as Error).message}`);
    }
  }
  return loaded;
}

type PeerConnection = InstanceType<typeof NodeDataChannel.PeerConnection>;
type DataChannel = ReturnType<PeerConnection['createDataChannel']>;

/** libdatachannel's default SCTP max message size: 256 KiB. */
export const WEBRTC_MAX_MESSAGE = 256 * 1024;

/**
 * The MTU used on loopback. Measured Node to Node in a private namespace (64 MiB call, upload,
 * 128 MiB stream): default 1200 -> 74-89 MB/s, 1500 -> 83-116, 4000 -> 151-251 MB/s; 6000 and
 * 9000 stalled the channel (datagrams over ~4 KiB do not get through libdatachannel's ICE layer,
 * whose receive buffers are 4 KiB), so stay below that.
 */
export const LOOPBACK_MTU = 4000;

function isLoopback(addr: string): boolean {
  return addr === '::1' || addr === 'localhost' || /^127\./.test(addr);
}

/** Take the `a=candidate` lines out of a description: [description without them, [candidate, mid]]. */
function splitCandidates(sdp: string): { sdp: string; candidates: Array<[string, string]> } {
  const lines = sdp.split(/\r?\n/);
  const kept: string[] = [];
  const candidates: Array<[string, string]> = [];
  // each media section's mid (its a=mid line may come after its candidates)
  const mids: string[] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) mids.push(String(mids.length));
    else if (line.startsWith('a=mid:') && mids.length) mids[mids.length - 1] = line.slice(6).trim();
  }
  let section = -1;
  for (const line of lines) {
    if (line.startsWith('m=')) section++;
    if (line.startsWith('a=candidate:')) candidates.push([line.slice(2), mids[Math.max(section, 0)] ?? '0']);
    // end-of-candidates would tell the ICE agent no candidates are coming; some still are
    else if (line !== 'a=end-of-candidates') kept.push(line);
  }
  return { sdp: kept.join('\r\n'), candidates };
}

export interface NodeWebRtcOptions {
  signaler: Signaler;
  /** The initiator creates the channel and sends the offer; the other side answers. */
  initiator: boolean;
  /** Pairs the two ends when several negotiations share one signaler; initiator picks it. */
  session?: string;
  bindAddress?: string;
  /**
   * Path MTU for SCTP over UDP (libdatachannel's default is 1200, safe on any network). Raise it
   * only where the path is known: fewer packets, more throughput. Default: LOOPBACK_MTU when
   * `bindAddress` is a loopback address (the peer is then on this host), else libdatachannel's.
   */
  mtu?: number;
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
  private haveRemote = false;
  private earlyCandidates: Array<[string, string]> = [];
  /** The initiator's candidates, held back from its offer until the answer is applied. */
  private ownCandidates: Array<[string, string]> = [];

  constructor(private options: NodeWebRtcOptions) {
    super();
    this.lowWaterMark = 1024 * 1024;
    this.session = options.session ?? randomSessionId();
    const { signaler } = options;
    const bindAddress = options.bindAddress ?? '127.0.0.1';
    const mtu = options.mtu ?? (isLoopback(bindAddress) ? LOOPBACK_MTU : undefined);
    this.pc = new (ndc().PeerConnection)(`rtfmri-${options.initiator ? 'a' : 'b'}`, {
      iceServers: [],
      bindAddress,
      maxMessageSize: WEBRTC_MAX_MESSAGE,
      ...(mtu ? { mtu } : {}),
    });
    const session = this.session;
    // Send the description once gathering is complete (host candidates on loopback gather at
    // once). The answer carries its candidates; the offer does not: the initiator sends its
    // candidates only after it has applied the answer (see handleSignal), so the answerer cannot
    // start connectivity checks, and with them DTLS, before then.
    let sent = false;
    const sendDescription = () => {
      const d = this.pc.localDescription();
      if (sent || !d || this.pc.gatheringState() !== 'complete') return;
      sent = true;
      if (options.initiator) {
        const { sdp, candidates } = splitCandidates(d.sdp);
        this.ownCandidates = candidates;
        this.safeSignal({ kind: 'webrtc', session, sdp, type: d.type as string });
      } else this.safeSignal({ kind: 'webrtc', session, sdp: d.sdp, type: d.type as string });
    };
    this.pc.onLocalDescription(() => sendDescription());
    this.pc.onGatheringStateChange(() => sendDescription());
    this.pc.onStateChange((state) => {
      if (state === 'failed' || state === 'closed' || state === 'disconnected') {
        this.markClosed(`peer connection ${state}`, new DisconnectedError(`not connected: peer connection ${state}`));
        this.cleanup();
      }
    });
    this.unsubSignal = signaler.onSignal((msg) => this.handleSignal(msg));
    if (options.initiator) this.attach(this.pc.createDataChannel(options.label ?? 'rtfmri'));
    else this.pc.onDataChannel((dc) => this.attach(dc));
    this.openTimer = setTimeout(() => {
      if (this.state === 'connecting') this.close('data channel did not open', new TimeoutError('WebRTC data channel did not open in time'));
    }, options.timeoutMs ?? 10_000);
    this.openTimer.unref?.();
  }

  /** Apply one signaling message (those for other sessions are ignored). */
  handleSignal(msg: unknown): void {
    if (!isWebRtcSignal(msg) || msg.session !== this.session || this.state === 'closed') return;
    try {
      if (typeof msg.sdp === 'string' && (msg.type === 'offer' || msg.type === 'answer')) {
        if (this.haveRemote) return; // a duplicate offer/answer
        // libdatachannel hands a remote description to the ICE agent before it records it for
        // the DTLS fingerprint check. If ICE can complete in that window (the peer already has
        // our candidates and is checking, or the description's candidates are tried at once),
        // DTLS can finish on another thread, fail the fingerprint check ("certificate verify
        // failed"), fail the connection, and the description's candidates then meet a torn-down
        // ICE transport ("Got a remote candidate without ICE transport"). Seen under CPU load.
        // So no check may start before this call returns: the description goes in without its
        // candidates, they are added afterwards, and only then does the initiator send its own.
        const { sdp, candidates } = splitCandidates(msg.sdp);
        this.pc.setRemoteDescription(sdp, msg.type);
        this.haveRemote = true;
        const early = this.earlyCandidates;
        this.earlyCandidates = [];
        for (const [c, mid] of [...candidates, ...early]) this.pc.addRemoteCandidate(c, mid);
        const own = this.ownCandidates;
        this.ownCandidates = [];
        for (const [candidate, mid] of own) this.safeSignal({ kind: 'webrtc', session: this.session, candidate, mid });
      } else if (typeof msg.candidate === 'string') {
        const mid = typeof msg.mid === 'string' ? msg.mid : '0';
        // Candidates can overtake the description (callbacks come from libdatachannel's threads).
        if (this.haveRemote) this.pc.addRemoteCandidate(msg.candidate, mid);
        else this.earlyCandidates.push([msg.candidate, mid]);
      } else if (msg.bye) this.close('peer said bye');
    } catch (e) {
      this.close(`bad signal: ${(e as Error).message}`, new DisconnectedError(`not connected: ${(e as Error).message}`));
    }
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

/**
 * Answer every WebRTC offer that arrives on `signaler`: each new session becomes a link passed to
 * `onLink` (wrap it in an RpcPeer there). Returns a function that stops listening.
 */
export function acceptWebRtc(
  signaler: Signaler,
  onLink: (link: NodeWebRtcLink) => void,
  options: Omit<NodeWebRtcOptions, 'signaler' | 'initiator' | 'session'> = {},
): () => void {
  const sessions = new Set<string>();
  return signaler.onSignal((msg) => {
    if (!isWebRtcSignal(msg) || msg.type !== 'offer' || sessions.has(msg.session)) return;
    sessions.add(msg.session);
    const link = new NodeWebRtcLink({ ...options, signaler, initiator: false, session: msg.session });
    void link.closed.then(() => sessions.delete(msg.session));
    link.handleSignal(msg);
    onLink(link);
  });
}

/**
 * Open an initiator link and wait until it is open, retrying with a fresh session when
 * negotiation fails (libdatachannel now and then refuses a description under load). The other
 * end answers with acceptWebRtc. Rejects with the last error after `attempts` tries.
 */
export async function connectWebRtc(
  options: Omit<NodeWebRtcOptions, 'initiator' | 'session'> & { attempts?: number },
): Promise<NodeWebRtcLink> {
  const { attempts = 3, ...rest } = options;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const link = new NodeWebRtcLink({ ...rest, initiator: true });
    try {
      await link.opened;
      return link;
    } catch (e) {
      last = e;
      link.close('negotiation failed');
    }
  }
  throw last;
}

/** Free libdatachannel's threads so the process can exit (call once, at the very end). */
export function cleanupWebRtc(): void {
  loaded?.cleanup();
}
