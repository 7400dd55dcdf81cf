// A byte stream received as (part of) an argument or result. No Node-only imports.
import { concatParts } from './bytes.js';
import { ValidationError } from './errors.js';

/** Where an IncomingStream sends its CREDIT frames (the RpcPeer it arrived on). */
export interface CreditSender {
  sendCredit(callId: number, dir: 0 | 1, part: number, bytes: number, cancel: boolean): void;
  /**
   * The window to keep now, given the stream's own: smaller while the link asks bulk data to yield
   * (a runtime's relay session while another session is active: what a client uploads sits in the
   * same kernel buffers as the other session's calls, which wait behind it). Absent: the window.
   */
  streamWindowNow?(window: number): number;
}

/**
 * A byte stream received as (part of) an argument or result: `for await (const chunk of s)`.
 * Flow control: the sender may have at most `window` bytes unread (queued here or still to come
 * on credit already granted); reading grants more, in steps of a quarter window at least. The
 * window can shrink while the link asks bulk data to yield (CreditSender.streamWindowNow): credit
 * is then granted only once the unread bytes are under the smaller window.
 */
export class IncomingStream implements AsyncIterable<Uint8Array> {
  ended = false;
  /** The reader stopped early (break/return) and told the sender to stop. */
  cancelled = false;
  private queue: Uint8Array[] = [];
  private error: Error | undefined;
  private waiter: (() => void) | null = null;
  /** Credit granted that the sender has not used yet (negative: it sent a little beyond). */
  private outstanding: number;
  /** Bytes received and not read yet. */
  private queued = 0;
  private iterating = false;
  constructor(
    private peer: CreditSender,
    private callId: number,
    private dir: 0 | 1,
    private part: number,
    private window: number,
    private onEnd: () => void,
  ) {
    // The sender starts with no credit: this grants our window.
    this.outstanding = this.windowNow();
    peer.sendCredit(callId, dir, part, this.outstanding, false);
  }

  private windowNow(): number {
    return this.peer.streamWindowNow ? Math.max(1, Math.min(this.window, this.peer.streamWindowNow(this.window))) : this.window;
  }

  push(chunk: Uint8Array): void {
    this.outstanding -= chunk.length;
    this.queued += chunk.length;
    this.queue.push(chunk);
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    this.onEnd();
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterating) throw new ValidationError('an IncomingStream can be read once');
    this.iterating = true;
    let done = false;
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk) {
          this.queued -= chunk.length;
          const w = this.windowNow();
          const room = w - this.outstanding - this.queued;
          if (room >= w / 4) {
            this.peer.sendCredit(this.callId, this.dir, this.part, room, false);
            this.outstanding += room;
          }
          yield chunk;
          continue;
        }
        if (this.ended) {
          done = true;
          if (this.error) throw this.error;
          return;
        }
        await new Promise<void>((res) => (this.waiter = res));
      }
    } finally {
      if (!done && !this.ended) {
        // The reader stopped early: stop the sender.
        this.cancelled = true;
        this.queue = [];
        this.finish();
        this.peer.sendCredit(this.callId, this.dir, this.part, 0, true);
      }
    }
  }

  /** Stop reading (before or instead of iterating): what is queued is dropped and the sender told to stop. */
  cancel(): void {
    if (this.ended) return;
    this.cancelled = true;
    this.queue = [];
    this.finish();
    this.peer.sendCredit(this.callId, this.dir, this.part, 0, true);
  }

  /** Read everything into one Uint8Array (for tests and small streams). */
  async toBytes(): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const c of this) chunks.push(c);
    return concatParts(chunks);
  }
}
