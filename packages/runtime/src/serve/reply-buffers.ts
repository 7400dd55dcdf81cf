// Reused reply buffers for file reads served over a WebSocket session. A fresh 0.5 MB buffer per
// getFile costs the first touch of new memory (page faults) and a share of a major GC; a buffer
// from a small ring costs neither. ws sends our bytes without copying them (the link uses a zero
// mask on loopback and wss://; a server frame is never masked), so a buffer lent to a reply stays
// busy until the link has handed everything it held to the kernel (bufferedAmount 0), checked on a
// later turn of the event loop than the one that sent the reply.
import type { Link } from '@rtfmri/transport';
import { SessionLink } from '@rtfmri/relay/protocol';

const SLOTS = 4;
/** Files above this are read into fresh memory (a ring of huge buffers would pin too much). */
export const REPLY_BUFFER_MAX = 16 * 1024 * 1024;

interface Slot {
  buf: Uint8Array;
  busy: boolean;
}

export class ReplyBuffers {
  private readonly slots: Slot[] = [];

  constructor(private readonly link: Link) {}

  /** Links whose bufferedAmount reaching 0 means the kernel holds the bytes (not a peer in this process). */
  static usable(link: Link): boolean {
    return link.kind === 'ws' || link.kind === 'relay/ws';
  }

  /** `size` bytes of a free slot (lent until the link has flushed), or fresh memory. */
  take = (size: number): Uint8Array => {
    if (size > REPLY_BUFFER_MAX || this.link.state !== 'open') return new Uint8Array(size);
    let slot = this.slots.find((s) => !s.busy && s.buf.length >= size) ?? this.slots.find((s) => !s.busy);
    if (!slot) {
      if (this.slots.length >= SLOTS) return new Uint8Array(size);
      slot = { buf: new Uint8Array(0), busy: false };
      this.slots.push(slot);
    }
    // Grown in steps, so a series of slightly different sizes does not reallocate every time.
    if (slot.buf.length < size) slot.buf = new Uint8Array(Math.min(REPLY_BUFFER_MAX, Math.max(size, slot.buf.length * 2, 64 * 1024)));
    slot.busy = true;
    void this.release(slot);
    return slot.buf.subarray(0, size);
  };

  private async release(slot: Slot): Promise<void> {
    if (await this.flushed()) slot.busy = false;
    // A closed link keeps its slots busy for good: nothing reuses them, the ring is dropped with it.
  }

  /**
   * Resolves true once everything sent so far (a reply sent in this turn included) has left this
   * process (the socket handed it to the kernel); false if the link closed first.
   */
  async flushed(): Promise<boolean> {
    // The socket's own backlog (a relay session also counts what its client has not read yet).
    const link = this.link instanceof SessionLink ? this.link.transportLink : this.link;
    // The reply goes out in the microtasks after the call resolves; look only after that turn.
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      if (link.state !== 'open' || link.bufferedAmount === 0) break;
      await link.drain(0);
    }
    return link.state === 'open';
  }
}
