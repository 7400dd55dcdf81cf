// A bulk transfer on one session of a runtime's link keeps less in flight while another session of
// the same link is active (its replies wait behind whatever the transfer has in the socket), and
// the full slack when it is alone.
import { describe, expect, it } from 'vitest';
import { BaseLink } from '@rtfmri/transport';
import { SessionLink, SessionSender } from '../src/index.js';
import { SHARED_BULK_CHUNK, SHARED_BULK_MARK } from '../src/session-link.js';

class Sink extends BaseLink {
  readonly kind = 'sink';
  readonly bufferedAmount = 0;
  readonly maxMessageSize = 2 << 20;
  constructor() {
    super();
    this.markOpen();
  }
  send(): void {}
  protected doClose(): void {
    this.markClosed('closed');
  }
}

const MiB = 1 << 20;

describe('bulk slack follows the other sessions of the link', () => {
  it('alone: 3 MiB unacknowledged are free, RPC chunks; another session active: every byte counts against a 256 KiB mark, 256 KiB chunks', () => {
    const phys = new Sink();
    const sender = new SessionSender(phys);
    const a = new SessionLink(phys, sender, 1, () => {});
    const b = new SessionLink(phys, sender, 2, () => {});
    a.enableFlow(64 * 1024);
    b.enableFlow(64 * 1024);
    // a sends 2.5 MiB of a transfer (chunks, not small frames), unacknowledged
    for (let i = 0; i < 5; i++) a.send(new Uint8Array(MiB / 2));
    expect(a.bulkBufferedAmount).toBe(0);
    expect(a.bulkHighWaterMark).toBeUndefined();
    expect(a.bulkChunkSize).toBeUndefined();
    // b answers a call (a small frame): a now counts all it has in flight, against the smaller mark
    b.send(new Uint8Array(100));
    expect(a.bulkBufferedAmount).toBe(2.5 * MiB);
    expect(a.bulkHighWaterMark).toBe(SHARED_BULK_MARK);
    expect(a.bulkChunkSize).toBe(SHARED_BULK_CHUNK);
    a.acked(2.5 * MiB - 100 * 1024);
    expect(a.bulkBufferedAmount).toBe(100 * 1024);
    // small frames of a's own (its chunk headers, credit) do not make it yield to itself
    const c = new SessionLink(phys, new SessionSender(phys), 3, () => {});
    c.enableFlow(64 * 1024);
    for (let i = 0; i < 5; i++) c.send(new Uint8Array(MiB / 2));
    c.send(new Uint8Array(10));
    expect(c.bulkBufferedAmount).toBe(0);
    expect(c.bulkChunkSize).toBeUndefined();
    // an incoming small frame (a call arriving on b) counts too; a closed session no longer does
    b.deliver(new Uint8Array(20));
    expect(a.bulkHighWaterMark).toBe(SHARED_BULK_MARK);
    b.close('done');
    expect(a.bulkBufferedAmount).toBe(0);
    expect(a.bulkHighWaterMark).toBeUndefined();
    // replies to small calls keep their own, wider allowance
    expect(a.bufferedAmount).toBe(0);
  });

  it('a relay acknowledging in 1 MiB steps gets a mark of two steps (a waiting transfer drains to half of it: one step)', () => {
    const phys = new Sink();
    const sender = new SessionSender(phys);
    const a = new SessionLink(phys, sender, 1, () => {});
    const b = new SessionLink(phys, sender, 2, () => {});
    a.enableFlow(MiB);
    b.enableFlow(MiB);
    b.send(new Uint8Array(100));
    expect(a.bulkHighWaterMark).toBe(2 * MiB);
  });
});
