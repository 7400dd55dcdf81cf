// Liveness of a physical link: one timer per link, any received frame counts as proof of life,
// the link is closed after `deadAfterMs` of silence. Used by the relay's framing (its own 1-byte
// PING/PONG frames) and by an RpcPeer that runs directly on a physical link (a WebRTC data
// channel: unsolicited PONG frames). Links carried inside another link (relay sessions) need none:
// the carrier's liveness covers them. No Node-only imports.
import { DisconnectedError } from './errors.js';
import type { Link } from './link.js';

export interface LivenessOptions {
  /** Silence after which the peer is declared dead, ms. */
  deadAfterMs: number;
  /**
   * Sent every `periodMs` (the silence is checked at each tick too, so a dead peer is noticed
   * within one period after deadAfterMs). Undefined: send nothing, only watch (the other end
   * pings and this end answers); the timer then wakes about once per deadAfterMs, not per period.
   */
  ping?: Uint8Array;
  /** Ping period, ms. Default deadAfterMs / 4. */
  periodMs?: number;
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

function unref(t: unknown): void {
  (t as { unref?: () => void }).unref?.();
}

/** A stall of our own event loop longer than this is not counted as the peer's silence. */
const STALL_MS = 50;

/**
 * Watches one link. The owner calls `heard()` for every frame it receives; the timer does the
 * rest. Stops by itself when the link closes.
 */
export class Liveness {
  private lastHeard = Date.now();
  /** When the armed timer is due (to tell a late timer, i.e. a stalled event loop). */
  private due = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly period: number;

  constructor(
    private readonly link: Link,
    private readonly opts: LivenessOptions,
  ) {
    this.period = Math.max(1, opts.periodMs ?? opts.deadAfterMs / 4);
    if (opts.ping) {
      // The first tick at the next multiple of the period (wall clock), then every period: the
      // links of one process with the same period then tick in the same event-loop turn (Node
      // keeps timers of one duration in one list), one wake-up for all of them.
      const first = this.period - (Date.now() % this.period);
      this.arm(first, () => {
        if (this.stopped) return;
        this.timer = setInterval(() => this.tick(), this.period);
        unref(this.timer);
        this.due = Date.now();
        this.tick();
      });
    } else {
      this.arm(opts.deadAfterMs, () => this.check());
    }
    link.onClose(() => this.stop());
  }

  /** A frame arrived from the peer. */
  heard(): void {
    this.lastHeard = Date.now();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number, f: () => void): void {
    this.due = Date.now() + ms;
    this.timer = setTimeout(f, ms);
    unref(this.timer);
  }

  /** Our own event loop stalled (GC, a long synchronous job): the peer's frames may be waiting unread. */
  private forgiveStall(now: number, nextDue: number): void {
    const late = now - this.due;
    this.due = nextDue;
    if (late > STALL_MS) this.lastHeard = Math.max(this.lastHeard, Math.min(now, this.lastHeard + late));
  }

  /** Pinging side: every period. */
  private tick(): void {
    const link = this.link;
    if (link.state === 'closed') return this.stop();
    const now = Date.now();
    this.forgiveStall(now, now + this.period);
    if (link.state === 'open') {
      try {
        link.send(this.opts.ping!);
      } catch {
        // closing; the close handler stops the timer
      }
    }
    if (now - this.lastHeard >= this.opts.deadAfterMs) this.verdict();
  }

  /** Watching side: once per deadAfterMs while frames keep coming. */
  private check(): void {
    if (this.stopped || this.link.state === 'closed') return this.stop();
    const now = Date.now();
    this.forgiveStall(now, now);
    const left = this.lastHeard + this.opts.deadAfterMs - now;
    if (left > 0) return this.arm(left, () => this.check());
    this.verdict();
  }

  /** Silent for deadAfterMs: look again once the I/O phase has read whatever already arrived. */
  private verdict(): void {
    const heardBefore = this.lastHeard;
    afterIo(() => {
      if (this.stopped || this.link.state === 'closed') return;
      if (this.lastHeard !== heardBefore) {
        if (!this.opts.ping) this.check();
        return;
      }
      this.stop();
      const silent = Date.now() - this.lastHeard;
      if (this.opts.onDead) this.opts.onDead(silent);
      else this.link.close(`no frame from the peer for ${silent} ms`, new DisconnectedError(`not connected: no frame from the peer for ${silent} ms`));
    });
  }
}

/** Starts watching `link` (see Liveness). */
export function watchLiveness(link: Link, options: LivenessOptions): Liveness {
  return new Liveness(link, options);
}
