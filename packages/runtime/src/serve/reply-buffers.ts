// Reused memory for replies served over a WebSocket session: a small ring of reply buffers for
// getFile, and the delivered volumes' memory that check.ts recycles as later spares. A fresh
// 0.5 MB buffer per reply costs the first touch of new memory (page faults) and a share of a major
// GC; reused memory costs neither. ws sends our bytes without copying them (the link uses a zero
// mask on loopback and wss://; a server frame is never masked), so memory lent to a reply is
// reused only once the reply has left this process:
//
//   1. the RPC has handed every byte of it to the link. Not at once when the link is full or a
//      relay session is held back by its flow control (a slow client): the RPC then keeps the reply
//      queued, the socket may well be empty meanwhile, and memory reused then would be sent with
//      another file's bytes in it. The link the RPC gets (`rpcLink`) reports every send here;
//   2. then the socket has handed everything it held to the kernel (bufferedAmount 0), checked on a
//      later turn of the event loop than the one that sent the last byte.
//
// A reply that never leaves this way (the call was cancelled; the RPC copied it into a frame; the
// result was another buffer, e.g. the anonymized copy of a DICOM file) keeps its memory out of reuse:
// a slot the call did not return is free again once the call has settled, anything else is given up
// (left to the GC) after GIVE_UP_MS.
import type { Link } from '@rtfmri/transport';
import { SessionLink } from '@rtfmri/relay/protocol';
import type { ChunkMemory } from '../file-stream.js';

const SLOTS = 4;
/** Files above this are read into fresh memory (a ring of huge buffers would pin too much). */
export const REPLY_BUFFER_MAX = 16 * 1024 * 1024;
/**
 * Replies below this are neither lent a slot nor watched: the RPC copies small values into its
 * frames anyway, and fresh memory of that size costs little.
 */
export const REPLY_REUSE_MIN = 64 * 1024;
/** A reply not seen leaving within this long is given up: its memory is never reused. */
export const GIVE_UP_MS = 60_000;

interface Slot {
  buf: Uint8Array;
  busy: boolean;
}

/**
 * Chunk buffers of the session's file streams (a large getFile, the upload helpers): the file
 * is read ahead by one chunk, and a few more wait for the socket; beyond that, fresh memory.
 */
const CHUNK_SLOTS = 6;
const CHUNK_SIZE = 1 << 20;

/** A reply on its way out: the range of its memory and how much of it the RPC has sent. */
interface Watch {
  start: number;
  end: number;
  seen: number;
  timer: ReturnType<typeof setTimeout>;
  /** true: sent and flushed (the memory is free); false: given up. */
  done: (sent: boolean) => void;
}

export class ReplyBuffers {
  private readonly slots: Slot[] = [];
  private readonly chunkSlots: Slot[] = [];
  /** Replies on their way out, by the memory they are in. */
  private readonly watches = new Map<ArrayBufferLike, Watch>();
  /** The slots taken during the synchronous part of the call `run` is running (null: none). */
  private collecting: Slot[] | null = null;
  /**
   * The link to give the RPC (expose): the same link, whose sends are seen here. Memory is reused
   * only after replies sent through it.
   */
  readonly rpcLink: Link;

  constructor(private readonly link: Link) {
    const send = (data: Uint8Array | readonly Uint8Array[]): void => {
      link.send(data);
      if (this.watches.size === 0) return;
      if (data instanceof Uint8Array) this.sent(data);
      else for (const d of data) this.sent(d);
    };
    // Everything else goes to the link itself (its methods bound to it): whatever the Link
    // interface grows, the RPC sees the same link.
    this.rpcLink = new Proxy(link, {
      get(target, prop) {
        if (prop === 'send') return send;
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Links whose bufferedAmount reaching 0 means the kernel holds the bytes (not a peer in this process). */
  static usable(link: Link): boolean {
    return link.kind === 'ws' || link.kind === 'relay/ws';
  }

  /**
   * Memory for file-stream chunks (FileChunks): a chunk's slot is lent when the stream hands the
   * chunk to the RPC and free again once the chunk has left this process (afterSent); a chunk
   * read but never handed on frees its slot at once.
   */
  readonly chunkMemory: ChunkMemory = {
    take: (len) => {
      if (len > CHUNK_SIZE || this.link.state !== 'open') return Buffer.allocUnsafeSlow(len);
      let slot = this.chunkSlots.find((s) => !s.busy);
      if (!slot) {
        if (this.chunkSlots.length >= CHUNK_SLOTS) return Buffer.allocUnsafeSlow(len);
        slot = { buf: Buffer.allocUnsafeSlow(CHUNK_SIZE), busy: false };
        this.chunkSlots.push(slot);
      }
      slot.busy = true;
      return len === slot.buf.length ? slot.buf : slot.buf.subarray(0, len);
    },
    lend: (chunk) => {
      const slot = this.chunkSlots.find((s) => s.buf.buffer === chunk.buffer);
      if (!slot) return;
      this.afterSent(chunk, (sent) => {
        if (sent) slot.busy = false;
        else this.dropChunkSlot(slot);
      });
    },
    release: (chunk) => {
      const slot = this.chunkSlots.find((s) => s.buf.buffer === chunk.buffer);
      if (slot) slot.busy = false;
    },
  };

  /** A chunk slot whose memory may still be held (its chunk was not seen leaving): forgotten, the GC keeps it as long as needed. */
  private dropChunkSlot(slot: Slot): void {
    const i = this.chunkSlots.indexOf(slot);
    if (i >= 0) this.chunkSlots.splice(i, 1);
  }

  /** `size` bytes of a free slot (lent until the reply has left, see above), or fresh memory. */
  take = (size: number): Uint8Array => {
    if (size > REPLY_BUFFER_MAX || size < REPLY_REUSE_MIN || this.link.state !== 'open') return new Uint8Array(size);
    let slot = this.slots.find((s) => !s.busy && s.buf.length >= size) ?? this.slots.find((s) => !s.busy);
    if (!slot) {
      if (this.slots.length >= SLOTS) return new Uint8Array(size);
      slot = { buf: new Uint8Array(0), busy: false };
      this.slots.push(slot);
    }
    // Grown in steps, so a series of slightly different sizes does not reallocate every time.
    if (slot.buf.length < size) slot.buf = new Uint8Array(Math.min(REPLY_BUFFER_MAX, Math.max(size, slot.buf.length * 2, 64 * 1024)));
    slot.busy = true;
    const view = slot.buf.subarray(0, size);
    if (this.collecting) this.collecting.push(slot);
    // Taken outside `run`: nobody says what became of it; free once it has been seen leaving whole.
    else this.lend(slot, view);
    return view;
  };

  /**
   * Runs a call that may take slots (synchronously, before its first await) and settles them with
   * its outcome: a slot whose memory the call returns is free once that reply has left; any other
   * slot it took is free once the call has settled with other bytes or an error.
   */
  run<T>(call: () => Promise<T>): Promise<T> {
    const outer = this.collecting;
    const mine: Slot[] = [];
    this.collecting = mine;
    let p: Promise<T>;
    try {
      p = call();
    } finally {
      this.collecting = outer;
    }
    if (mine.length === 0) return p;
    return p.then(
      (result) => {
        for (const slot of mine) {
          if (result instanceof Uint8Array && result.buffer === slot.buf.buffer) this.lend(slot, result);
          // other bytes (the anonymized copy): nothing of the slot leaves
          else if (result instanceof Uint8Array) slot.busy = false;
          // anything else might hold a view of it: never reused
          else this.drop(slot);
        }
        return result;
      },
      (err: unknown) => {
        for (const slot of mine) slot.busy = false;
        throw err;
      },
    );
  }

  /**
   * Calls `then(true)` once `bytes` (a reply being returned to the RPC now) have left this
   * process, `then(false)` if they are not seen leaving (cancelled, copied into a frame, link
   * closed): only then may their memory be written again.
   */
  afterSent(bytes: Uint8Array, then: (sent: boolean) => void): void {
    if (bytes.length < REPLY_REUSE_MIN || this.link.state !== 'open') return then(false);
    const old = this.watches.get(bytes.buffer);
    if (old) {
      // the same memory in two replies at once: neither is reused
      this.forget(bytes.buffer, old);
      old.done(false);
      return then(false);
    }
    const w: Watch = {
      start: bytes.byteOffset,
      end: bytes.byteOffset + bytes.byteLength,
      seen: 0,
      timer: setTimeout(() => {
        if (this.watches.get(bytes.buffer) !== w) return;
        this.watches.delete(bytes.buffer);
        w.done(false);
      }, GIVE_UP_MS),
      done: then,
    };
    (w.timer as { unref?: () => void }).unref?.();
    this.watches.set(bytes.buffer, w);
  }

  private lend(slot: Slot, bytes: Uint8Array): void {
    this.afterSent(bytes, (sent) => (sent ? (slot.busy = false) : this.drop(slot)));
  }

  /** The slot's memory is left to whatever may still hold it; the slot gets new memory when next taken. */
  private drop(slot: Slot): void {
    slot.buf = new Uint8Array(0);
    slot.busy = false;
  }

  private forget(buffer: ArrayBufferLike, w: Watch): void {
    clearTimeout(w.timer);
    this.watches.delete(buffer);
  }

  /** A part the RPC has just handed to the link. */
  private sent(part: Uint8Array): void {
    const w = this.watches.get(part.buffer);
    if (!w) return;
    const a = Math.max(part.byteOffset, w.start);
    const b = Math.min(part.byteOffset + part.byteLength, w.end);
    if (b > a) w.seen += b - a;
    if (w.seen < w.end - w.start) return;
    // every byte has been handed over (chunks never overlap): the socket still holds them
    this.forget(part.buffer, w);
    void this.flushed().then(w.done);
  }

  /**
   * Resolves true once everything sent so far (a reply sent in this turn included) has left this
   * process (the socket handed it to the kernel); false if the link closed first.
   */
  async flushed(): Promise<boolean> {
    // The socket's own backlog (what a relay session's client has not acknowledged has left it).
    const link = this.link instanceof SessionLink ? this.link.transportLink : this.link;
    // Bytes sent in this turn may still be corked: look only on a later turn.
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      if (link.state !== 'open' || link.bufferedAmount === 0) break;
      await link.drain(0);
    }
    return link.state === 'open';
  }
}
