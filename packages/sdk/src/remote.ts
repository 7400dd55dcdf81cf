// The remote DataInterface: a typed stub whose every call runs on the control-room runtime,
// through a relay. Same method names and argument orders as the local one (DESIGN.md). No
// Node-only imports here: the dial function comes from the entry point (Node: ws, browser:
// the native WebSocket).
import { DisconnectedError, RpcPeer, StateError, ValidationError, AuthError, type Link } from '@rtfmri/transport';
import { parseDicom, ready as dicomReady, type DicomDataset } from '@rtfmri/dicom-wasm';
import { DATA_INTERFACE_METHODS, FEEDBACK_METHODS, RelayClient, type FeedbackMethod, type SessionEvent } from '@rtfmri/relay/protocol';

/** The runtime's remotely callable methods, as they travel (the relay protocol's allow-list). */
export const REMOTE_METHODS = DATA_INTERFACE_METHODS;

export interface RemoteOptions {
  /** Relay (or a runtime started with --listen): ws://host:port or wss://host:port. */
  url?: string;
  /** An already-made link to a relay (no reconnection: the link is yours). */
  link?: Link;
  /** The runtime to reach (its --name). Default 'scanner1'. */
  name?: string;
  token?: string;
  /** Who this client is, for the relay's tokens file and logs. Default 'experiment'. */
  clientId?: string;
  /** Opens a link to `url` (the entry point supplies one). */
  dial?: (url: string) => Promise<Link>;
  /** Deadline for calls that do not wait for data, ms. Default 60000. */
  callTimeoutMs?: number;
  /** Reconnect delays when the relay link drops (url mode), ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Replaces each runtime session's link before the RPC runs on it (the browser SDK opens a
   * direct WebRTC data channel here, the relay then carrying only signaling). Resolve with
   * `session` itself to keep it (an RpcPeer is made on it), or with an RpcPeer of your own on
   * another link: one on a direct physical link (a WebRTC data channel) runs its heartbeat, since
   * nothing else watches that link, while a relay session needs none (the relay link's liveness
   * covers it, and nothing runs on the session until an RpcPeer is made on it). A rejection
   * leaves the runtime unreachable with that reason.
   */
  upgrade?: (ctx: { session: Link; signaling: Pick<RelayClient, 'sendSignal' | 'onSignal'>; instance: string }) => Promise<Link | RpcPeer>;
}

interface StreamRec {
  args: [string, string, number, boolean, number];
  remoteId: number;
  instance: string | undefined;
  /** Last successfully returned index + 1 (the runtime's own rule, mirrored here). */
  next: number;
}

const REOPEN_MIN_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Extra time beyond a data wait for the bytes to travel: the RPC deadline never cuts the wait. */
function waitDeadlineMs(timeoutSec: unknown): number | undefined {
  if (typeof timeoutSec !== 'number' || Number.isNaN(timeoutSec) || timeoutSec <= 0) return undefined;
  // The runtime clamps a wait to MAX_WAIT_SEC (Infinity included): so does its deadline here.
  const t = Math.min(timeoutSec, MAX_WAIT_SEC);
  return t * 1000 + Math.max(5000, t * 100);
}

/** The runtime's longest wait (24 h): longer timeouts, Infinity included, are clamped to it. */
export const MAX_WAIT_SEC = 24 * 3600;

export class RemoteDataInterface {
  readonly dataRemote = true;
  private client: RelayClient | undefined;
  private peer: RpcPeer | undefined;
  private instance: string | undefined;
  private fatal: Error | undefined;
  private downReason: string;
  private closed = false;
  private readonly first: Promise<void>;
  private readonly streams = new Map<number, StreamRec>();
  private lastLocalId = 0;
  private readonly watches = new Map<string, [string, string, number, number]>();
  private watchesInstance: string | undefined;
  private upWaiters: Array<() => void> = [];
  private readonly target: string;
  private readonly callTimeoutMs: number;

  constructor(private readonly opts: RemoteOptions) {
    if (!opts.url && !opts.link) throw new ValidationError('dataRemote: true needs a url (or a link) to a relay');
    if (opts.url && !opts.dial) throw new ValidationError('no way to open a link to the url in this build');
    if (typeof opts.token !== 'string' || !opts.token) throw new ValidationError('dataRemote: true needs a token');
    this.target = opts.name ?? 'scanner1';
    // The relay's rule for names (relay/protocol.ts validName): said here, before any connection.
    for (const [what, v] of [['name', this.target], ['clientId', opts.clientId ?? 'experiment']] as const) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(v)) throw new ValidationError(`${what} must be letters, digits, '.', '_', '-' or '@' (at most 128), got '${v}'`);
    }
    this.callTimeoutMs = opts.callTimeoutMs ?? 60_000;
    this.downReason = `runtime '${this.target}' is not connected yet`;
    this.first = this.connectOnce().then(
      () => undefined,
      (e: Error) => this.onConnectError(e),
    );
  }

  // ---------------------------------------------------------------- connection

  private async connectOnce(): Promise<void> {
    const link = this.opts.link ?? (await this.opts.dial!(this.opts.url!));
    if (this.closed) return void link.close('closed');
    const client = await RelayClient.attach(link, { target: this.target, token: this.opts.token!, id: this.opts.clientId });
    this.client = client;
    client.onSession((ev) => this.onSession(ev));
    if (client.session) this.onSession({ up: true, link: client.session, instance: client.instance ?? '' });
    else this.downReason = client.downReason;
    void client.closed.then((info) => {
      if (this.client === client) this.client = undefined;
      this.downReason = `lost the link to the relay (${info.reason})`;
      if (!this.closed && this.opts.url) void this.reconnectLoop();
    });
  }

  private onConnectError(e: Error): void {
    if (e instanceof AuthError) {
      this.fatal = e;
      return;
    }
    this.downReason = `cannot reach the relay at ${this.opts.url ?? 'the given link'}: ${e.message}`;
    if (!this.closed && this.opts.url) void this.reconnectLoop();
  }

  private reconnecting = false;
  private async reconnectLoop(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    let delay = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    try {
      while (!this.closed && !this.client) {
        await sleep(delay * (0.75 + Math.random() * 0.5));
        if (this.closed) return;
        try {
          await this.connectOnce();
        } catch (e) {
          if (e instanceof AuthError) {
            this.fatal = e;
            return;
          }
          this.downReason = `cannot reach the relay at ${this.opts.url}: ${(e as Error).message}`;
          delay = Math.min(max, delay * 2);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private sessionGen = 0;
  private onSession(ev: SessionEvent): void {
    const gen = ++this.sessionGen;
    if (ev.up) {
      this.reopenDelay = REOPEN_MIN_MS;
      const start = (link: Link | RpcPeer) => {
        // The relay authenticated both ends; the end-to-end RPC session needs no second token,
        // and no heartbeat of its own (the relay link has one).
        const peer = link instanceof RpcPeer ? link : new RpcPeer(link, { defaultTimeoutMs: this.callTimeoutMs });
        this.peer = peer;
        this.answered = undefined;
        this.instance = ev.instance;
        // The runtime is there once its end of the session has answered, not when the relay
        // announced the session: the relay tells the runtime and this client at the same moment on
        // two sockets, so the runtime may not even have taken its registration in. The runtime's
        // end exists once it has processed the session's OPEN, so a PING it answers proves that.
        void this.untilAnswered(peer).then((ok) => {
          if (!ok || this.peer !== peer) return;
          this.answered = peer;
          for (const w of this.upWaiters.splice(0)) w();
        });
      };
      const client = this.client;
      if (!this.opts.upgrade || !client) return start(ev.link);
      this.opts.upgrade({ session: ev.link, signaling: client, instance: ev.instance }).then(
        (link) => {
          if (gen === this.sessionGen && ev.link.state === 'open' && !this.closed) start(link);
          else if (link !== ev.link && !(link instanceof RpcPeer)) link.close('session replaced');
        },
        (e: Error) => {
          if (gen === this.sessionGen) this.downReason = e.message;
        },
      );
    } else {
      this.peer = undefined;
      this.downReason = ev.reason;
      this.scheduleReopen();
    }
  }

  /** The session's peer once the runtime's end has answered a PING on it. */
  private answered: RpcPeer | undefined;

  /** Pings until the runtime's end answers (true), or the peer is closed or replaced (false). */
  private async untilAnswered(peer: RpcPeer): Promise<boolean> {
    try {
      await peer.ready;
    } catch {
      return false;
    }
    while (this.peer === peer && peer.state === 'ready') {
      try {
        await peer.ping(2000);
        return true;
      } catch {
        // not answered in time (or not sent): try again while the session lives
        await sleep(50);
      }
    }
    return false;
  }

  private reopenDelay = REOPEN_MIN_MS;
  private reopenTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * A session can end while the relay link lives (the runtime closed it, or this side's RPC peer
   * closed it after a protocol error): ask the relay for a new one, with backoff. When the
   * runtime itself is gone the relay ignores this and announces the runtime when it is back.
   */
  private scheduleReopen(): void {
    if (this.reopenTimer || this.closed) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      const c = this.client;
      if (this.closed || !c || c.session || c.link.state !== 'open') return;
      c.reopen();
      this.reopenDelay = Math.min(5000, this.reopenDelay * 2);
      this.scheduleReopen();
    }, this.reopenDelay);
    (this.reopenTimer as { unref?: () => void }).unref?.();
  }

  /** Whether a runtime session is up right now. */
  get connected(): boolean {
    return this.peer !== undefined && this.peer.state !== 'closed';
  }

  /** The runtime's per-process id (changes when the runtime restarts). */
  get runtimeInstance(): string | undefined {
    return this.instance;
  }

  /**
   * Waits until the named runtime is connected and has answered on this session (calls before a
   * session is up fail at once).
   */
  async waitForRuntime(timeoutSec = 10): Promise<void> {
    await this.first;
    if (this.fatal) throw this.fatal;
    if (this.peer && this.answered === this.peer && this.peer.state === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.upWaiters = this.upWaiters.filter((w) => w !== done);
        reject(new DisconnectedError(`not connected: ${this.downReason} (waited ${timeoutSec} s)`));
      }, timeoutSec * 1000);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.upWaiters.push(done);
    });
  }

  private async call(method: string, args: unknown[], timeoutMs?: number, compress?: boolean): Promise<unknown> {
    await this.first;
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new DisconnectedError('not connected: this DataInterface is closed');
    const peer = this.peer;
    if (!peer || peer.state === 'closed') throw new DisconnectedError(`not connected: ${this.downReason}`);
    return peer.call(method, args, { timeoutMs: timeoutMs ?? this.callTimeoutMs, compress });
  }

  // ---------------------------------------------------------------- the API

  async initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize = true, demoStep = 0): Promise<number> {
    const args: StreamRec['args'] = [imgDir, filePattern, minFileSize, anonymize, demoStep];
    const instance = this.instance;
    const remoteId = (await this.call('initScannerStream', args)) as number;
    const id = ++this.lastLocalId;
    this.streams.set(id, { args, remoteId, instance, next: 0 });
    return id;
  }

  /**
   * The next (or the given) volume of a stream, parsed. If the runtime restarted since the
   * stream began, the stream is opened again there and continues at the right index.
   */
  async getImageData(streamId: number, imageIndex?: number | null, timeout = 5): Promise<DicomDataset> {
    const rec = this.streams.get(streamId);
    if (!rec) throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    await this.first;
    if (rec.instance !== this.instance && this.connected) {
      rec.remoteId = (await this.call('initScannerStream', rec.args)) as number;
      rec.instance = this.instance;
    }
    const index = imageIndex ?? rec.next;
    const bytes = (await this.call('getImageData', [rec.remoteId, index, timeout], waitDeadlineMs(timeout))) as Uint8Array;
    if (Number.isInteger(index)) rec.next = index + 1;
    await dicomReady();
    return parseDicom(bytes);
  }

  async closeStream(streamId: number): Promise<void> {
    const rec = this.streams.get(streamId);
    if (!rec) throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    this.streams.delete(streamId);
    if (rec.instance === this.instance && this.connected) await this.call('closeStream', [rec.remoteId]);
  }

  async getFile(filename: string): Promise<Uint8Array> {
    return (await this.call('getFile', [filename])) as Uint8Array;
  }

  async getNewestFile(filepattern: string): Promise<Uint8Array> {
    return (await this.call('getNewestFile', [filepattern])) as Uint8Array;
  }

  async initWatch(dir: string, filePattern: string, minFileSize: number, demoStep = 0): Promise<void> {
    await this.call('initWatch', [dir, filePattern, minFileSize, demoStep]);
    if (this.watchesInstance !== this.instance) {
      this.watches.clear();
      this.watchesInstance = this.instance;
    }
    this.watches.delete(dir);
    this.watches.set(dir, [dir, filePattern, minFileSize, demoStep]);
  }

  async watchFile(filename: string, timeout = 5): Promise<Uint8Array> {
    await this.first;
    if (this.watches.size && this.watchesInstance !== this.instance && this.connected) {
      // The runtime restarted: its watches are gone; set them up again, oldest first.
      for (const args of this.watches.values()) await this.call('initWatch', args);
      this.watchesInstance = this.instance;
    }
    return (await this.call('watchFile', [filename, timeout], waitDeadlineMs(timeout))) as Uint8Array;
  }

  async putFile(filename: string, data: string | Uint8Array, compress = false): Promise<void> {
    await this.call('putFile', [filename, data, compress], undefined, compress === true);
  }

  async listFiles(filepattern: string): Promise<string[]> {
    return (await this.call('listFiles', [filepattern])) as string[];
  }

  async listDirs(dirpattern: string): Promise<string[]> {
    return (await this.call('listDirs', [dirpattern])) as string[];
  }

  async getAllowedFileTypes(): Promise<string[]> {
    return (await this.call('getAllowedFileTypes', [])) as string[];
  }

  async getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number> {
    return (await this.call('getClockSkew', [callerClockTime, roundTripTime])) as number;
  }

  async ping(): Promise<number> {
    return (await this.call('ping', [])) as number;
  }

  /**
   * One call of the result/feedback channel (feedback.ts's SubjectInterface and
   * WebDisplayInterface use it): only FEEDBACK_METHODS; `waitSec` extends the deadline for a wait.
   */
  async callFeedback(method: FeedbackMethod, args: unknown[], waitSec?: number): Promise<unknown> {
    if (!(FEEDBACK_METHODS as readonly string[]).includes(method)) throw new ValidationError(`unknown feedback method '${String(method)}'`);
    return this.call(method, args, waitSec !== undefined ? waitDeadlineMs(waitSec) : undefined);
  }

  /** Closes this client's streams on the runtime (best effort) and the link. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const mine = [...this.streams.values()].filter((s) => s.instance === this.instance);
    this.streams.clear();
    if (this.connected) await Promise.allSettled(mine.map((s) => this.call('closeStream', [s.remoteId], 2000)));
    this.closed = true;
    for (const w of this.upWaiters.splice(0)) w();
    this.peer?.close('client closed');
    this.client?.close();
  }
}
