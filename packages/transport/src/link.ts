// The Link: a bidirectional, message-framed, binary channel with backpressure.
// No Node-only imports here (browser builds use it).

export interface CloseInfo {
  /** Why the link closed (human readable; never contains secrets). */
  reason: string;
  /** The error that closed it, when there was one (e.g. ProtocolError, AuthError). */
  error?: Error;
}

export type LinkState = 'connecting' | 'open' | 'closed';

/**
 * One message in, one message out: every `send(bytes)` arrives as exactly one `onMessage(bytes)`
 * on the other end, in order, or the link closes. Implementations: local pair, WebSocket, WebRTC.
 */
export interface Link {
  /** 'local' | 'ws' | 'webrtc' | ... (diagnostics only). */
  readonly kind: string;
  readonly state: LinkState;
  /** Bytes queued locally and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Largest message the link can carry (WebRTC: 256 KiB; local: Infinity). */
  readonly maxMessageSize: number;
  /** Resolves when open (immediately if open already); rejects if it closes first. */
  readonly opened: Promise<void>;
  /** Resolves (never rejects) once the link is closed, with why. */
  readonly closed: Promise<CloseInfo>;
  /**
   * Send one message. `parts` are concatenated into one message (gather write: a header and a
   * payload travel without being copied together first where the transport allows it).
   * The caller must not modify the bytes afterwards (the local link hands them over as they are).
   * Throws DisconnectedError if the link is not open.
   */
  send(data: Uint8Array | readonly Uint8Array[]): void;
  /**
   * Optional: what a bulk sender (the RPC's streams and multi-chunk parts) counts instead of
   * bufferedAmount: this side's backlog plus what the link's own flow control holds in flight with
   * a smaller allowance than small replies get (a relay session). Absent: bufferedAmount.
   */
  readonly bulkBufferedAmount?: number;
  /**
   * Optional, read before each bulk chunk: a smaller bulk mark and chunk size than the RPC's own,
   * while the link asks bulk data to yield more (a relay session whose link another session is
   * using: its replies wait behind every byte of the transfer in flight). Absent: the RPC's.
   */
  readonly bulkHighWaterMark?: number;
  readonly bulkChunkSize?: number;
  /**
   * Resolves when bufferedAmount <= lowWaterMark (default: the link's own threshold) or on close;
   * with `bulk`, when bulkBufferedAmount (where the link has one) is.
   */
  drain(lowWaterMark?: number, bulk?: boolean): Promise<void>;
  /** Register a message handler; returns an unsubscribe function. */
  onMessage(handler: (data: Uint8Array) => void): () => void;
  onClose(handler: (info: CloseInfo) => void): () => void;
  /** Close (idempotent). */
  close(reason?: string, error?: Error): void;
}

import { concatParts } from './bytes.js';
import { DisconnectedError } from './errors.js';

/** Shared listener/state plumbing for Link implementations. */
export abstract class BaseLink implements Link {
  abstract readonly kind: string;
  abstract readonly bufferedAmount: number;
  abstract readonly maxMessageSize: number;
  state: LinkState = 'connecting';
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseInfo>;
  protected lowWaterMark = 1 << 20;
  private messageHandlers: Array<(data: Uint8Array) => void> = [];
  private closeHandlers: Array<(info: CloseInfo) => void> = [];
  private resolveOpened!: () => void;
  private rejectOpened!: (e: Error) => void;
  private resolveClosed!: (info: CloseInfo) => void;
  private drainWaiters: Array<{ mark: number; resolve: () => void }> = [];
  /** Messages that arrived before anyone listened (e.g. right after accept) are kept, not lost. */
  private early: Uint8Array[] | null = [];

  constructor() {
    this.opened = new Promise<void>((res, rej) => {
      this.resolveOpened = res;
      this.rejectOpened = rej;
    });
    this.opened.catch(() => {});
    this.closed = new Promise<CloseInfo>((res) => (this.resolveClosed = res));
  }

  abstract send(data: Uint8Array | readonly Uint8Array[]): void;
  protected abstract doClose(reason: string): void;

  onMessage(handler: (data: Uint8Array) => void): () => void {
    this.messageHandlers.push(handler);
    const early = this.early;
    if (early) {
      this.early = null;
      for (const m of early) handler(m);
    }
    return () => {
      this.messageHandlers = this.messageHandlers.filter((h) => h !== handler);
    };
  }

  onClose(handler: (info: CloseInfo) => void): () => void {
    if (this.state === 'closed') {
      void this.closed.then(handler);
      return () => {};
    }
    this.closeHandlers.push(handler);
    return () => {
      this.closeHandlers = this.closeHandlers.filter((h) => h !== handler);
    };
  }

  drain(lowWaterMark = this.lowWaterMark): Promise<void> {
    if (this.state === 'closed' || this.bufferedAmount <= lowWaterMark) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push({ mark: lowWaterMark, resolve });
      this.armDrain(lowWaterMark);
    });
  }

  /** Subclasses arrange for checkDrain() to be called when the buffer shrinks. */
  protected armDrain(_mark: number): void {}

  protected checkDrain(): void {
    if (!this.drainWaiters.length) return;
    const buffered = this.state === 'closed' ? 0 : this.bufferedAmount;
    const still: typeof this.drainWaiters = [];
    for (const w of this.drainWaiters) {
      if (buffered <= w.mark) w.resolve();
      else still.push(w);
    }
    this.drainWaiters = still;
    if (still.length) this.armDrain(Math.min(...still.map((w) => w.mark)));
  }

  protected markOpen(): void {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.resolveOpened();
  }

  protected deliver(data: Uint8Array): void {
    if (this.state === 'closed') return;
    if (this.early) {
      this.early.push(data);
      return;
    }
    for (const h of this.messageHandlers) h(data);
  }

  protected assertOpen(): void {
    if (this.state !== 'open') throw new DisconnectedError(`not connected (${this.kind} link is ${this.state})`);
  }

  /** Called by subclasses when the transport reports closure (or by close()). */
  protected markClosed(reason: string, error?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.early = null;
    const info: CloseInfo = error ? { reason, error } : { reason };
    this.rejectOpened(error ?? new DisconnectedError(`not connected: ${reason}`));
    this.resolveClosed(info);
    for (const w of this.drainWaiters) w.resolve();
    this.drainWaiters = [];
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    this.messageHandlers = [];
    for (const h of handlers) {
      try {
        h(info);
      } catch {
        // A close handler's failure must not stop the others.
      }
    }
  }

  close(reason = 'closed locally', error?: Error): void {
    if (this.state === 'closed') return;
    try {
      this.doClose(reason);
    } finally {
      this.markClosed(reason, error);
    }
  }
}

class LocalLink extends BaseLink {
  readonly kind = 'local';
  readonly maxMessageSize = Infinity;
  other!: LocalLink;
  // Delivery is asynchronous (like a socket) so a sender never re-enters its own handler.
  private queue: Uint8Array[] = [];
  private queued = 0;
  private scheduled = false;

  get bufferedAmount(): number {
    return this.queued;
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    this.assertOpen();
    // Zero-copy: a single buffer is handed over as is.
    const msg = concatParts(data);
    this.queue.push(msg);
    this.queued += msg.byteLength;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const q = this.queue;
    this.queue = [];
    // Messages sent before a local close still arrive (like data before a socket's FIN).
    for (const m of q) {
      this.queued -= m.byteLength;
      this.other.deliver(m);
    }
    this.queued = 0;
    this.checkDrain();
  }

  protected doClose(reason: string): void {
    const other = this.other;
    // The peer learns of the close after messages already sent (like a socket's FIN).
    setTimeout(() => other.markClosed(`peer closed: ${reason}`), 0);
  }

  open(): void {
    this.markOpen();
  }
}

/** Two connected in-process links. Messages are passed by reference (zero-copy). */
export function createLocalLinkPair(): [Link, Link] {
  const a = new LocalLink();
  const b = new LocalLink();
  a.other = b;
  b.other = a;
  a.open();
  b.open();
  return [a, b];
}
