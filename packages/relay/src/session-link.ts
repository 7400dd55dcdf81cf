// A session link: one client<->runtime session carried inside a physical link to the relay.
// It is a full Link, so transport's RPC (expose / connect) runs over it unchanged, end to end.
import { DisconnectedError, type CloseInfo, type Link, type LinkState } from '@rtfmri/transport';
import { CONTROL_MIN, F, frameHeader, selectFrame } from './framing.js';

/** Frames below this size are calls, replies, credit and headers: they mark their session active. */
const SMALL_FRAME = 64 * 1024;
/** A session counts as active this long after its last small frame (a scanner stream's TR is 0.5-3 s). */
export const ACTIVE_MS = 5000;

const nowMs: () => number = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();

/** Alone, bulk data may have this much unacknowledged beyond its own socket's backlog. */
const BULK_SLACK = 3 << 20;
/** Replies to small calls may have this much unacknowledged before they wait for an ACK. */
const ACK_SLACK = 8 << 20;
/**
 * While another session of the link is active, a transfer sends chunks of SHARED_BULK_CHUNK and
 * sends the next one only while at most SHARED_BULK_MARK of it is in flight (unacknowledged,
 * wherever it is: this socket, the kernel, the relay): at most about half a MiB is ever ahead of
 * another session's reply, against 3 MiB with the RPC's 1 MiB chunks and mark (the bulk mark
 * over a 1 MiB slack).
 */
export const SHARED_BULK_CHUNK = 256 * 1024;
export const SHARED_BULK_MARK = 256 * 1024;
/**
 * Which sessions of one physical link had small frames (calls, replies) lately. A bulk transfer
 * keeps less in flight while another session is active: whatever it has in flight between here
 * and its client sits in the same socket and kernel buffers as the other session's replies, which
 * wait behind it (a ping from another client during a transfer: p50 2.8-4.5 ms with 3 MiB of
 * slack, 1.6-2.9 ms with 1 MiB, throughput alike on loopback). Alone, a transfer keeps the wider
 * slack: over a WAN a transfer moves about its bytes in flight per round trip.
 */
export class SessionActivity {
  private readonly last = new Map<number, number>();
  note(sid: number): void {
    this.last.set(sid, nowMs());
  }
  forget(sid: number): void {
    this.last.delete(sid);
  }
  /** Whether a session other than `sid` had a small frame within ACTIVE_MS. */
  othersActive(sid: number): boolean {
    if (this.last.size < 2 && (this.last.size === 0 || this.last.has(sid))) return false;
    const since = nowMs() - ACTIVE_MS;
    for (const [s, t] of this.last) if (s !== sid && t >= since) return true;
    return false;
  }
}

/**
 * Sends an RPC frame of session `sid` whose first byte is >= CONTROL_MIN: RAW, then the frame
 * itself (no copy: escaping it by a prefix would join the two, a copy of the whole chunk).
 */
export function sendRpcFrame(physical: Link, sid: number, data: Uint8Array | readonly Uint8Array[]): void {
  physical.send(frameHeader(F.Raw, sid));
  physical.send(data);
}

/**
 * The sending half of a physical link shared by sessions: remembers which session the last RPC
 * frame was for, and sends SELECT only when that changes (so RPC frames go out untouched).
 */
export class SessionSender {
  private current = -1;
  /** Small frames per session on this link, in both directions (see bulkBufferedAmount). */
  readonly activity = new SessionActivity();
  constructor(private readonly physical: Link) {}

  send(sid: number, data: Uint8Array | readonly Uint8Array[]): void {
    const first = data instanceof Uint8Array ? data : data.find((p) => p.byteLength > 0);
    if (!first || first.byteLength === 0) return;
    if (data instanceof Uint8Array ? data.byteLength < SMALL_FRAME : data.reduce((n, p) => n + p.byteLength, 0) < SMALL_FRAME) this.activity.note(sid);
    if (first[0]! >= CONTROL_MIN) {
      // Raw bytes that look like a control frame: announced (RAW + session id), then sent as they
      // are. The two are consecutive on the link: nothing else is sent between them.
      sendRpcFrame(this.physical, sid, data);
      return;
    }
    if (this.current !== sid) {
      this.physical.send(selectFrame(sid));
      this.current = sid;
    }
    this.physical.send(data);
  }
}

/**
 * After the current turn's microtasks (a woken waiter has sent by then). setImmediate where there
 * is one: setTimeout(0) waits at least 1 ms in Node, per waiting call; browsers (this file is
 * shared with the browser SDK) get setTimeout.
 */
const nextTurn: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (f) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(f)
    : (f) => void setTimeout(f, 0);

export class SessionLink implements Link {
  readonly kind: string;
  state: LinkState = 'open';
  readonly opened: Promise<void> = Promise.resolve();
  readonly closed: Promise<CloseInfo>;
  private resolveClosed!: (i: CloseInfo) => void;
  private messageHandlers: Array<(d: Uint8Array) => void> = [];
  private closeHandlers: Array<(i: CloseInfo) => void> = [];
  private early: Uint8Array[] | null = [];
  /**
   * Bytes sent and not yet acknowledged by the relay (flow control, when the relay does it); the
   * relay may hold back up to `ackSlack` of them while the client is fine.
   */
  private unacked = 0;
  private ackSlack = Infinity;
  /** The smaller allowance of bulk data (streams, big parts): see bulkBufferedAmount. */
  private bulkSlack = Infinity;
  /** The bulk mark while another session of the same link is active (SessionActivity); 0: flow is off. */
  private sharedMark = 0;
  private drainWaiters: Array<{ mark: number; bulk: boolean; resolve: () => void }> = [];
  private pumpScheduled = false;
  private physicalArmed = false;

  constructor(
    private readonly physical: Link,
    private readonly sender: SessionSender,
    readonly sid: number,
    /** Called once when this side closes the session (to tell the relay). */
    private readonly onLocalClose: (reason: string) => void,
  ) {
    this.kind = `relay/${physical.kind}`;
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  /** Own socket's backlog plus what the client has not taken yet beyond the relay's ack slack. */
  get bufferedAmount(): number {
    return this.physical.bufferedAmount + this.held();
  }

  /** The link the bytes actually leave on (its bufferedAmount is this process's own backlog). */
  get transportLink(): Link {
    return this.physical;
  }

  private held(): number {
    return this.unacked > this.ackSlack ? this.unacked - this.ackSlack : 0;
  }

  /**
   * What bulk data (the RPC's streams and multi-chunk parts) counts: the own socket's backlog plus
   * the session's unacknowledged bytes beyond a smaller slack than small replies get. A transfer
   * thus keeps only a few MiB in flight between here and its client (the relay's socket and the
   * kernel's buffers are FIFO: whatever is queued there, a small reply waits behind), while a
   * burst of volumes still goes out without waiting for an ACK.
   */
  get bulkBufferedAmount(): number {
    // Shared: every unacknowledged byte counts, against the smaller mark (bulkHighWaterMark).
    const slack = this.shared() ? 0 : this.bulkSlack;
    return this.physical.bufferedAmount + (this.unacked > slack ? this.unacked - slack : 0);
  }

  /** While another session of the link is active: the smaller bulk mark (see SHARED_BULK_MARK). */
  get bulkHighWaterMark(): number | undefined {
    return this.shared() ? this.sharedMark : undefined;
  }

  /** While another session of the link is active: the smaller bulk chunks (see SHARED_BULK_CHUNK). */
  get bulkChunkSize(): number | undefined {
    return this.shared() ? SHARED_BULK_CHUNK : undefined;
  }

  private shared(): boolean {
    return this.sharedMark > 0 && this.sender.activity.othersActive(this.sid);
  }

  private backlog(bulk: boolean): number {
    return bulk ? this.bulkBufferedAmount : this.bufferedAmount;
  }

  /** The relay acknowledges in steps of `step` bytes: count what we send from now on. */
  enableFlow(step: number): void {
    // Wide enough that a burst of volumes to one client (the benchmark's 16 x 0.5 MB at the same
    // instant) never waits for an ACK round trip; a stalled client then holds at most ~slack +
    // the RPC's high-water mark (8 MiB) + one chunk in the relay.
    this.ackSlack = Math.max(ACK_SLACK, 8 * step);
    this.bulkSlack = Math.max(BULK_SLACK, 3 * step);
    // A waiting transfer drains to half its mark; the relay acknowledges in whole steps, so half
    // the mark must hold at least one step (a relay with 1 MiB steps gets a 2 MiB mark).
    this.sharedMark = Math.max(SHARED_BULK_MARK, 2 * step);
  }

  /** ACK from the relay. */
  acked(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    if (this.drainWaiters.length) this.pump();
  }

  /**
   * Drain waiters are woken one at a time, when the backlog (own socket + unacknowledged beyond
   * the slack) is under their mark: the RPC sends a whole chunk as soon as its wait ends, so
   * waking every waiting call at once would let each of them send one (a burst of N chunks).
   * The next one is looked at after the woken one has had its turn.
   */
  private pump(): void {
    this.pumpScheduled = false;
    if (this.state !== 'open') {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w.resolve();
      return;
    }
    const i = this.drainWaiters.findIndex((w) => this.backlog(w.bulk) <= w.mark);
    if (i >= 0) {
      this.drainWaiters.splice(i, 1)[0]!.resolve();
      if (this.drainWaiters.length) this.schedulePump();
      return;
    }
    if (!this.drainWaiters.length) return;
    const mark = Math.min(...this.drainWaiters.map((w) => w.mark));
    if (this.physical.bufferedAmount > mark && !this.physicalArmed) {
      this.physicalArmed = true;
      void this.physical.drain(mark).then(() => {
        this.physicalArmed = false;
        this.pump();
      });
    }
    // Otherwise an ACK (acked()) or the physical drain above calls pump() again.
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    nextTurn(() => this.pump());
  }

  get maxMessageSize(): number {
    return this.physical.maxMessageSize - 5;
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    if (this.state !== 'open') throw new DisconnectedError(`not connected (relay session ${this.sid} is closed)`);
    this.sender.send(this.sid, data);
    if (this.ackSlack !== Infinity) {
      if (data instanceof Uint8Array) this.unacked += data.byteLength;
      else for (const p of data) this.unacked += p.byteLength;
    }
  }

  drain(lowWaterMark = 1 << 20, bulk = false): Promise<void> {
    if (this.state !== 'open' || (this.backlog(bulk) <= lowWaterMark && !this.drainWaiters.length)) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push({ mark: lowWaterMark, bulk, resolve });
      this.pump();
    });
  }

  onMessage(handler: (d: Uint8Array) => void): () => void {
    this.messageHandlers.push(handler);
    const early = this.early;
    if (early) {
      this.early = null;
      for (const m of early) handler(m);
    }
    return () => void (this.messageHandlers = this.messageHandlers.filter((h) => h !== handler));
  }

  onClose(handler: (i: CloseInfo) => void): () => void {
    if (this.state === 'closed') {
      void this.closed.then(handler);
      return () => {};
    }
    this.closeHandlers.push(handler);
    return () => void (this.closeHandlers = this.closeHandlers.filter((h) => h !== handler));
  }

  /** An RPC frame for this session arrived. */
  deliver(payload: Uint8Array): void {
    if (this.state !== 'open') return;
    if (payload.byteLength < SMALL_FRAME) this.sender.activity.note(this.sid);
    if (this.early) this.early.push(payload);
    else for (const h of this.messageHandlers) h(payload);
  }

  /** The session ended from the other side or the physical link dropped. */
  remoteClosed(reason: string, error?: Error): void {
    this.finish(reason, error ?? new DisconnectedError(`not connected: ${reason}`));
  }

  close(reason = 'closed locally', error?: Error): void {
    if (this.state === 'closed') return;
    this.finish(reason, error);
    this.onLocalClose(reason);
  }

  private finish(reason: string, error?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.sender.activity.forget(this.sid);
    this.early = null;
    this.pump();
    const info: CloseInfo = error ? { reason, error } : { reason };
    this.resolveClosed(info);
    const hs = this.closeHandlers;
    this.closeHandlers = [];
    this.messageHandlers = [];
    for (const h of hs) {
      try {
        h(info);
      } catch {
        // one handler's failure must not stop the others
      }
    }
  }
}
