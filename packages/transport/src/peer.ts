// Allow-listed binary RPC over any Link: the RpcPeer. No Node-only imports (browser builds use it).
//
// One RpcPeer per link; both ends can expose methods and call the other. There is no handshake and
// no authentication here: a peer runs on a link that is already authenticated (a relay session,
// or a WebRTC data channel negotiated over one). See README.md.
import { CancelledError, DisconnectedError, ProtocolError, RefusedMethodError, RtfmriError, TimeoutError, ValidationError } from './errors.js';
import { borrowWriter, decodeValue, encodeErrorBounded, Reader, releaseWriter, Writer, type OutgoingPart } from './codec.js';
import { DF_RESULT, F, MF_COMPRESSED, MF_DEADLINE, MF_EXTERNAL, MF_PARTS } from './frames.js';
import type { CloseInfo, Link } from './link.js';
import { Liveness } from './liveness.js';
import { pendingPromise, Pending, ref, Serving, swapContext, unref } from './calls.js';
import { applyCredit, creditFrame, finishFrame, Outbound } from './credit.js';
import { endOfFrame, Inbound } from './parts.js';
import { isForbiddenMethodName, resolveOptions, type CallOptions, type ExposeOptions, type ResolvedOptions, type RpcPeerOptions } from './options.js';
import { makeStub, type Remote } from './stub.js';

type AnyFn = (...args: unknown[]) => unknown;
type Method = { fn: AnyFn; self: unknown; arity: number | undefined };

/** The heartbeat frame: an unsolicited PONG (proof of life that asks for no reply). */
const HEARTBEAT = new Uint8Array([F.Pong, 0]);

export class RpcPeer {
  readonly link: Link;
  /** Resolves when the link is open (calls made before wait for it); rejects if it closes first. */
  readonly ready: Promise<void>;
  state: 'connecting' | 'ready' | 'closed' = 'connecting';

  private readonly opts: ResolvedOptions;
  private methods = new Map<string, Method>();
  private lastCallId = 0;
  private lastIncomingId = 0;
  private pending = new Map<number, Pending>();
  private serving = new Map<number, Serving>();
  private readonly inbound: Inbound;
  private readonly outbound: Outbound;
  private closeHandlers: Array<(info: CloseInfo) => void> = [];
  private liveness: Liveness | undefined;
  private pingSeq = 0;
  private pings = new Map<number, { t0: number; resolve: (ms: number) => void }>();
  private unsub: Array<() => void> = [];
  private closeError: Error | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineAt = Infinity;
  private deadlineIdle = false;
  private encodeOpts: { inlineLimit: number };
  private readonly expireCallsFn = () => this.expireCalls();

  constructor(link: Link, options: RpcPeerOptions = {}) {
    this.link = link;
    this.opts = resolveOptions(options);
    this.encodeOpts = { inlineLimit: this.opts.inlineLimit };
    this.inbound = new Inbound(this.opts, this);
    this.outbound = new Outbound({
      link,
      open: () => this.state === 'ready',
      trySend: (d) => this.trySend(d),
      frameBudget: () => this.frameBudget(),
      chunkSize: () => Math.max(1024, Math.min(this.opts.chunkSize, this.frameBudget())),
      highWaterMark: this.opts.highWaterMark,
      bulkHighWaterMark: this.opts.bulkHighWaterMark,
    });
    this.unsub.push(link.onMessage((m) => this.onFrame(m)));
    this.unsub.push(link.onClose((info) => this.onLinkClosed(info)));
    if (link.state === 'open') {
      this.ready = Promise.resolve();
      this.becomeReady();
      return;
    }
    this.ready = link.opened.then(() => {
      if (this.state === 'closed') throw this.disconnected();
      this.becomeReady();
    });
    this.ready.catch(() => {});
    if (link.state === 'closed') queueMicrotask(() => this.onLinkClosed({ reason: 'link already closed' }));
  }

  private becomeReady(): void {
    if (this.state !== 'connecting') return;
    this.state = 'ready';
    const hb = this.opts.heartbeat;
    if (hb) {
      this.liveness = new Liveness(this.link, {
        periodMs: hb.periodMs,
        deadAfterMs: hb.deadAfterMs,
        ping: HEARTBEAT,
        onDead: (silent) => this.fail(new DisconnectedError(`not connected: no heartbeat from the peer for ${silent} ms`), false),
      });
    }
  }

  // ---- public API --------------------------------------------------------------------------

  /** Serve `methods` of `impl` (only those names; see isForbiddenMethodName for what is never served). */
  expose(impl: object, methods: readonly string[], options: ExposeOptions = {}): this {
    for (const name of methods) {
      if (typeof name !== 'string' || isForbiddenMethodName(name)) throw new ValidationError(`refusing to expose ${String(name)}`);
      const fn = (impl as Record<string, unknown>)[name];
      if (typeof fn !== 'function') throw new ValidationError(`${name} is not a method of the exposed object`);
      if (this.methods.has(name)) throw new ValidationError(`${name} is already exposed`);
      let arity: number | undefined;
      if (options.contextArg === true) arity = (fn as AnyFn).length;
      else if (options.contextArg && typeof options.contextArg === 'object') arity = options.contextArg[name] ?? (fn as AnyFn).length;
      this.methods.set(name, { fn: fn as AnyFn, self: impl, arity });
    }
    return this;
  }

  /** Call a remote method. Rejects with the callee's typed error, TimeoutError, CancelledError or DisconnectedError. */
  call(method: string, args: readonly unknown[] = [], options: CallOptions = {}): Promise<unknown> {
    // One clock read per call: the deadline, and the time left sent with the request.
    const now = Date.now();
    const deadline = options.deadline ?? (options.timeoutMs ?? this.opts.defaultTimeoutMs) + now;
    if (this.state !== 'ready') return this.callWhenReady(method, args, options, deadline);
    try {
      return this.startCall(method, args, options, deadline, now);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async callWhenReady(method: string, args: readonly unknown[], options: CallOptions, deadline: number): Promise<unknown> {
    if (this.state === 'closed') throw this.disconnected();
    if (options.signal?.aborted) throw new CancelledError(`call ${method} cancelled`);
    await this.ready;
    if (this.state !== 'ready') throw this.disconnected();
    return this.startCall(method, args, options, deadline);
  }

  private startCall(method: string, args: readonly unknown[], options: CallOptions, deadline: number, now = Date.now()): Promise<unknown> {
    const signal = options.signal;
    if (signal?.aborted) throw new CancelledError(`call ${method} cancelled`);
    const id = ++this.lastCallId;
    const hasDeadline = Number.isFinite(deadline);
    const parts: OutgoingPart[] = [];
    const w = borrowWriter();
    let frame: Uint8Array;
    try {
      w.u8(F.Request);
      w.varint(id);
      const flagPos = w.pos;
      w.u8(hasDeadline ? MF_DEADLINE : 0);
      if (hasDeadline) w.varint(Math.max(0, Math.ceil(deadline - now)));
      w.string(method);
      frame = finishFrame(w, flagPos, Array.isArray(args) ? args : Array.from(args), options.compress, parts, this.encodeOpts, this.frameBudget());
    } finally {
      releaseWriter(w);
    }
    const p = new Pending(method, deadline);
    const promise = pendingPromise(p);
    if (signal) {
      const onAbort = () => this.abandon(id, new CancelledError(`call ${method} cancelled`));
      signal.addEventListener('abort', onAbort, { once: true });
      p.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.pending.set(id, p);
    if (hasDeadline) this.scheduleDeadline(deadline);
    try {
      this.link.send(frame);
    } catch (e) {
      this.settled(id, p);
      p.reject(e instanceof RtfmriError ? e : this.disconnected());
      return promise;
    }
    if (parts.length) void this.outbound.pumpParts(id, 0, parts, p, options.compress, null);
    return promise;
  }

  /**
   * One timer per peer for all call deadlines (armed for the earliest), rather than a timer per
   * call: setTimeout/clearTimeout per call showed up in the per-call cost.
   */
  private scheduleDeadline(at: number): void {
    if (at >= this.deadlineAt) {
      // The armed timer fires earlier than this deadline; it only needs to hold the process again.
      if (this.deadlineIdle) {
        this.deadlineIdle = false;
        ref(this.deadlineTimer);
      }
      return;
    }
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineAt = at;
    this.deadlineIdle = false;
    this.deadlineTimer = setTimeout(this.expireCallsFn, Math.max(0, at - Date.now()));
  }

  private expireCalls(): void {
    this.deadlineTimer = undefined;
    this.deadlineAt = Infinity;
    this.deadlineIdle = false;
    // Timers may fire a millisecond early by Date.now(); a call that is due now is due.
    const now = Date.now() + 2;
    let next = Infinity;
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) this.abandon(id, new TimeoutError(`call ${p.method} timed out`, { details: { method: p.method } }));
      else if (p.deadline < next) next = p.deadline;
    }
    if (next < Infinity) this.scheduleDeadline(next);
  }

  /** A pending call is over: forget it (and the deadline timer when nothing is pending). */
  private settled(id: number, p: Pending): void {
    this.pending.delete(id);
    p.cleanup();
    // Nothing pending: let the timer stay (one call after another would otherwise make and clear
    // a timer per call) but stop it from holding the process; when it fires it finds nothing.
    if (this.pending.size === 0 && this.deadlineTimer && !this.deadlineIdle) {
      this.deadlineIdle = true;
      unref(this.deadlineTimer);
    }
  }

  /** A typed stub whose methods call the remote ones with `options`. */
  stub<T extends object>(options: CallOptions & { methods?: readonly string[] } = {}): Remote<T> {
    return makeStub<T>(this, options);
  }

  /** Round-trip time of a PING, ms. */
  ping(timeoutMs = 5000): Promise<number> {
    const seq = ++this.pingSeq;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pings.delete(seq);
        reject(new TimeoutError('ping timed out'));
      }, timeoutMs);
      this.pings.set(seq, {
        t0: performance.now(),
        resolve: (ms) => {
          clearTimeout(t);
          resolve(ms);
        },
      });
      const w = new Writer(16);
      w.u8(F.Ping);
      w.varint(seq);
      try {
        this.link.send(w.finish());
      } catch (e) {
        clearTimeout(t);
        this.pings.delete(seq);
        reject(e);
      }
    });
  }

  onClose(handler: (info: CloseInfo) => void): () => void {
    if (this.state === 'closed') {
      void this.link.closed.then(handler);
      return () => {};
    }
    this.closeHandlers.push(handler);
    return () => {
      this.closeHandlers = this.closeHandlers.filter((h) => h !== handler);
    };
  }

  /** Close politely: tell the other end why, then close the link. Pending calls fail with DisconnectedError. */
  close(reason = 'closed by peer'): void {
    if (this.state === 'closed') return;
    this.closeError = new DisconnectedError(`not connected: ${reason}`);
    this.sendCloseThenClose(this.closeError);
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** A stream's window now: twice the link's bulk mark while the link asks bulk data to yield. */
  streamWindowNow(window: number): number {
    const mark = this.link.bulkHighWaterMark;
    return mark === undefined ? window : Math.min(window, 2 * mark);
  }

  /** An IncomingStream consumed bytes or stopped: grant credit or cancel. */
  sendCredit(callId: number, dir: 0 | 1, part: number, bytes: number, cancel: boolean): void {
    if (this.state !== 'ready') return;
    this.trySend(creditFrame(callId, dir, part, bytes, cancel));
  }

  // ---- frames in -----------------------------------------------------------------------------

  private onFrame(data: Uint8Array): void {
    if (this.state === 'closed') return;
    this.liveness?.heard();
    try {
      if (this.inbound.expectingRaw) return this.inbound.takeRaw(data);
      if (data.byteLength > this.opts.maxFrameSize) throw new ProtocolError(`frame of ${data.byteLength} bytes exceeds the limit of ${this.opts.maxFrameSize}`);
      if (data.byteLength === 0) throw new ProtocolError('empty frame');
      const r = new Reader(data);
      const type = r.u8();
      switch (type) {
        case F.Request:
          return this.onRequest(r);
        case F.Result:
          return this.onResult(r);
        case F.Fail:
          return this.onFail(r);
        case F.Cancel:
          return this.onCancel(r);
        case F.Data: {
          const id = r.varint();
          const flags = r.u8();
          return this.inbound.data(r, id, flags, flags & DF_RESULT ? this.lastCallId : this.lastIncomingId);
        }
        case F.Credit:
          return this.onCredit(r);
        case F.Ping: {
          const seq = r.varint();
          endOfFrame(r);
          const w = new Writer(16);
          w.u8(F.Pong);
          w.varint(seq);
          this.trySend(w.finish());
          return;
        }
        case F.Pong: {
          // seq 0 unasked for: a heartbeat (liveness already noted it).
          const seq = r.varint();
          endOfFrame(r);
          const p = this.pings.get(seq);
          if (p) {
            this.pings.delete(seq);
            p.resolve(performance.now() - p.t0);
          }
          return;
        }
        case F.Close:
          return this.onCloseFrame(r);
        default:
          throw new ProtocolError(`unexpected frame type 0x${type.toString(16)}`);
      }
    } catch (e) {
      const err = e instanceof RtfmriError ? e : new ProtocolError(`bad frame: ${(e as Error).message}`);
      this.fail(err);
    }
  }

  private onCloseFrame(r: Reader): void {
    const v = decodeValue(r);
    const err = v instanceof Error ? v : new DisconnectedError('not connected: peer closed');
    this.closeError = err;
    this.link.close(`peer closed: ${err.message}`, err);
  }

  // ---- requests (callee side) -----------------------------------------------------------------

  private onRequest(r: Reader): void {
    const id = r.varint();
    if (id <= this.lastIncomingId) throw new ProtocolError(`request id ${id} out of order`);
    this.lastIncomingId = id;
    const flags = r.u8();
    if (flags & ~(MF_DEADLINE | MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) throw new ProtocolError('unknown request flags');
    // The callee's deadline: the time left it was sent, from now (relative: clock skew does not matter).
    const deadline = flags & MF_DEADLINE ? Date.now() + r.varint() : Infinity;
    const method = r.string();
    const entry = this.methods.get(method);
    if (!entry) {
      this.sendFail(id, new RefusedMethodError(`method ${JSON.stringify(method.slice(0, 64))} is not exposed`, { details: { method: method.slice(0, 256) } }));
      return;
    }
    const s = new Serving(method, deadline, this);
    this.serving.set(id, s);
    if ((flags & (MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) === 0) {
      // The common case, a plain inline value: no part bookkeeping, decoded and dispatched now.
      const args = decodeValue(r);
      endOfFrame(r);
      this.dispatch(id, entry, args, s);
      return;
    }
    this.inbound.read(r, flags, id, 0, (args) => this.dispatch(id, entry, args, s));
  }

  private dispatch(id: number, entry: Method, args: unknown, s: Serving): void {
    if (!Array.isArray(args)) {
      this.sendFail(id, new ProtocolError('arguments must be an array'));
      this.finishServing(id);
      return;
    }
    if (s.aborted) {
      this.finishServing(id);
      return;
    }
    let callArgs = args as unknown[];
    if (entry.arity !== undefined) {
      callArgs = callArgs.slice();
      while (callArgs.length < entry.arity) callArgs.push(undefined);
      callArgs.push(s.ctx);
    }
    let result: unknown;
    const prev = swapContext(s.ctx);
    try {
      result = entry.fn.apply(entry.self, callArgs);
    } catch (e) {
      swapContext(prev);
      this.sendFail(id, e);
      this.finishServing(id);
      return;
    }
    swapContext(prev);
    if (result === null || (typeof result !== 'object' && typeof result !== 'function')) {
      // A plain synchronous result: no promise round.
      this.sendResult(id, result, s);
      return;
    }
    (result instanceof Promise ? result : Promise.resolve(result)).then(
      (v) => {
        if (this.state !== 'ready' || !this.serving.has(id)) return;
        if (s.reason instanceof CancelledError) {
          this.finishServing(id);
          return;
        }
        this.sendResult(id, v, s);
      },
      (e) => {
        if (this.state !== 'ready' || !this.serving.has(id)) return;
        this.sendFail(id, e);
        this.finishServing(id);
      },
    );
  }

  private sendResult(id: number, value: unknown, s: Serving): void {
    const parts: OutgoingPart[] = [];
    let frame: Uint8Array;
    const w = borrowWriter();
    try {
      w.u8(F.Result);
      w.varint(id);
      const flagPos = w.pos;
      w.u8(0);
      frame = finishFrame(w, flagPos, value, undefined, parts, this.encodeOpts, this.frameBudget());
    } catch (e) {
      this.sendFail(id, e);
      this.finishServing(id);
      return;
    } finally {
      releaseWriter(w);
    }
    if (!this.trySend(frame)) return;
    if (parts.length) {
      void this.outbound.pumpParts(id, 1, parts, s.sending, undefined, s.outStreams).finally(() => this.finishServing(id));
    } else {
      this.finishServing(id);
    }
  }

  private sendFail(id: number, e: unknown): void {
    const w = new Writer(128);
    w.u8(F.Fail);
    w.varint(id);
    encodeErrorBounded(e, w);
    this.trySend(w.finish());
  }

  private finishServing(id: number): void {
    const s = this.serving.get(id);
    if (!s) return;
    this.serving.delete(id);
    s.done();
    // Request streams the impl did not read to the end: tell the sender to stop. (Checked first:
    // making the error for every call would cost more than the call.)
    if (this.inbound.has(0, id)) this.inbound.drop(0, id, new CancelledError('call finished before its stream was read'), true);
  }

  private onCancel(r: Reader): void {
    const id = r.varint();
    endOfFrame(r);
    if (id > this.lastIncomingId) throw new ProtocolError(`cancel for unknown call ${id}`);
    const s = this.serving.get(id);
    if (!s) return;
    s.sending.aborted = true;
    s.abort(new CancelledError(`call ${s.method} cancelled by the caller`));
    if (this.inbound.has(0, id)) this.inbound.drop(0, id, new CancelledError('call cancelled'), false);
    this.finishServing(id);
  }

  // ---- results (caller side) ------------------------------------------------------------------

  private onResult(r: Reader): void {
    const id = r.varint();
    if (id > this.lastCallId) throw new ProtocolError(`result for a call never made (${id})`);
    const flags = r.u8();
    if (flags & ~(MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) throw new ProtocolError('unknown result flags');
    const p = this.pending.get(id);
    if (!p || this.inbound.has(1, id)) return; // late answer to a call that timed out or was cancelled
    if ((flags & (MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) === 0) {
      const value = decodeValue(r);
      endOfFrame(r);
      this.settled(id, p);
      p.resolve(value);
      return;
    }
    this.inbound.read(r, flags, id, 1, (value) => {
      const pp = this.pending.get(id);
      if (!pp) return;
      this.settled(id, pp);
      pp.resolve(value);
    });
  }

  private onFail(r: Reader): void {
    const id = r.varint();
    if (id > this.lastCallId) throw new ProtocolError(`failure for a call never made (${id})`);
    const v = decodeValue(r);
    endOfFrame(r);
    const p = this.pending.get(id);
    if (!p) return;
    this.settled(id, p);
    p.sending.aborted = true;
    if (this.inbound.has(1, id)) this.inbound.drop(1, id, new CancelledError('call failed'), true);
    p.reject(v instanceof Error ? v : new RtfmriError(String(v)));
  }

  /** Give up on an outgoing call (timeout/cancel): reject now, tell the callee. */
  private abandon(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.settled(id, p);
    p.sending.aborted = true;
    this.inbound.drop(1, id, err, true);
    const w = new Writer(16);
    w.u8(F.Cancel);
    w.varint(id);
    this.trySend(w.finish());
    p.reject(err);
  }

  private onCredit(r: Reader): void {
    const id = r.varint();
    const flags = r.u8();
    const part = r.varint();
    const bytes = r.varint();
    endOfFrame(r);
    // Credit for a request's part flows callee->caller: the call is ours (dir 0) or theirs (dir 1).
    const ours = (flags & DF_RESULT) === 0;
    if (id > (ours ? this.lastCallId : this.lastIncomingId)) throw new ProtocolError(`credit for unknown call ${id}`);
    const streams = ours ? this.outbound.requestStreams(id) : this.serving.get(id)?.outStreams;
    applyCredit(streams?.get(part), flags, bytes);
  }

  private frameBudget(): number {
    return Math.min(this.opts.maxFrameSize, this.link.maxMessageSize) - 64;
  }

  // ---- closing --------------------------------------------------------------------------------

  private trySend(data: Uint8Array | readonly Uint8Array[]): boolean {
    if (this.link.state !== 'open') return false;
    try {
      this.link.send(data);
      return true;
    } catch {
      return false;
    }
  }

  /** Close this link because of `err` (protocol error, dead peer). */
  private fail(err: Error, tell = true): void {
    if (this.state === 'closed') return;
    this.opts.onError?.(err);
    this.closeError = err;
    if (tell) this.sendCloseThenClose(err);
    else this.link.close(err.message, err);
  }

  /**
   * Tell the other end why, stop using the link at once (everything pending fails now), and close
   * the link a little later: closing at once can discard the CLOSE frame (WebRTC drops unsent data).
   */
  private sendCloseThenClose(err: Error): void {
    const w = new Writer(128);
    w.u8(F.Close);
    encodeErrorBounded(err, w);
    this.trySend(w.finish());
    const link = this.link;
    this.onLinkClosed({ reason: err.message, error: err });
    void link.drain(0).then(() => {
      const t = setTimeout(() => link.close(err.message, err), 100);
      unref(t);
    });
  }

  private disconnected(): DisconnectedError {
    if (this.closeError instanceof DisconnectedError) return new DisconnectedError(this.closeError.message);
    const why = this.closeError ? `: ${this.closeError.message}` : '';
    return new DisconnectedError(`not connected${why}`);
  }

  private onLinkClosed(info: CloseInfo): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (!this.closeError && info.error) this.closeError = info.error;
    this.liveness?.stop();
    for (const u of this.unsub) u();
    const err = this.disconnected();
    for (const [, p] of this.pending) {
      p.cleanup();
      p.sending.aborted = true;
      p.reject(err);
    }
    this.pending.clear();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const [, s] of this.serving) {
      s.sending.aborted = true;
      s.done();
      s.abort(err);
    }
    this.serving.clear();
    this.inbound.dropAll(err);
    this.outbound.wakeAll();
    this.pings.clear();
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const h of handlers) {
      try {
        h(info);
      } catch {
        // keep closing
      }
    }
  }
}
