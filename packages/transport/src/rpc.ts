// Allow-listed binary RPC over any Link. No Node-only imports (browser builds use it).
//
// One RpcPeer per link. Both ends can expose methods and call the other. A client-role peer opens
// with a challenge-response handshake; no call is accepted before it completes. See README.md.

import { deflateSync, inflateSync } from 'fflate';
import {
  AuthError,
  CancelledError,
  DisconnectedError,
  ProtocolError,
  RefusedMethodError,
  RtfmriError,
  TimeoutError,
  ValidationError,
} from './errors.js';
import { borrowWriter, ByteStream, decodeValue, encodeErrorBounded, encodeInline, encodeValue, OutgoingPart, Reader, releaseWriter, Writer } from './codec.js';
import {
  CF_CANCEL,
  DF_RAW,
  DF_DONE,
  MF_PARTS,
  DF_COMPRESSED,
  DF_END,
  DF_ERROR,
  DF_RESULT,
  F,
  MF_COMPRESSED,
  MF_DEADLINE,
  MF_EXTERNAL,
  NONCE_BYTES,
  PROTOCOL_VERSION,
} from './frames.js';
import { hmacSha256, randomBytes, timingSafeEqual } from './hmac.js';
import type { CloseInfo, Link } from './link.js';

/** Who a peer claims to be; the server may look up the token by it. Plain data only. */
export type Identity = Record<string, unknown>;

export interface ClientAuth {
  /** Shared secret. Never sent: only HMACs over fresh nonces. Never logged. */
  token: string | Uint8Array;
  identity?: Identity;
}

export interface ServerAuth {
  /** One token for every peer ... */
  token?: string | Uint8Array;
  /** ... or a token per claimed identity (undefined: unknown identity, refused). */
  lookup?: (identity: Identity) => string | Uint8Array | undefined | Promise<string | Uint8Array | undefined>;
}

export interface RpcPeerOptions {
  /** 'client' opens the handshake; 'server' answers it. */
  role: 'client' | 'server';
  /**
   * Client: { token, identity }. Server: { token } or { lookup }.
   * 'none' must be said explicitly (in-process links, tests): an unauthenticated server accepts anyone.
   */
  auth: ClientAuth | ServerAuth | 'none';
  /** Client with auth 'none' may still announce an identity. */
  identity?: Identity;
  /** Largest frame accepted (bytes). Bigger frames: ProtocolError, link closed. Default 8 MiB + 4 KiB. */
  maxFrameSize?: number;
  /** Largest single Uint8Array part accepted (bytes). Default 2 GiB - 1. */
  maxPartSize?: number;
  /** Bytes per DATA frame (capped by the link's maxMessageSize). Default 1 MiB. */
  chunkSize?: number;
  /** Uint8Arrays at least this long travel as parts (raw DATA frames) instead of inline. Default 16 KiB. */
  inlineLimit?: number;
  /** Pumping pauses while the link's bufferedAmount is above this. Default 8 MiB. */
  highWaterMark?: number;
  /** Credit a stream receiver grants (bytes in flight per stream). Default 16 MiB. */
  streamWindow?: number;
  /** Heartbeat period, ms. Default 500. 0 disables heartbeats. */
  heartbeatMs?: number;
  /** Silence after which the peer is declared dead and the link closed, ms. Default 1500. */
  deadAfterMs?: number;
  /** Handshake must complete within this, ms. Default 10000. */
  handshakeTimeoutMs?: number;
  /** Deadline for calls that give none, ms. Default 60000. Infinity: no deadline. */
  defaultTimeoutMs?: number;
  /** Routes requests for methods not exposed here to another peer, without decoding payloads. */
  forward?: (method: string, from: RpcPeer) => RpcPeer | undefined;
  /** Diagnostics (protocol errors, closes). Never receives tokens. */
  onError?: (err: Error) => void;
}

export interface CallOptions {
  /** Time allowed for the call, ms (sent to the callee as time left). */
  timeoutMs?: number;
  /** Absolute deadline, ms since epoch (local clock); converted to time left when sent. */
  deadline?: number;
  /** Abort to cancel: the caller rejects with CancelledError and the callee's signal aborts. */
  signal?: AbortSignal;
  /** Deflate the payload in transit: true, false, or 'auto' (only when a sample compresses well). */
  compress?: boolean | 'auto';
}

/** What the callee sees of the call. */
export interface CallContext {
  readonly method: string;
  /** Local deadline, ms since epoch (Infinity when none). */
  readonly deadline: number;
  /** Aborted when the caller cancels, its deadline passes, or the link drops. reason is a typed error. */
  readonly signal: AbortSignal;
  /** ms until the deadline (Infinity when none). */
  timeLeftMs(): number;
  /** Identity the peer authenticated as (or announced, with auth 'none'). */
  readonly identity: Identity | undefined;
  readonly peer: RpcPeer;
}

let activeContext: CallContext | undefined;

/**
 * The context of the call being dispatched. Valid synchronously at the start of an exposed method
 * (read it before the first `await`); undefined outside a call.
 */
export function currentCall(): CallContext | undefined {
  return activeContext;
}

export interface ExposeOptions {
  /**
   * Pass the CallContext as an extra last argument. true: after padding the arguments to the
   * function's declared length; a record: after padding to the arity given per method.
   */
  contextArg?: boolean | Record<string, number>;
}

type AnyFn = (...args: unknown[]) => unknown;

/** Names never exposed, whatever the allow-list says. */
const FORBIDDEN = new Set([
  ...Object.getOwnPropertyNames(Object.prototype),
  ...Object.getOwnPropertyNames(Function.prototype),
  'constructor',
  'prototype',
  '__proto__',
  'then',
]);

export function isForbiddenMethodName(name: string): boolean {
  return FORBIDDEN.has(name) || name.startsWith('_') || name.startsWith('#') || name.length === 0 || name.length > 256;
}

// ---------------------------------------------------------------------------------------------

interface PartSinkBlob {
  kind: 'blob';
  len: number;
  /** Allocated at the first chunk (or the chunk itself when it is the whole part). */
  buf: Uint8Array | null;
  filled: number;
}
interface PartSinkStream {
  kind: 'stream';
  stream: IncomingStream;
}
type PartSink = PartSinkBlob | PartSinkStream;

/** An incoming message (request or result) being assembled from its frames. */
interface Incoming {
  callId: number;
  dir: 0 | 1;
  compressed: boolean;
  external: PartSinkBlob | null;
  value: unknown;
  /** The value's bytes, kept for the second decoding pass when it has parts. */
  body: Uint8Array | null;
  rawLen?: number;
  decoded: boolean;
  parts: PartSink[];
  blobsLeft: number;
  openStreams: number;
  onComplete: (value: unknown) => void;
  delivered: boolean;
}

/**
 * A call in flight (caller side). A class, so every record has one shape; it is also its own
 * `sending` flag (one object less per call).
 */
class Pending {
  resolve: (v: unknown) => void = noop;
  reject: (e: Error) => void = noop;
  cleanup: () => void = noop;
  aborted = false;
  readonly sending: { aborted: boolean } = this;
  constructor(
    readonly method: string,
    readonly deadline: number,
  ) {}
}

/**
 * The promise executor of a call, shared by all calls: a per-call arrow executor would allocate a
 * closure and its context (capturing the call's locals) on every call. `nextPending` is set just
 * before `new Promise` and read synchronously inside it.
 */
let nextPending: Pending | undefined;
function takeResolvers(resolve: (v: unknown) => void, reject: (e: Error) => void): void {
  nextPending!.resolve = resolve;
  nextPending!.reject = reject;
}

/**
 * A call being served. The AbortController and the deadline timer are made only when the method
 * reads `signal` (most calls never do; making them for every call costs more than the call).
 */
class Serving implements CallContext {
  reason: Error | undefined;
  sending = { aborted: false };
  private streams: Map<number, OutStream> | undefined;
  get outStreams(): Map<number, OutStream> {
    return (this.streams ??= new Map());
  }
  hasOutStreams(): boolean {
    return !!this.streams;
  }
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    readonly method: string,
    readonly deadline: number,
    readonly identity: Identity | undefined,
    readonly peer: RpcPeer,
  ) {}
  get ctx(): CallContext {
    return this;
  }
  timeLeftMs(): number {
    return this.deadline - Date.now();
  }
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
      else if (Number.isFinite(this.deadline)) {
        // A little after the deadline: the caller's own timer (and its CANCEL) should win, so the
        // caller sees TimeoutError rather than whatever the aborted method returns.
        this.timer = setTimeout(() => this.abort(new TimeoutError(`deadline of ${this.method} passed`)), Math.max(0, this.deadline - Date.now()) + 25);
        unref(this.timer);
      }
    }
    return this.controller.signal;
  }
  get aborted(): boolean {
    return this.reason !== undefined;
  }
  abort(reason: Error): true {
    if (!this.reason) {
      this.reason = reason;
      this.controller?.abort(reason);
    }
    return true;
  }
  done(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

interface OutStream {
  credit: number;
  wake: (() => void) | null;
  cancelled: boolean;
}

/** Forwarding state: a call relayed between two peers by call-id rewriting. */
interface Route {
  from: RpcPeer;
  fromId: number;
  to: RpcPeer;
  toId: number;
}

const EMPTY = new Uint8Array(0);
const enc = new TextEncoder();

function toKey(t: string | Uint8Array): Uint8Array {
  return typeof t === 'string' ? enc.encode(t) : t;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const CLIENT_LABEL = enc.encode('rtfmri/1 client proof');
const SERVER_LABEL = enc.encode('rtfmri/1 server proof');

export class RpcPeer {
  readonly link: Link;
  readonly role: 'client' | 'server';
  /** Resolves when the handshake is done; rejects (AuthError, DisconnectedError, ...) otherwise. */
  readonly ready: Promise<void>;
  /** The identity the other end authenticated as (server side), or announced. */
  remoteIdentity: Identity | undefined;
  state: 'handshake' | 'ready' | 'closed' = 'handshake';

  private opts: Required<Omit<RpcPeerOptions, 'forward' | 'onError' | 'identity'>> & Pick<RpcPeerOptions, 'forward' | 'onError' | 'identity'>;
  private methods = new Map<string, { fn: AnyFn; self: unknown; arity: number | undefined }>();
  private contextArg = new Map<string, number | true>();
  private lastCallId = 0;
  private lastIncomingId = 0;
  private pending = new Map<number, Pending>();
  private serving = new Map<number, Serving>();
  private inReq = new Map<number, Incoming>();
  private inRes = new Map<number, Incoming>();
  /** Outgoing streams of results we send, by callId (for credit). */
  private outReqStreams = new Map<number, Map<number, OutStream>>();
  private routesOut = new Map<number, Route>(); // our outgoing call id -> route (we are the relay, this peer is `to`)
  private routesIn = new Map<number, Route>(); // their incoming call id -> route (this peer is `from`)
  private signalHandlers: Array<(msg: unknown) => void> = [];
  private closeHandlers: Array<(info: CloseInfo) => void> = [];
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  private hs: { clientNonce?: Uint8Array; serverNonce?: Uint8Array; identityBytes?: Uint8Array; key?: Uint8Array; step: number } = { step: 0 };
  private lastHeard = Date.now();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private pingSeq = 0;
  private pings = new Map<number, { t0: number; resolve: (ms: number) => void }>();
  private unsub: Array<() => void> = [];
  private closeError: Error | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineAt = Infinity;
  private deadlineIdle = false;
  private encodeOpts: { inlineLimit: number } = { inlineLimit: 16 * 1024 };
  private readonly expireCallsFn = () => this.expireCalls();
  /** Set by a DATA header whose payload is the next message. */
  private rawNext:
    | { inc: Incoming; sink: PartSink; flags: number }
    | { forward: RpcPeer; header: Uint8Array }
    | { drop: true }
    | null = null;

  constructor(link: Link, options: RpcPeerOptions) {
    if (!options || (options.auth === undefined)) throw new ValidationError("RpcPeer needs options.auth (a token, a lookup, or 'none')");
    this.link = link;
    this.role = options.role;
    this.opts = {
      maxFrameSize: 8 * 1024 * 1024 + 4096,
      maxPartSize: 2 ** 31 - 1,
      chunkSize: 1024 * 1024,
      inlineLimit: 16 * 1024,
      highWaterMark: 8 * 1024 * 1024,
      streamWindow: 16 * 1024 * 1024,
      heartbeatMs: 500,
      deadAfterMs: 1500,
      handshakeTimeoutMs: 10_000,
      defaultTimeoutMs: 60_000,
      ...options,
    };
    this.encodeOpts = { inlineLimit: this.opts.inlineLimit };
    if (this.role === 'server' && options.auth !== 'none') {
      const a = options.auth as ServerAuth;
      if (!a.token && !a.lookup) throw new ValidationError('server auth needs a token or a lookup');
    }
    this.ready = new Promise<void>((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => {});
    this.unsub.push(link.onMessage((m) => this.onFrame(m)));
    this.unsub.push(link.onClose((info) => this.onLinkClosed(info)));
    if (link.state === 'closed') {
      queueMicrotask(() => this.onLinkClosed({ reason: 'link already closed' }));
      return;
    }
    this.handshakeTimer = setTimeout(
      () => this.fail(new AuthError(`handshake not completed within ${this.opts.handshakeTimeoutMs} ms`)),
      this.opts.handshakeTimeoutMs,
    );
    unref(this.handshakeTimer);
    link.opened.then(
      () => {
        if (this.state === 'closed') return;
        this.lastHeard = Date.now();
        this.startHeartbeat();
        if (this.role === 'client') this.sendHello();
      },
      () => {},
    );
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
      frame = this.finishFrame(w, flagPos, Array.isArray(args) ? args : Array.from(args), options.compress, parts);
    } finally {
      releaseWriter(w);
    }
    const p = new Pending(method, deadline);
    nextPending = p;
    const promise = new Promise<unknown>(takeResolvers);
    nextPending = undefined;
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
    if (parts.length) void this.pumpParts(id, 0, parts, p, options.compress, null);
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

  /** Send a signaling message (e.g. WebRTC offer/answer/candidate) to the other end. Plain data only. */
  sendSignal(msg: unknown): void {
    if (this.state !== 'ready') throw this.disconnected();
    const body = encodeInline(msg);
    this.link.send([Uint8Array.of(F.Signal), body]);
  }

  onSignal(handler: (msg: unknown) => void): () => void {
    this.signalHandlers.push(handler);
    return () => {
      this.signalHandlers = this.signalHandlers.filter((h) => h !== handler);
    };
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

  /** Forwarded calls currently routed through this peer (relay diagnostics). */
  get routeCount(): number {
    return this.routesIn.size + this.routesOut.size;
  }

  // ---- frames in -----------------------------------------------------------------------------

  private onFrame(data: Uint8Array): void {
    if (this.state === 'closed') return;
    this.lastHeard = Date.now();
    try {
      const raw = this.rawNext;
      if (raw) {
        // This message is the payload announced by the DATA header just before it.
        this.rawNext = null;
        if (data.byteLength > this.opts.maxFrameSize) throw new ProtocolError(`frame of ${data.byteLength} bytes exceeds the limit of ${this.opts.maxFrameSize}`);
        if ('forward' in raw) {
          raw.forward.trySend(raw.header);
          raw.forward.trySend(data);
        } else if ('inc' in raw) {
          if (data.byteLength === 0) throw new ProtocolError('empty data frame');
          this.acceptData(raw.inc, raw.sink, raw.flags, new Reader(data), -1);
        }
        return;
      }
      const limit = this.state === 'handshake' ? 64 * 1024 : this.opts.maxFrameSize;
      if (data.byteLength > limit) throw new ProtocolError(`frame of ${data.byteLength} bytes exceeds the limit of ${limit}`);
      if (data.byteLength === 0) throw new ProtocolError('empty frame');
      const r = new Reader(data);
      const type = r.u8();
      if (this.state === 'handshake') {
        if (type === F.Close) return this.onCloseFrame(r);
        // Each side's heartbeat (an unsolicited PONG) starts when the link opens, not when the
        // handshake ends, so one can arrive before or between handshake frames (a server whose
        // link opens before the client's HELLO arrives: a relay session). It asks for nothing;
        // lastHeard is already updated.
        if (type === F.Pong) return;
        return this.onHandshake(type, r);
      }
      switch (type) {
        case F.Request:
          return this.onRequest(r, data);
        case F.Result:
          return this.onResult(r, data);
        case F.Fail:
          return this.onFail(r, data);
        case F.Cancel:
          return this.onCancel(r, data);
        case F.Data:
          return this.onData(r, data);
        case F.Credit:
          return this.onCredit(r, data);
        case F.Ping: {
          const seq = r.varint();
          this.end(r);
          const w = new Writer(16);
          w.u8(F.Pong);
          w.varint(seq);
          this.trySend(w.finish());
          return;
        }
        case F.Pong: {
          const seq = r.varint();
          this.end(r);
          const p = this.pings.get(seq);
          if (p) {
            this.pings.delete(seq);
            p.resolve(performance.now() - p.t0);
          }
          return;
        }
        case F.Signal: {
          const v = decodeValue(r);
          this.end(r);
          // A copy: a handler may subscribe another (acceptWebRtc does) while we iterate.
          for (const h of [...this.signalHandlers]) {
            try {
              h(v);
            } catch (e) {
              this.opts.onError?.(e as Error);
            }
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

  private end(r: Reader): void {
    if (r.remaining) throw new ProtocolError('trailing bytes in frame');
  }

  private onCloseFrame(r: Reader): void {
    const v = decodeValue(r);
    const err = v instanceof Error ? v : new DisconnectedError('not connected: peer closed');
    this.closeError = err;
    this.link.close(`peer closed: ${err.message}`, err);
  }

  // ---- handshake ---------------------------------------------------------------------------

  private sendHello(): void {
    const auth = this.opts.auth;
    const identity = auth !== 'none' && 'identity' in auth && auth.identity ? auth.identity : this.opts.identity ?? {};
    this.hs.clientNonce = randomBytes(NONCE_BYTES);
    this.hs.identityBytes = encodeInline(identity);
    this.hs.step = 1;
    this.trySend(concat(Uint8Array.of(F.Hello, PROTOCOL_VERSION), this.hs.clientNonce, this.hs.identityBytes));
  }

  private onHandshake(type: number, r: Reader): void {
    if (this.role === 'server') {
      if (this.hs.step === 0 && type === F.Hello) {
        const version = r.u8();
        if (version !== PROTOCOL_VERSION) throw new ProtocolError(`unsupported protocol version ${version}`);
        this.hs.clientNonce = r.bytes(NONCE_BYTES).slice();
        const idStart = r.pos;
        const identity = decodeValue(r);
        this.end(r);
        if (!identity || typeof identity !== 'object' || Array.isArray(identity) || identity instanceof Error) {
          throw new ProtocolError('identity must be a plain object');
        }
        this.hs.identityBytes = r.buf.slice(idStart);
        this.remoteIdentity = identity as Identity;
        this.hs.serverNonce = randomBytes(NONCE_BYTES);
        this.hs.step = 2;
        const required = this.opts.auth !== 'none';
        this.trySend(concat(Uint8Array.of(F.Challenge, required ? 1 : 0), this.hs.serverNonce));
        return;
      }
      if (this.hs.step === 2 && type === F.Auth) {
        const mac = r.rest();
        this.hs.step = 3;
        void this.verifyClient(mac.slice());
        return;
      }
      throw new AuthError('not authenticated: handshake expected');
    }
    // client
    if (this.hs.step === 1 && type === F.Challenge) {
      const flags = r.u8();
      this.hs.serverNonce = r.bytes(NONCE_BYTES).slice();
      this.end(r);
      const auth = this.opts.auth;
      const required = (flags & 1) !== 0;
      if (auth === 'none' || !('token' in auth) || !auth.token) {
        if (required) throw new AuthError('the server requires a token');
        this.hs.step = 2;
        this.trySend(Uint8Array.of(F.Auth));
        return;
      }
      this.hs.key = toKey(auth.token);
      const mac = hmacSha256(this.hs.key, concat(CLIENT_LABEL, this.hs.serverNonce, this.hs.clientNonce!, this.hs.identityBytes!));
      this.hs.step = 2;
      this.trySend(concat(Uint8Array.of(F.Auth), mac));
      return;
    }
    if (this.hs.step === 2 && type === F.Welcome) {
      const mac = r.rest();
      if (this.hs.key) {
        const expect = hmacSha256(this.hs.key, concat(SERVER_LABEL, this.hs.clientNonce!, this.hs.serverNonce!, this.hs.identityBytes!));
        this.hs.key = undefined;
        if (!timingSafeEqual(mac, expect)) throw new AuthError('the server could not prove it knows the token');
      } else if (mac.length) {
        throw new ProtocolError('unexpected server proof');
      }
      this.becomeReady();
      return;
    }
    throw new ProtocolError('unexpected frame during handshake');
  }

  private async verifyClient(mac: Uint8Array): Promise<void> {
    try {
      const auth = this.opts.auth;
      if (auth === 'none') {
        this.trySend(Uint8Array.of(F.Welcome));
        this.becomeReady();
        return;
      }
      const a = auth as ServerAuth;
      let token: string | Uint8Array | undefined;
      if (a.lookup) token = await a.lookup(this.remoteIdentity ?? {});
      else token = a.token;
      if (this.state === 'closed') return;
      const key = token === undefined ? undefined : toKey(token);
      // Compare even for an unknown identity so timing tells nothing.
      const expect = hmacSha256(key ?? randomBytes(32), concat(CLIENT_LABEL, this.hs.serverNonce!, this.hs.clientNonce!, this.hs.identityBytes!));
      if (!key || mac.length !== 32 || !timingSafeEqual(mac, expect)) {
        throw new AuthError('authentication failed');
      }
      const proof = hmacSha256(key, concat(SERVER_LABEL, this.hs.clientNonce!, this.hs.serverNonce!, this.hs.identityBytes!));
      this.trySend(concat(Uint8Array.of(F.Welcome), proof));
      this.becomeReady();
    } catch (e) {
      this.fail(e instanceof RtfmriError ? e : new AuthError('authentication failed'));
    }
  }

  private becomeReady(): void {
    if (this.state !== 'handshake') return;
    this.state = 'ready';
    this.hs = { step: 9 };
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.resolveReady();
  }

  // ---- requests (callee side) -----------------------------------------------------------------

  private onRequest(r: Reader, frame: Uint8Array): void {
    const id = r.varint();
    if (id <= this.lastIncomingId) throw new ProtocolError(`request id ${id} out of order`);
    this.lastIncomingId = id;
    const headerStart = r.pos;
    const flags = r.u8();
    if (flags & ~(MF_DEADLINE | MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) throw new ProtocolError('unknown request flags');
    const timeoutMs = flags & MF_DEADLINE ? r.varint() : Infinity;
    const method = r.string();
    // onFrame has just read the clock into lastHeard.
    const deadline = this.lastHeard + timeoutMs;

    const entry = this.methods.get(method);
    if (!entry) {
      const target = this.opts.forward?.(method, this);
      if (target && !isForbiddenMethodName(method)) {
        this.forwardRequest(id, frame, headerStart, flags, timeoutMs, target);
        return;
      }
      this.sendFail(id, new RefusedMethodError(`method ${JSON.stringify(method.slice(0, 64))} is not exposed`, { details: { method: method.slice(0, 256) } }));
      return;
    }
    const s = new Serving(method, deadline, this.remoteIdentity, this);
    this.serving.set(id, s);
    if ((flags & (MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) === 0) {
      // The common case, a plain inline value: no part bookkeeping, decoded and dispatched now.
      const args = decodeValue(r);
      this.end(r);
      this.dispatch(id, entry, args, s);
      return;
    }
    this.readIncoming(r, flags, id, 0, (args) => this.dispatch(id, entry, args, s));
  }

  private dispatch(id: number, entry: { fn: AnyFn; self: unknown; arity: number | undefined }, args: unknown, s: Serving): void {
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
    const prev = activeContext;
    activeContext = s.ctx;
    try {
      result = entry.fn.apply(entry.self, callArgs);
    } catch (e) {
      activeContext = prev;
      this.sendFail(id, e);
      this.finishServing(id);
      return;
    }
    activeContext = prev;
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
      frame = this.finishFrame(w, flagPos, value, undefined, parts);
    } catch (e) {
      this.sendFail(id, e);
      this.finishServing(id);
      return;
    } finally {
      releaseWriter(w);
    }
    if (!this.trySend(frame)) return;
    if (parts.length) {
      void this.pumpParts(id, 1, parts, s.sending, undefined, s.outStreams).finally(() => this.finishServing(id));
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
    // Request streams the impl did not read to the end: tell the sender to stop.
    const inc = this.inReq.get(id);
    if (inc) this.dropIncoming(inc, new CancelledError('call finished before its stream was read'), true);
  }

  private onCancel(r: Reader, frame: Uint8Array): void {
    const id = r.varint();
    this.end(r);
    if (id > this.lastIncomingId) throw new ProtocolError(`cancel for unknown call ${id}`);
    const route = this.routesIn.get(id);
    if (route) {
      route.to.rawSend(F.Cancel, route.toId, frame, r.pos);
      route.to.routesOut.delete(route.toId);
      this.routesIn.delete(id);
      return;
    }
    const s = this.serving.get(id);
    if (!s) return;
    s.sending.aborted = true;
    s.abort(new CancelledError(`call ${s.method} cancelled by the caller`));
    const inc = this.inReq.get(id);
    if (inc) this.dropIncoming(inc, new CancelledError('call cancelled'), false);
    this.finishServing(id);
  }

  // ---- results (caller side) ------------------------------------------------------------------

  private onResult(r: Reader, frame: Uint8Array): void {
    const id = r.varint();
    if (id > this.lastCallId) throw new ProtocolError(`result for a call never made (${id})`);
    const route = this.routesOut.get(id);
    if (route) return this.forwardBack(route, F.Result, frame, r.pos, (frame[r.pos] & MF_PARTS) === 0);
    const flags = r.u8();
    if (flags & ~(MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) throw new ProtocolError('unknown result flags');
    const p = this.pending.get(id);
    if (!p || this.inRes.has(id)) return; // late answer to a call that timed out or was cancelled
    if ((flags & (MF_COMPRESSED | MF_EXTERNAL | MF_PARTS)) === 0) {
      const value = decodeValue(r);
      this.end(r);
      this.settled(id, p);
      p.resolve(value);
      return;
    }
    this.readIncoming(r, flags, id, 1, (value) => {
      const pp = this.pending.get(id);
      if (!pp) return;
      this.settled(id, pp);
      pp.resolve(value);
    });
  }

  private onFail(r: Reader, frame: Uint8Array): void {
    const id = r.varint();
    if (id > this.lastCallId) throw new ProtocolError(`failure for a call never made (${id})`);
    const route = this.routesOut.get(id);
    if (route) return this.forwardBack(route, F.Fail, frame, r.pos, true);
    const v = decodeValue(r);
    this.end(r);
    const p = this.pending.get(id);
    if (!p) return;
    this.settled(id, p);
    p.sending.aborted = true;
    const inc = this.inRes.get(id);
    if (inc) this.dropIncoming(inc, new CancelledError('call failed'), true);
    p.reject(v instanceof Error ? v : new RtfmriError(String(v)));
  }

  /** Give up on an outgoing call (timeout/cancel): reject now, tell the callee. */
  private abandon(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.settled(id, p);
    p.sending.aborted = true;
    const inc = this.inRes.get(id);
    if (inc) this.dropIncoming(inc, err, true);
    const w = new Writer(16);
    w.u8(F.Cancel);
    w.varint(id);
    this.trySend(w.finish());
    p.reject(err);
  }

  // ---- message bodies and parts -----------------------------------------------------------

  /**
   * Complete a Request/Result frame whose header (flags byte at `flagPos`) is in the borrowed
   * writer `w`: append the value (parts go to `parts`) and copy the frame out. Big or compressed
   * values take the slow path. The caller releases `w`.
   */
  private finishFrame(w: Writer, flagPos: number, value: unknown, compress: CallOptions['compress'], parts: OutgoingPart[]): Uint8Array {
    const bodyStart = w.pos;
    encodeValue(value, parts, w, this.encodeOpts);
    if ((!compress || w.pos - bodyStart <= 256) && w.pos + 24 <= this.frameBudget()) {
      if (parts.length) w.buf[flagPos] |= MF_PARTS;
      return w.take();
    }
    const body = w.buf.slice(bodyStart, w.pos);
    w.pos = bodyStart;
    w.buf[flagPos] |= this.writeBody(w, body, compress, parts);
    return w.take();
  }

  /** Append the value (inline, compressed, or external) to a Request/Result header; returns flags. */
  private writeBody(w: Writer, body: Uint8Array, compress: CallOptions['compress'], parts: OutgoingPart[]): number {
    let flags = 0;
    let payload = body;
    if (compress && body.length > 256) {
      const z = deflateSync(body, { level: 1 });
      if (z.length < body.length * 0.9) {
        payload = z;
        flags |= MF_COMPRESSED;
      }
    }
    if (payload.length + w.pos + 24 > this.frameBudget()) {
      flags |= MF_EXTERNAL;
      if (flags & MF_COMPRESSED) w.varint(body.length);
      w.varint(payload.length);
      parts.unshift({ kind: 'blob', bytes: payload });
      // The external value is sent uncompressed-per-chunk: it is already deflated if asked.
      return flags | MF_PARTS;
    }
    if (flags & MF_COMPRESSED) w.varint(body.length);
    w.bytes(payload);
    return flags | (parts.length ? MF_PARTS : 0);
  }

  private frameBudget(): number {
    return Math.min(this.opts.maxFrameSize, this.link.maxMessageSize) - 64;
  }

  private chunkSize(): number {
    return Math.max(1024, Math.min(this.opts.chunkSize, this.frameBudget()));
  }

  private readIncoming(r: Reader, flags: number, id: number, dir: 0 | 1, onComplete: (v: unknown) => void): void {
    const inc: Incoming = {
      callId: id,
      dir,
      compressed: (flags & MF_COMPRESSED) !== 0,
      external: null,
      value: undefined,
      body: null,
      decoded: false,
      parts: [],
      blobsLeft: 0,
      openStreams: 0,
      onComplete,
      delivered: false,
    };
    const rawLen = inc.compressed ? r.varint() : 0;
    if (inc.compressed && rawLen > this.opts.maxPartSize) throw new ProtocolError('value too large');
    if (flags & MF_EXTERNAL) {
      const extLen = r.varint();
      this.end(r);
      if (extLen > this.opts.maxPartSize) throw new ProtocolError(`value of ${extLen} bytes exceeds the limit`);
      inc.externalUsed = true;
      inc.external = { kind: 'blob', len: extLen, buf: null, filled: 0 };
      inc.rawLen = rawLen;
      (dir ? this.inRes : this.inReq).set(id, inc);
      if (extLen === 0) this.externalDone(inc);
      return;
    }
    let body = r.rest();
    if (inc.compressed) body = inflateExact(body, rawLen);
    (dir ? this.inRes : this.inReq).set(id, inc);
    this.decodeBody(inc, body);
  }

  private externalDone(inc: Incoming): void {
    let body = inc.external!.buf ?? new Uint8Array(0);
    if (inc.compressed) body = inflateExact(body, inc.rawLen ?? 0);
    inc.external = null;
    this.decodeBody(inc, body);
  }

  /**
   * First pass over the value: learn its parts (streams start flowing now). When there are blobs,
   * the value is decoded again once they have arrived, so each blob can be the received bytes
   * themselves when it came in one piece (no copy, no buffer allocated up front).
   */
  private decodeBody(inc: Incoming, body: Uint8Array): void {
    const r = new Reader(body);
    const maxPart = this.opts.maxPartSize;
    let hasParts = false;
    const value = decodeValue(r, {
      blob: (_i, len) => {
        if (len > maxPart) throw new ProtocolError(`part of ${len} bytes exceeds the limit of ${maxPart}`);
        inc.parts.push({ kind: 'blob', len, buf: len ? null : new Uint8Array(0), filled: 0 });
        if (len > 0) inc.blobsLeft++;
        hasParts = true;
        return undefined as unknown as Uint8Array;
      },
      stream: (i) => {
        const stream = new IncomingStream(this, inc.callId, inc.dir, i + (inc.externalUsed ? 1 : 0), this.opts.streamWindow, () => {
          inc.openStreams--;
          this.maybeComplete(inc);
        });
        inc.parts.push({ kind: 'stream', stream });
        inc.openStreams++;
        hasParts = true;
        return stream;
      },
    });
    if (r.remaining) throw new ProtocolError('trailing bytes after value');
    if (hasParts) inc.body = body;
    else inc.value = value;
    inc.decoded = true;
    this.maybeComplete(inc);
  }

  private maybeComplete(inc: Incoming): void {
    if (!inc.decoded || inc.blobsLeft > 0) return;
    if (!inc.delivered) {
      inc.delivered = true;
      if (inc.body) {
        const parts = inc.parts;
        inc.value = decodeValue(new Reader(inc.body), {
          blob: (i) => (parts[i] as PartSinkBlob).buf!,
          stream: (i) => (parts[i] as PartSinkStream).stream,
        });
        inc.body = null;
      }
      inc.onComplete(inc.value);
    }
    if (inc.openStreams === 0) (inc.dir ? this.inRes : this.inReq).delete(inc.callId);
  }

  private onData(r: Reader, frame: Uint8Array): void {
    const id = r.varint();
    const flags = r.u8();
    const dir = (flags & DF_RESULT ? 1 : 0) as 0 | 1;
    // Routed? Rewrite the call id; a raw payload follows as the next message and is passed on as is.
    const route = dir === 0 ? this.routesIn.get(id) : this.routesOut.get(id);
    if (route) {
      const to = dir === 0 ? route.to : route.from;
      const toId = dir === 0 ? route.toId : route.fromId;
      if (flags & DF_RAW) {
        // Hold the header until its payload arrives: both must reach the target back to back.
        this.rawNext = { forward: to, header: concatHeader(F.Data, toId, frame.subarray(r.pos - 1)) };
        return;
      }
      to.rawSend(F.Data, toId, frame, r.pos - 1);
      if (dir === 1 && flags & DF_DONE) {
        this.routesOut.delete(id);
        route.from.routesIn.delete(route.fromId);
      }
      return;
    }
    const partIdx = r.varint();
    const known = dir === 0 ? this.lastIncomingId : this.lastCallId;
    if (id > known) throw new ProtocolError(`data for unknown call ${id}`);
    if (flags & DF_DONE) {
      this.end(r);
      return;
    }
    if (flags & DF_RAW && flags & (DF_COMPRESSED | DF_ERROR)) throw new ProtocolError('bad data flags');
    const inc = (dir ? this.inRes : this.inReq).get(id);
    if (!inc) {
      // late data for a finished/cancelled call
      if (flags & DF_RAW) this.rawNext = { drop: true };
      return;
    }
    const base = inc.externalUsed ? 1 : 0;
    let sink: PartSink | undefined;
    if (inc.external) {
      if (partIdx !== 0) throw new ProtocolError('data out of order: value part not complete');
      sink = inc.external;
    } else {
      if (!inc.decoded) throw new ProtocolError('data before value');
      sink = inc.parts[partIdx - base];
    }
    if (!sink) throw new ProtocolError(`data for unknown part ${partIdx}`);
    if (flags & DF_RAW) {
      this.end(r);
      this.rawNext = { inc, sink, flags };
      return;
    }
    let rawLen = -1;
    if (flags & DF_COMPRESSED) rawLen = r.varint();
    this.acceptData(inc, sink, flags, r, rawLen);
  }

  /** The payload of a DATA frame (inline after its header, or the raw message that followed it). */
  private acceptData(inc: Incoming, sink: PartSink, flags: number, r: Reader, rawLen: number): void {
    if (sink.kind === 'blob') {
      if (flags & (DF_END | DF_ERROR)) throw new ProtocolError('end flag on a byte part');
      const room = sink.len - sink.filled;
      if (rawLen >= 0) {
        if (rawLen > room || rawLen === 0) throw new ProtocolError('data overruns its part');
        if (!sink.buf) sink.buf = new Uint8Array(sink.len);
        const out = inflateExact(r.rest(), rawLen, sink.buf.subarray(sink.filled, sink.filled + rawLen));
        if (out.buffer !== sink.buf.buffer || out.byteOffset !== sink.buf.byteOffset + sink.filled) sink.buf.set(out, sink.filled);
        sink.filled += rawLen;
      } else {
        const chunk = r.rest();
        if (chunk.length > room) throw new ProtocolError('data overruns its part');
        if (chunk.length === 0) throw new ProtocolError('empty data frame');
        if (!sink.buf && chunk.length === sink.len) {
          // One piece: keep the received bytes (a plain Uint8Array view, no copy).
          sink.buf = plainView(chunk);
        } else {
          if (!sink.buf) sink.buf = new Uint8Array(sink.len);
          sink.buf.set(chunk, sink.filled);
        }
        sink.filled += chunk.length;
      }
      if (sink.filled === sink.len) {
        if (sink === inc.external) {
          this.externalDone(inc);
        } else {
          inc.blobsLeft--;
          this.maybeComplete(inc);
        }
      }
      return;
    }
    // stream part
    const st = sink.stream;
    if (st.cancelled) return; // we stopped reading; the sender has not seen our cancel yet
    if (st.ended) throw new ProtocolError('data after end of stream');
    if (flags & DF_ERROR) {
      const v = decodeValue(r);
      this.end(r);
      st.finish(v instanceof Error ? v : new RtfmriError('stream failed'));
    } else {
      let chunk: Uint8Array;
      if (rawLen >= 0) {
        if (rawLen > this.opts.maxFrameSize * 4) throw new ProtocolError('compressed chunk too large');
        chunk = inflateExact(r.rest(), rawLen);
      } else chunk = plainView(r.rest());
      if (flags & DF_RAW && chunk.length === 0) throw new ProtocolError('empty data frame');
      if (chunk.length) st.push(chunk);
      if (flags & DF_END) st.finish();
    }
  }

  /** IncomingStream consumed bytes / stopped: grant credit or cancel. */
  sendCredit(callId: number, dir: 0 | 1, part: number, bytes: number, cancel: boolean): void {
    if (this.state !== 'ready') return;
    const w = borrowWriter();
    w.u8(F.Credit);
    w.varint(callId);
    w.u8((dir ? DF_RESULT : 0) | (cancel ? CF_CANCEL : 0));
    w.varint(part);
    w.varint(bytes);
    const out = w.take();
    releaseWriter(w);
    this.trySend(out);
  }

  private onCredit(r: Reader, frame: Uint8Array): void {
    const id = r.varint();
    const flags = r.u8();
    const dir = flags & DF_RESULT ? 1 : 0;
    // Credit for a request's part flows callee->caller: the call is ours (dir 0) or theirs (dir 1).
    if (dir === 0) {
      const route = this.routesOut.get(id);
      if (route) return void route.from.rawSend(F.Credit, route.fromId, frame, r.pos - 1);
    } else {
      const route = this.routesIn.get(id);
      if (route) return void route.to.rawSend(F.Credit, route.toId, frame, r.pos - 1);
    }
    const part = r.varint();
    const bytes = r.varint();
    this.end(r);
    const known = dir === 0 ? this.lastCallId : this.lastIncomingId;
    if (id > known) throw new ProtocolError(`credit for unknown call ${id}`);
    const streams = dir === 0 ? this.outReqStreams.get(id) : this.serving.get(id)?.outStreams;
    const os = streams?.get(part);
    if (!os) return;
    if (flags & CF_CANCEL) os.cancelled = true;
    else os.credit += bytes;
    const wake = os.wake;
    os.wake = null;
    wake?.();
  }

  private dropIncoming(inc: Incoming, err: Error, notifySender: boolean): void {
    (inc.dir ? this.inRes : this.inReq).delete(inc.callId);
    const base = inc.externalUsed ? 1 : 0;
    inc.parts.forEach((p, i) => {
      if (p.kind === 'stream' && !p.stream.ended) {
        p.stream.finish(err);
        if (notifySender) this.sendCredit(inc.callId, inc.dir, i + base, 0, true);
      }
    });
  }

  /** Send the parts of one message: blobs in order, streams concurrently, respecting backpressure. */
  private async pumpParts(
    id: number,
    dir: 0 | 1,
    parts: OutgoingPart[],
    sending: { aborted: boolean },
    compress: CallOptions['compress'],
    outStreams: Map<number, OutStream> | null,
  ): Promise<void> {
    const streamJobs: Promise<void>[] = [];
    let streams = outStreams;
    if (!streams && parts.some((p) => p.kind === 'stream')) {
      streams = new Map();
      this.outReqStreams.set(id, streams);
    }
    // Register every stream before anything is awaited: the receiver's first CREDIT (its window)
    // may come back before we reach that part.
    parts.forEach((p, i) => {
      if (p.kind === 'stream') streams!.set(i, { credit: 0, wake: null, cancelled: false });
    });
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        if (part.kind === 'blob') {
          await this.pumpBlob(id, dir, i, part.bytes, sending, compress);
        } else {
          streamJobs.push(this.pumpStream(id, dir, i, part.source, sending, streams!.get(i)!, compress));
        }
        if (sending.aborted || this.state !== 'ready') break;
      }
      if (streamJobs.length) await Promise.all(streamJobs);
      // Only results need it: it tells a relay the route can go.
      if (!sending.aborted && dir === 1) this.trySend(this.dataHeader(id, DF_RESULT | DF_DONE, 0, undefined));
    } finally {
      if (dir === 0) this.outReqStreams.delete(id);
    }
  }

  private dataHeader(id: number, flags: number, part: number, rawLen: number | undefined): Uint8Array {
    const w = borrowWriter();
    w.u8(F.Data);
    w.varint(id);
    w.u8(flags);
    w.varint(part);
    if (rawLen !== undefined) w.varint(rawLen);
    const out = w.take();
    releaseWriter(w);
    return out;
  }

  /**
   * Big chunks go as a DATA header followed by the chunk as its own message: no copy to join
   * them, no fragmented WebSocket message, and the receiver (or a relay) takes the bytes as they are.
   */
  private sendChunk(id: number, flags: number, part: number, chunk: Uint8Array): boolean {
    if (chunk.length >= RAW_MIN) {
      return this.trySend(this.dataHeader(id, flags | DF_RAW, part, undefined)) && this.trySend(chunk);
    }
    return this.trySend(concatHeader(F.Data, id, concatParts2(flags, part, chunk)));
  }

  private async waitWritable(): Promise<void> {
    if (this.link.bufferedAmount > this.opts.highWaterMark) await this.link.drain(this.opts.highWaterMark / 2);
  }

  private async pumpBlob(id: number, dir: 0 | 1, part: number, bytes: Uint8Array, sending: { aborted: boolean }, compress: CallOptions['compress']): Promise<void> {
    const size = this.chunkSize();
    let doCompress = !!compress;
    for (let off = 0; off < bytes.length; off += size) {
      // No await unless the link is full: a one-chunk blob then goes out in the same tick as its
      // header frame (and the ws link sends everything of one tick in one write).
      if (this.link.bufferedAmount > this.opts.highWaterMark) await this.waitWritable();
      if (sending.aborted || this.state !== 'ready') return;
      const chunk = bytes.subarray(off, Math.min(bytes.length, off + size));
      let flags = dir ? DF_RESULT : 0;
      if (doCompress) {
        const z = deflateSync(chunk, { level: 1 });
        if (z.length < chunk.length * 0.9 && z.length + 32 <= this.frameBudget()) {
          flags |= DF_COMPRESSED;
          if (!this.trySend([this.dataHeader(id, flags, part, chunk.length), z])) return;
          continue;
        }
        // 'auto': stop trying once a chunk does not pay.
        if (compress === 'auto') doCompress = false;
      }
      if (!this.sendChunk(id, flags, part, chunk)) return;
    }
  }

  private async pumpStream(
    id: number,
    dir: 0 | 1,
    part: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    sending: { aborted: boolean },
    os: OutStream,
    compress: CallOptions['compress'],
  ): Promise<void> {
    const size = this.chunkSize();
    const base = dir ? DF_RESULT : 0;
    let doCompress = !!compress;
    try {
      for await (const piece of source as AsyncIterable<Uint8Array>) {
        if (!(piece instanceof Uint8Array)) throw new ValidationError('a ByteStream must yield Uint8Arrays');
        for (let off = 0; off < piece.length; off += size) {
          while (os.credit <= 0 && !os.cancelled && !sending.aborted && this.state === 'ready') {
            await new Promise<void>((res) => (os.wake = res));
          }
          if (this.link.bufferedAmount > this.opts.highWaterMark) await this.waitWritable();
          if (os.cancelled || sending.aborted || this.state !== 'ready') return;
          const chunk = piece.subarray(off, Math.min(piece.length, off + size));
          os.credit -= chunk.length;
          if (doCompress) {
            const z = deflateSync(chunk, { level: 1 });
            if (z.length < chunk.length * 0.9) {
              if (!this.trySend([this.dataHeader(id, base | DF_COMPRESSED, part, chunk.length), z])) return;
              continue;
            }
            if (compress === 'auto') doCompress = false;
          }
          if (!this.sendChunk(id, base, part, chunk)) return;
        }
      }
      if (!os.cancelled && !sending.aborted) this.trySend(this.dataHeader(id, base | DF_END, part, undefined));
    } catch (e) {
      if (os.cancelled || sending.aborted || this.state !== 'ready') return;
      const w = new Writer(128);
      w.bytes(this.dataHeader(id, base | DF_ERROR, part, undefined));
      encodeErrorBounded(e, w);
      this.trySend(w.finish());
    }
  }

  // ---- forwarding (relay) ----------------------------------------------------------------------

  /**
   * Relay a request to `target` by rewriting its call id; the method name, deadline and payload
   * bytes are passed on as they are (never decoded here).
   */
  private forwardRequest(id: number, frame: Uint8Array, headerStart: number, flags: number, timeoutMs: number, target: RpcPeer): void {
    if (target.state !== 'ready') {
      this.sendFail(id, new DisconnectedError('not connected: the target of this call is not connected'));
      return;
    }
    const toId = ++target.lastCallId;
    const route: Route = { from: this, fromId: id, to: target, toId };
    this.routesIn.set(id, route);
    target.routesOut.set(toId, route);
    // Rewrite: type, new id, flags, remaining time (less what we spent), rest as is.
    const w = new Writer(24);
    w.u8(F.Request);
    w.varint(toId);
    w.u8(flags);
    const r = new Reader(frame, headerStart + 1);
    if (flags & MF_DEADLINE) {
      r.varint();
      w.varint(timeoutMs);
    }
    if (!target.trySend([w.finish(), frame.subarray(r.pos)])) {
      this.routesIn.delete(id);
      target.routesOut.delete(toId);
      this.sendFail(id, new DisconnectedError('not connected: the target of this call is not connected'));
    }
  }

  /** Send `frame` with its (type, callId) header replaced; `restPos` is where the rest starts. */
  private rawSend(type: number, newId: number, frame: Uint8Array, restPos: number): boolean {
    const w = new Writer(12);
    w.u8(type);
    w.varint(newId);
    return this.trySend([w.finish(), frame.subarray(restPos)]);
  }

  private forwardBack(route: Route, type: number, frame: Uint8Array, restPos: number, final: boolean): void {
    route.from.rawSend(type, route.fromId, frame, restPos);
    if (final) {
      this.routesOut.delete(route.toId);
      route.from.routesIn.delete(route.fromId);
    }
    // A Result's parts still flow through the route; the route is dropped when either side closes.
  }

  // ---- liveness and closing -------------------------------------------------------------------

  private startHeartbeat(): void {
    if (!this.opts.heartbeatMs) return;
    // An unsolicited PONG: proof of life that asks for no reply.
    const ping = new Uint8Array([F.Pong, 0]);
    const period = Math.min(this.opts.heartbeatMs, Math.max(50, this.opts.deadAfterMs / 4));
    let lastTick = Date.now();
    const defer: (f: () => void) => void =
      typeof setImmediate === 'function' ? (f) => void setImmediate(f) : (f) => void setTimeout(f, 0);
    this.heartbeat = setInterval(() => {
      if (this.state === 'closed') return;
      const now = Date.now();
      // If our own event loop stalled (GC, a big sync job), the peer's frames may be sitting unread
      // in the socket: do not count our stall as the peer's silence.
      const stalled = now - lastTick - period;
      lastTick = now;
      if (stalled > 50) this.lastHeard += stalled;
      this.trySend(ping);
      if (now - this.lastHeard > this.opts.deadAfterMs) {
        // Re-check after the I/O poll phase has read whatever already arrived.
        defer(() => {
          const silent = Date.now() - this.lastHeard;
          if (this.state !== 'closed' && silent > this.opts.deadAfterMs) {
            this.fail(new DisconnectedError(`not connected: no heartbeat from the peer for ${silent} ms`), false);
          }
        });
      }
    }, period);
    unref(this.heartbeat);
  }

  private trySend(data: Uint8Array | readonly Uint8Array[]): boolean {
    if (this.link.state !== 'open') return false;
    try {
      this.link.send(data);
      return true;
    } catch {
      return false;
    }
  }

  private sendClose(err: Error): void {
    const w = new Writer(128);
    w.u8(F.Close);
    encodeErrorBounded(err, w);
    this.trySend(w.finish());
  }

  /** Close this link because of `err` (protocol/auth error, dead peer). */
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
    this.sendClose(err);
    const link = this.link;
    this.onLinkClosed({ reason: err.message, error: err });
    void link.drain(0).then(() => {
      const t = setTimeout(() => link.close(err.message, err), 100);
      unref(t);
    });
  }

  private disconnected(): DisconnectedError {
    if (this.closeError instanceof DisconnectedError) return new DisconnectedError(this.closeError.message);
    const why = this.closeError && !(this.closeError instanceof DisconnectedError) ? `: ${this.closeError.message}` : '';
    return new DisconnectedError(`not connected${why}`);
  }

  private onLinkClosed(info: CloseInfo): void {
    if (this.state === 'closed') return;
    const wasHandshake = this.state === 'handshake';
    this.state = 'closed';
    if (!this.closeError && info.error) this.closeError = info.error;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    for (const u of this.unsub) u();
    const err = this.disconnected();
    if (wasHandshake) {
      this.rejectReady(this.closeError instanceof AuthError ? this.closeError : this.closeError ?? err);
    }
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
    for (const inc of [...this.inReq.values(), ...this.inRes.values()]) this.dropIncoming(inc, err, false);
    for (const [, os] of this.outReqStreams) for (const [, s] of os) s.wake?.();
    for (const [, p] of this.pings) void p;
    this.pings.clear();
    // Forwarded calls: fail them towards the caller, cancel them towards the callee.
    for (const [, route] of this.routesOut) {
      route.from.routesIn.delete(route.fromId);
      route.from.sendFail(route.fromId, new DisconnectedError('not connected: the target of this call disconnected'));
    }
    for (const [, route] of this.routesIn) {
      route.to.routesOut.delete(route.toId);
      const w = new Writer(16);
      w.u8(F.Cancel);
      w.varint(route.toId);
      route.to.trySend(w.finish());
    }
    this.routesOut.clear();
    this.routesIn.clear();
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

interface Incoming {
  externalUsed?: boolean;
}

/** A plain Uint8Array over the same memory (a Node Buffer would otherwise leak out as a Buffer). */
function plainView(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

const RAW_MIN = 16 * 1024;

function concatParts2(flags: number, part: number, chunk: Uint8Array): Uint8Array {
  const w = new Writer(12 + chunk.length);
  w.u8(flags);
  w.varint(part);
  w.bytes(chunk);
  return w.finish();
}

function concatHeader(type: number, id: number, rest: Uint8Array): Uint8Array {
  const w = new Writer(12 + rest.length);
  w.u8(type);
  w.varint(id);
  w.bytes(rest);
  return w.finish();
}

/** Inflate exactly `rawLen` bytes (into `out` when given); anything else is a ProtocolError. */
function inflateExact(data: Uint8Array, rawLen: number, out?: Uint8Array): Uint8Array {
  const target = out ?? new Uint8Array(rawLen);
  let res: Uint8Array;
  try {
    res = inflateSync(data, { out: target });
  } catch {
    throw new ProtocolError('corrupt compressed data');
  }
  if (res.length !== rawLen) throw new ProtocolError('compressed data has the wrong length');
  return res;
}

function noop(): void {}

function unref(t: unknown): void {
  (t as { unref?: () => void })?.unref?.();
}

function ref(t: unknown): void {
  (t as { ref?: () => void })?.ref?.();
}

// ---- incoming streams ------------------------------------------------------------------------

/**
 * A byte stream received as (part of) an argument or result: `for await (const chunk of s)`.
 * Flow control: the sender may have at most `window` bytes unread; reading grants more.
 */
export class IncomingStream implements AsyncIterable<Uint8Array> {
  ended = false;
  /** The reader stopped early (break/return) and told the sender to stop. */
  cancelled = false;
  private queue: Uint8Array[] = [];
  private error: Error | undefined;
  private waiter: (() => void) | null = null;
  private consumed = 0;
  private iterating = false;
  constructor(
    private peer: RpcPeer,
    private callId: number,
    private dir: 0 | 1,
    private part: number,
    private window: number,
    private onEnd: () => void,
  ) {
    // The sender starts with no credit: this grants our window.
    peer.sendCredit(callId, dir, part, window, false);
  }

  push(chunk: Uint8Array): void {
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
          this.consumed += chunk.length;
          if (this.consumed >= this.window / 4) {
            this.peer.sendCredit(this.callId, this.dir, this.part, this.consumed, false);
            this.consumed = 0;
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

  /** Read everything into one Uint8Array (for tests and small streams). */
  async toBytes(): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of this) {
      chunks.push(c);
      n += c.length;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ---- typed stubs ---------------------------------------------------------------------------

/** The remote view of T: every method returns a Promise of its (awaited) result. */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

const STUB_PEER = Symbol('rtfmri.stub.peer');
const STUB_OPTIONS = Symbol('rtfmri.stub.options');

function makeStub<T extends object>(peer: RpcPeer, options: CallOptions & { methods?: readonly string[] }): Remote<T> {
  const { methods, ...callOptions } = options;
  const cache = new Map<string, AnyFn>();
  const method = (name: string): AnyFn => {
    let f = cache.get(name);
    if (!f) {
      f = (...args: unknown[]) => peer.call(name, args, callOptions);
      cache.set(name, f);
    }
    return f;
  };
  if (methods) {
    const o: Record<string | symbol, unknown> = Object.create(null);
    for (const m of methods) o[m] = method(m);
    o[STUB_PEER] = peer;
    o[STUB_OPTIONS] = options;
    return Object.freeze(o) as Remote<T>;
  }
  return new Proxy(Object.create(null), {
    get(_t, prop) {
      if (prop === STUB_PEER) return peer;
      if (prop === STUB_OPTIONS) return options;
      // Not thenable (so `await stub` works) and no symbol probing.
      if (typeof prop !== 'string' || prop === 'then' || prop === 'toJSON') return undefined;
      return method(prop);
    },
  }) as Remote<T>;
}

/** The RpcPeer behind a stub made by connect() or peer.stub(). */
export function peerOf(stub: object): RpcPeer {
  const p = (stub as Record<symbol, unknown>)[STUB_PEER];
  if (!(p instanceof RpcPeer)) throw new ValidationError('not an rtfmri stub');
  return p;
}

/** The same stub with other call options (deadline, signal, compress) for the calls made through it. */
export function withOptions<S extends object>(stub: S, options: CallOptions): S {
  const peer = peerOf(stub);
  const prev = ((stub as Record<symbol, unknown>)[STUB_OPTIONS] ?? {}) as CallOptions & { methods?: readonly string[] };
  return makeStub(peer, { ...prev, ...options }) as unknown as S;
}

export type ExposeTarget = Link | RpcPeer;

function isPeer(x: ExposeTarget): x is RpcPeer {
  return x instanceof RpcPeer;
}

/**
 * Serve `methods` of `impl` on a link (a new server-role RpcPeer unless `options.role` says
 * otherwise) or on an existing peer. Returns the peer.
 */
export function expose(
  target: ExposeTarget,
  impl: object,
  methods: readonly string[],
  options?: Partial<RpcPeerOptions> & ExposeOptions,
): RpcPeer {
  const peer = isPeer(target) ? target : new RpcPeer(target, { ...(options as RpcPeerOptions), role: options?.role ?? 'server' });
  return peer.expose(impl, methods, options ?? {});
}

/**
 * A typed stub for the remote object on a link (a new client-role RpcPeer unless `options.role`
 * says otherwise) or an existing peer. Calls wait for the handshake.
 */
export function connect<T extends object>(
  target: ExposeTarget,
  options?: Partial<RpcPeerOptions> & CallOptions & { methods?: readonly string[] },
): Remote<T> {
  const { timeoutMs, deadline, signal, compress, methods, ...peerOptions } = options ?? {};
  const peer = isPeer(target) ? target : new RpcPeer(target, { ...(peerOptions as RpcPeerOptions), role: peerOptions.role ?? 'client' });
  return makeStub<T>(peer, { timeoutMs, deadline, signal, compress, methods });
}

export { ByteStream };
