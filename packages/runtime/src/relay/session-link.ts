// A session link: one client<->runtime session carried inside a physical link to the relay.
// It is a full Link, so transport's RPC (expose / connect) runs over it unchanged, end to end.
import { DisconnectedError, type CloseInfo, type Link, type LinkState } from '@rtfmri/transport';
import { CONTROL_MIN, F, frameHeader, selectFrame } from './protocol.js';

/**
 * The sending half of a physical link shared by sessions: remembers which session the last RPC
 * frame was for, and sends SELECT only when that changes (so RPC frames go out untouched).
 */
export class SessionSender {
  private current = -1;
  constructor(private readonly physical: Link) {}

  send(sid: number, data: Uint8Array | readonly Uint8Array[]): void {
    const first = data instanceof Uint8Array ? data : data.find((p) => p.byteLength > 0);
    if (!first || first.byteLength === 0) return;
    if (first[0]! >= CONTROL_MIN) {
      // Raw bytes that look like a control frame: escaped with their session id (a copy, rare).
      const parts = data instanceof Uint8Array ? [data] : data;
      this.physical.send([frameHeader(F.Data, sid), ...parts]);
      return;
    }
    if (this.current !== sid) {
      this.physical.send(selectFrame(sid));
      this.current = sid;
    }
    this.physical.send(data);
  }
}

export class SessionLink implements Link {
  readonly kind: string;
  state: LinkState = 'open';
  readonly opened: Promise<void> = Promise.resolve();
  readonly closed: Promise<CloseInfo>;
  private resolveClosed!: (i: CloseInfo) => void;
  private messageHandlers: Array<(d: Uint8Array) => void> = [];
  private closeHandlers: Array<(i: CloseInfo) => void> = [];
  private early: Uint8Array[] | null = [];

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

  get bufferedAmount(): number {
    return this.physical.bufferedAmount;
  }
  get maxMessageSize(): number {
    return this.physical.maxMessageSize - 5;
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    if (this.state !== 'open') throw new DisconnectedError(`not connected (relay session ${this.sid} is closed)`);
    this.sender.send(this.sid, data);
  }

  drain(lowWaterMark = 1 << 20): Promise<void> {
    if (this.state !== 'open' || this.physical.bufferedAmount <= lowWaterMark) return Promise.resolve();
    // The physical link's own drain may wait for a socket 'drain' event that never comes when the
    // socket never filled up; a light poll makes sure a waiter (e.g. "close after the CLOSE
    // frame is out") is never stuck.
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearInterval(t);
        resolve();
      };
      const t = setInterval(() => {
        if (this.state !== 'open' || this.physical.state !== 'open' || this.physical.bufferedAmount <= lowWaterMark) finish();
      }, 5);
      void this.physical.drain(lowWaterMark).then(finish);
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
    this.early = null;
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
