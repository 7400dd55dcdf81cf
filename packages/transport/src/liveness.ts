// Liveness of a physical link: one timer per link, periodic pings, any received frame counts as
// proof of life, the link is closed after `deadAfterMs` of silence. Used by the relay's framing (its
// own 1-byte PING/PONG frames) and by an RpcPeer that runs directly on a physical link (a WebRTC
// data channel: unsolicited PONG frames). Links carried inside another link (relay sessions) need
// none: the carrier's liveness covers them. No Node-only imports.
import { DisconnectedError } from './errors.js';
import type { Link } from './link.js';

export interface LivenessOptions {
  /** Timer period, ms: a ping goes out (when `ping` is given) and the silence is checked this often. */
  periodMs: number;
  /** Silence after which the peer is declared dead, ms (noticed within one period after that). */
  deadAfterMs: number;
  /** Sent every period. Undefined: send nothing, only watch (the other end pings, this end answers). */
  ping?: Uint8Array;
  /**
   * Called once when the peer is declared dead, with the silence in ms. Default: close the link
   * with a DisconnectedError ("not connected: no frame from the peer for <n> ms").
   */
  onDead?: (silentMs: number) => void;
}

/** After the I/O poll phase (frames that were already waiting have been read by then). */
const afterIo: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0);

/**
 * Watches one link. The owner calls `heard()` for every frame it receives (a single store: no clock
 * read per frame); the timer does the rest. Stops by itself when the link closes.
 */
export class Liveness {
  private fresh = false;
  /** Time of the last tick that found a frame heard since the one before (or of the start). */
  private lastHeard: number;
  private lastTick: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private dead = false;

  constructor(
    private readonly link: Link,
    private readonly opts: LivenessOptions,
  ) {
    this.lastHeard = this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(), opts.periodMs);
    (this.timer as { unref?: () => void }).unref?.();
    link.onClose(() => this.stop());
  }

  /** A frame arrived from the peer. */
  heard(): void {
    this.fresh = true;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const link = this.link;
    if (link.state === 'closed') return this.stop();
    const now = Date.now();
    const late = now - this.lastTick - this.opts.periodMs;
    this.lastTick = now;
    if (this.fresh) {
      this.fresh = false;
      this.lastHeard = now;
    } else if (late > 50) {
      // Our own event loop stalled (GC, a long synchronous job): the peer's frames may be waiting
      // unread in the socket, so the stall does not count as the peer's silence.
      this.lastHeard += late;
    }
    const ping = this.opts.ping;
    if (ping && link.state === 'open') {
      try {
        link.send(ping);
      } catch {
        // closing; the close handler stops the timer
      }
    }
    // The peer's last frame came at most one period before lastHeard, so this is >= deadAfterMs
    // of real silence and at most one period more.
    if (now - this.lastHeard < this.opts.deadAfterMs) return;
    // Check again once the I/O phase has read whatever already arrived.
    afterIo(() => {
      if (this.fresh || this.dead || this.timer === undefined || link.state === 'closed') return;
      this.dead = true;
      this.stop();
      const silent = Date.now() - this.lastHeard;
      if (this.opts.onDead) this.opts.onDead(silent);
      else link.close(`no frame from the peer for ${silent} ms`, new DisconnectedError(`not connected: no frame from the peer for ${silent} ms`));
    });
  }
}

/** Starts watching `link` (see Liveness). */
export function watchLiveness(link: Link, options: LivenessOptions): Liveness {
  return new Liveness(link, options);
}
