// The remote DataInterface: a typed stub whose every call runs on the control-room runtime,
// through a relay. Same method names and argument orders as the local one (DESIGN.md). No
// Node-only imports here: the dial function comes from the entry point (Node: ws, browser:
// the native WebSocket).
import { CancelledError, DisconnectedError, RpcPeer, StateError, ValidationError, AuthError, type Link } from '@rtfmri/transport';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { DATA_INTERFACE_METHODS, FEEDBACK_METHODS, RelayClient, type FeedbackMethod, type SessionEvent } from '@rtfmri/relay/protocol';
import { collectFile, fileStreamOf, STREAM_WINDOW, wireData, type FileStream, type PutFileSource } from './file-transfer.js';
import {
  checkArgs, effectiveWait, splitCallOptions, SERIES_WATCH_OPTION_KEYS, type DataCallOptions, type DataInterfaceMethod,
} from '@rtfmri/relay/protocol';

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
  /**
   * Credit this side grants each stream it receives (a large getFile, getFileStream), bytes.
   * Default 4 MiB (STREAM_WINDOW: keeps the chunks of a stream written to disk young). A stream
   * moves at most this much per round trip: over a WAN raise it (4 MiB at 50 ms RTT is ~80 MB/s;
   * 32 MiB, ~640 MB/s). From 64 KiB to 1 GiB.
   */
  streamWindow?: number;
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

import type { SeriesInfo, SeriesWatchOptions } from '@rtfmri/relay/protocol';
export type { SeriesInfo, SeriesWatchOptions };

/** The error of a call its AbortSignal cancelled: the signal's reason when it is an Error, else a CancelledError. */
function cancelled(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error && r.name !== 'AbortError' ? r : new CancelledError('cancelled by the caller (AbortSignal)');
}

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
  /** The series watch (initSeriesWatch's arguments), what the runtime had there at the start and what it reported: set up again after a runtime restart. */
  private seriesRec: { sessionDir: string; options: Record<string, unknown>; instance: string | undefined; initial: string[]; reported: string[] } | undefined;
  private upWaiters: Array<() => void> = [];
  private readonly target: string;
  private readonly callTimeoutMs: number;
  private readonly streamWindow: number;

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
    this.streamWindow = checkStreamWindow(opts.streamWindow);
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
        const peer = link instanceof RpcPeer ? link : new RpcPeer(link, { defaultTimeoutMs: this.callTimeoutMs, streamWindow: this.streamWindow });
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
        reject(new DisconnectedError(`not connected: ${this.downReason} (waited ${timeoutSec} s); ${this.whatToDo(false)}`));
      }, timeoutSec * 1000);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.upWaiters.push(done);
    });
  }

  /** What to do after a DisconnectedError (appended to its message). */
  private whatToDo(wait = true): string {
    const runs = `that the runtime runs and dials this relay (rtfmri serve --connect <relay url> --name ${this.target})`;
    const waiting = wait ? `wait for the runtime with await di.waitForRuntime(seconds) (the SDK reconnects by itself), or ` : '';
    return this.opts.url ? `${waiting}check the relay URL (${this.opts.url}) and ${runs}` : `${waiting}check ${runs}`;
  }

  private async call(method: string, args: unknown[], timeoutMs?: number, compress?: boolean, signal?: AbortSignal): Promise<unknown> {
    await this.first;
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new DisconnectedError('not connected: this DataInterface is closed');
    if (signal?.aborted) throw cancelled(signal);
    const peer = this.peer;
    if (!peer || peer.state === 'closed') throw new DisconnectedError(`not connected: ${this.downReason}; ${this.whatToDo()}`);
    try {
      return await peer.call(method, args, { timeoutMs: timeoutMs ?? this.callTimeoutMs, compress, signal });
    } catch (e) {
      // The link dropped during the call: say what to do about it.
      if (e instanceof DisconnectedError && !this.closed && !e.message.includes('waitForRuntime')) e.message += `; ${this.whatToDo()}`;
      // Cancelled by the caller's signal: its reason, as a local call gives.
      if (e instanceof CancelledError && signal?.aborted) throw cancelled(signal);
      throw e;
    }
  }

  /** A call's arguments: the per-call options split off, the types checked (the runtime checks them too). */
  private begin(m: DataInterfaceMethod, raw: readonly unknown[]): { args: unknown[]; options: DataCallOptions | undefined } {
    const r = splitCallOptions(m, raw);
    checkArgs(m, r.args);
    if (r.options?.signal?.aborted) throw cancelled(r.options.signal);
    return r;
  }

  /** The RPC deadline of a call that does not wait for data: options.timeout, else callTimeoutMs. */
  private plainMs(o: DataCallOptions | undefined): number | undefined {
    return o?.timeout !== undefined ? Math.min(o.timeout, MAX_WAIT_SEC) * 1000 : undefined;
  }

  // ---------------------------------------------------------------- the API
  // Every method keeps DESIGN's positional arguments and takes the per-call options last
  // (`{ timeout, signal }`): `timeout` is the call's deadline (for a data wait: also its wait),
  // `signal` cancels the call (the runtime's wait ends too).

  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize?: boolean | null, demoStep?: number | null, options?: DataCallOptions): Promise<number>;
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, options: DataCallOptions): Promise<number>;
  async initScannerStream(...raw: unknown[]): Promise<number> {
    const { args: a, options: o } = this.begin('initScannerStream', raw);
    const args: StreamRec['args'] = [a[0] as string, a[1] as string, a[2] as number, (a[3] ?? true) as boolean, (a[4] ?? 0) as number];
    const instance = this.instance;
    const remoteId = (await this.call('initScannerStream', args, this.plainMs(o), undefined, o?.signal)) as number;
    const id = ++this.lastLocalId;
    this.streams.set(id, { args, remoteId, instance, next: 0 });
    return id;
  }

  /**
   * The next (or the given) volume of a stream, parsed. If the runtime restarted since the
   * stream began, the stream is opened again there and continues at the right index.
   */
  getImageData(streamId: number, imageIndex?: number | null, timeout?: number | null, options?: DataCallOptions): Promise<DicomDataset>;
  getImageData(streamId: number, options: DataCallOptions): Promise<DicomDataset>;
  async getImageData(...raw: unknown[]): Promise<DicomDataset> {
    const { args: a, options: o } = this.begin('getImageData', raw);
    const streamId = a[0] as number;
    const rec = this.streams.get(streamId);
    if (!rec) throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    await this.first;
    if (rec.instance !== this.instance && this.connected) {
      rec.remoteId = (await this.call('initScannerStream', rec.args, this.plainMs(o), undefined, o?.signal)) as number;
      rec.instance = this.instance;
    }
    const index = (a[1] as number | null | undefined) ?? rec.next;
    const timeout = (effectiveWait(a[2], o) ?? 5) as number;
    const bytes = (await this.call('getImageData', [rec.remoteId, index, timeout], waitDeadlineMs(timeout), undefined, o?.signal)) as Uint8Array;
    if (Number.isInteger(index)) rec.next = index + 1;
    // Imported on the first volume: a browser worker that carries only files or feedback never loads DICOM code.
    const dicom = await import('@rtfmri/dicom-wasm/parse');
    await dicom.ready();
    return dicom.parseDicom(bytes);
  }

  closeStream(streamId: number, options?: DataCallOptions): Promise<void>;
  async closeStream(...raw: unknown[]): Promise<void> {
    const { args: a, options: o } = this.begin('closeStream', raw);
    const streamId = a[0] as number;
    const rec = this.streams.get(streamId);
    if (!rec) throw new StateError(`StreamID mismatch: no open stream ${String(streamId)}`, { details: { streamId } });
    this.streams.delete(streamId);
    if (rec.instance === this.instance && this.connected) await this.call('closeStream', [rec.remoteId], this.plainMs(o), undefined, o?.signal);
  }

  getFile(filename: string, options?: DataCallOptions): Promise<Uint8Array>;
  async getFile(...raw: unknown[]): Promise<Uint8Array> {
    const { args: a, options: o } = this.begin('getFile', raw);
    // A large file arrives as a stream (file-transfer.ts): collected into one array of its size.
    return collectFile(await this.call('getFile', [a[0]], this.plainMs(o), undefined, o?.signal), a[0] as string);
  }

  /**
   * A file as a stream of chunks, handed on as they arrive (file-transfer.ts FileStream; memory:
   * the transfer's window), for files too large to hold or to write out as they come. The call's
   * deadline covers the start; the bytes then flow for as long as they take.
   */
  getFileStream(filename: string, options?: DataCallOptions): Promise<FileStream>;
  async getFileStream(...raw: unknown[]): Promise<FileStream> {
    const { args: a, options: o } = this.begin('getFile', raw);
    return fileStreamOf(await this.call('getFile', [a[0]], this.plainMs(o), undefined, o?.signal), a[0] as string);
  }

  getNewestFile(filepattern: string, options?: DataCallOptions): Promise<Uint8Array>;
  async getNewestFile(...raw: unknown[]): Promise<Uint8Array> {
    const { args: a, options: o } = this.begin('getNewestFile', raw);
    return collectFile(await this.call('getNewestFile', [a[0]], this.plainMs(o), undefined, o?.signal), a[0] as string);
  }

  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep?: number | null, options?: DataCallOptions): Promise<void>;
  initWatch(dir: string, filePattern: string, minFileSize: number, options: DataCallOptions): Promise<void>;
  async initWatch(...raw: unknown[]): Promise<void> {
    const { args: a, options: o } = this.begin('initWatch', raw);
    const args: [string, string, number, number] = [a[0] as string, a[1] as string, a[2] as number, (a[3] ?? 0) as number];
    const [dir] = args;
    await this.call('initWatch', args, this.plainMs(o), undefined, o?.signal);
    if (this.watchesInstance !== this.instance) {
      this.watches.clear();
      this.watchesInstance = this.instance;
    }
    this.watches.delete(dir);
    this.watches.set(dir, args);
  }

  watchFile(filename: string, timeout?: number | null, options?: DataCallOptions): Promise<Uint8Array>;
  watchFile(filename: string, options: DataCallOptions): Promise<Uint8Array>;
  async watchFile(...raw: unknown[]): Promise<Uint8Array> {
    const { args: a, options: o } = this.begin('watchFile', raw);
    await this.first;
    if (this.watches.size && this.watchesInstance !== this.instance && this.connected) {
      // The runtime restarted: its watches are gone; set them up again, oldest first.
      for (const args of this.watches.values()) await this.call('initWatch', args, this.plainMs(o), undefined, o?.signal);
      this.watchesInstance = this.instance;
    }
    const timeout = (effectiveWait(a[1], o) ?? 5) as number;
    return (await this.call('watchFile', [a[0], timeout], waitDeadlineMs(timeout), undefined, o?.signal)) as Uint8Array;
  }

  putFile(filename: string, data: PutFileSource, compress?: boolean | null, options?: DataCallOptions): Promise<void>;
  putFile(filename: string, data: PutFileSource, options: DataCallOptions): Promise<void>;
  async putFile(...raw: unknown[]): Promise<void> {
    const { args: a, options: o } = this.begin('putFile', raw);
    const compress = (a[2] ?? false) as boolean;
    // More than a chunk, or a stream: sent as a flow-controlled stream that the runtime writes as
    // it arrives; such a call lasts as long as the transfer (no deadline unless options.timeout).
    const { value, streamed } = wireData(a[1]);
    const ms = streamed && o?.timeout === undefined ? Infinity : this.plainMs(o);
    await this.call('putFile', [a[0], value, compress], ms, compress === true, o?.signal);
  }

  listFiles(filepattern: string, options?: DataCallOptions): Promise<string[]>;
  async listFiles(...raw: unknown[]): Promise<string[]> {
    const { args: a, options: o } = this.begin('listFiles', raw);
    return (await this.call('listFiles', [a[0]], this.plainMs(o), undefined, o?.signal)) as string[];
  }

  listDirs(dirpattern: string, options?: DataCallOptions): Promise<string[]>;
  async listDirs(...raw: unknown[]): Promise<string[]> {
    const { args: a, options: o } = this.begin('listDirs', raw);
    return (await this.call('listDirs', [a[0]], this.plainMs(o), undefined, o?.signal)) as string[];
  }

  getAllowedFileTypes(options?: DataCallOptions): Promise<string[]>;
  async getAllowedFileTypes(...raw: unknown[]): Promise<string[]> {
    const { options: o } = this.begin('getAllowedFileTypes', raw);
    return (await this.call('getAllowedFileTypes', [], this.plainMs(o), undefined, o?.signal)) as string[];
  }

  getClockSkew(callerClockTime: number, roundTripTime: number, options?: DataCallOptions): Promise<number>;
  async getClockSkew(...raw: unknown[]): Promise<number> {
    const { args: a, options: o } = this.begin('getClockSkew', raw);
    return (await this.call('getClockSkew', [a[0], a[1]], this.plainMs(o), undefined, o?.signal)) as number;
  }

  ping(options?: DataCallOptions): Promise<number>;
  async ping(...raw: unknown[]): Promise<number> {
    const { options: o } = this.begin('ping', raw);
    return (await this.call('ping', [], this.plainMs(o), undefined, o?.signal)) as number;
  }

  /**
   * Series discovery on the runtime (resolves with the series folders already there). After a
   * runtime restart the watch is set up again there, reporting the folders that appeared
   * meanwhile (those there at the first start, and those already reported, are left out).
   */
  initSeriesWatch(sessionDir: string, options?: SeriesWatchOptions & DataCallOptions): Promise<string[]>;
  async initSeriesWatch(...raw: unknown[]): Promise<string[]> {
    const { args: a, options: o } = this.begin('initSeriesWatch', raw);
    const sessionDir = a[0] as string;
    const options = { ...((a[1] as Record<string, unknown> | undefined) ?? {}) };
    for (const k of Object.keys(options)) {
      if (!(SERIES_WATCH_OPTION_KEYS as readonly string[]).includes(k)) throw new ValidationError(`initSeriesWatch: unknown option '${k}' (known: ${SERIES_WATCH_OPTION_KEYS.join(', ')}, and the per-call timeout, signal)`);
    }
    const instance = this.instance;
    const initial = (await this.call('initSeriesWatch', [sessionDir, options], this.plainMs(o), undefined, o?.signal)) as string[];
    this.seriesRec = { sessionDir, options, instance, initial, reported: [] };
    return initial;
  }

  nextSeries(timeout?: number | null, options?: DataCallOptions): Promise<SeriesInfo>;
  nextSeries(options: DataCallOptions): Promise<SeriesInfo>;
  async nextSeries(...raw: unknown[]): Promise<SeriesInfo> {
    const { args: a, options: o } = this.begin('nextSeries', raw);
    await this.first;
    const rec = this.seriesRec;
    if (rec && rec.instance !== this.instance && this.connected) {
      // The runtime restarted: its series watch is gone. Set it up again; folders that appeared
      // while it was away are reported, the ones it had at the first start or reported are not.
      const exclude = [...new Set([...((rec.options.exclude as string[] | undefined) ?? []), ...rec.initial, ...rec.reported])];
      await this.call('initSeriesWatch', [rec.sessionDir, { ...rec.options, existing: 'report', exclude }], this.plainMs(o), undefined, o?.signal);
      rec.instance = this.instance;
    }
    const timeout = (effectiveWait(a[0], o) ?? 5) as number;
    const s = (await this.call('nextSeries', [timeout], waitDeadlineMs(timeout), undefined, o?.signal)) as SeriesInfo;
    rec?.reported.push(s.dir);
    return s;
  }

  closeSeriesWatch(options?: DataCallOptions): Promise<void>;
  async closeSeriesWatch(...raw: unknown[]): Promise<void> {
    const { options: o } = this.begin('closeSeriesWatch', raw);
    const rec = this.seriesRec;
    this.seriesRec = undefined;
    if (rec && rec.instance === this.instance && this.connected) await this.call('closeSeriesWatch', [], this.plainMs(o), undefined, o?.signal);
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

/** The stream window option: STREAM_WINDOW when absent, else an integer from 64 KiB to 1 GiB. */
export function checkStreamWindow(v: unknown): number {
  if (v === undefined) return STREAM_WINDOW;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 64 * 1024 || v > 1024 * 1024 * 1024) {
    throw new ValidationError(`streamWindow must be a number of bytes from 65536 to 1073741824 (got ${String(v)})`);
  }
  return v;
}
