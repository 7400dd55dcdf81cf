// A bulk transfer on one session of a runtime's link keeps less in flight while another session of
// the same link is active (its replies wait behind whatever the transfer has in the socket), and
// the full slack when it is alone.
import { describe, expect, it } from 'vitest';
import { BaseLink } from '@rtfmri/transport';
import { SessionLink, SessionSender } from '../src/index.js';

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
  it('alone: 3 steps unacknowledged are free; another session active: 1 step', () => {
    const phys = new Sink();
    const sender = new SessionSender(phys);
    const a = new SessionLink(phys, sender, 1, () => {});
    const b = new SessionLink(phys, sender, 2, () => {});
    a.enableFlow(MiB);
    b.enableFlow(MiB);
    // a sends 2.5 MiB of a transfer (chunks, not small frames), unacknowledged
    for (let i = 0; i < 5; i++) a.send(new Uint8Array(MiB / 2));
    expect(a.bulkBufferedAmount).toBe(0);
    // b answers a call (a small frame): a now counts what is beyond 1 MiB
    b.send(new Uint8Array(100));
    expect(a.bulkBufferedAmount).toBe(1.5 * MiB);
    // small frames of a's own (its chunk headers, credit) do not make it yield to itself
    const c = new SessionLink(phys, new SessionSender(phys), 3, () => {});
    c.enableFlow(MiB);
    for (let i = 0; i < 5; i++) c.send(new Uint8Array(MiB / 2));
    c.send(new Uint8Array(10));
    expect(c.bulkBufferedAmount).toBe(0);
    // an incoming small frame (a call arriving on b) counts too; a closed session no longer does
    b.deliver(new Uint8Array(20));
    expect(a.bulkBufferedAmount).toBe(1.5 * MiB);
    b.close('done');
    expect(a.bulkBufferedAmount).toBe(0);
    // replies to small calls keep their own, wider allowance
    expect(a.bufferedAmount).toBe(0);
  });
});
