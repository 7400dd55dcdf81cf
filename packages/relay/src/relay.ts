// The relay core: authenticates runtimes and clients on any Link and routes each client's
// session to the runtime it named. It forwards DATA frames byte-for-byte (never decodes RPC), so
// deadlines, typed errors and payloads are the runtime's and the SDK's business end to end.
import { Liveness, type Link } from '@rtfmri/transport';
import {
  challenge,
  control,
  DEAD_AFTER_MS,
  CONTROL_MIN,
  F,
  frameSid,
  frameHeader,
  selectFrame,
  ackFrame,
  HEARTBEAT_MS,
  PING_FRAME,
  newNonce,
  parseControl,
  parseHello,
  handshakeMac,
  peerNonceOf,
  verifyHandshakeMac,
  type Hello,
} from './framing.js';
import { grantFromClaims, normaliseMethods, parseClaims, runtimeKey, type ClientGrant } from './tokens.js';

/**
 * Who may connect, by role. A runtime name is proven only with a runtime key; a client gets a
 * grant (key, runtimes, methods, expiry). Returning undefined refuses; keys are never logged or
 * sent.
 */
export interface TokenPolicy {
  runtime(name: string): Uint8Array | undefined;
  /** The grant of client `id` (with the claims of a minted token, when it sent some). */
  client(id: string, claims: string | undefined): ClientGrant | undefined;
}

/** Whether a grant lets its holder reach `target` now. */
export function grantAllows(g: ClientGrant, target: string, nowMs = Date.now()): boolean {
  return (g.runtimes === '*' || g.runtimes.includes(target)) && (g.expiresAtMs === undefined || nowMs < g.expiresAtMs);
}

/**
 * One site secret (simple deployments, the demo, tests): runtimes prove a key derived from it and
 * their name; clients present tokens minted from it (`mintClientToken`, `rtfmri token client`),
 * never the secret itself.
 */
export function sharedToken(secret: string): TokenPolicy {
  if (!secret) throw new RangeError('the site secret is empty');
  return {
    runtime: (name) => runtimeKey(secret, name),
    client: (id, claims) => {
      if (claims === undefined) return undefined;
      const g = grantFromClaims(secret, claims);
      return g && parseClaims(claims)?.sub === id ? g : undefined;
    },
  };
}

/**
 * A tokens file: `{ "runtimes": { "scanner1": "token" }, "clients": { "alice": { "token": "...",
 * "runtimes": ["scanner1"], "methods": "stream", "expires": "2026-12-31T00:00:00Z" } }, "secret": "..." }`.
 * A runtime proves a key derived from its own token and name (so `rtfmri serve --token` takes that
 * token as it is); a client proves its token. A client without "runtimes" may reach any runtime,
 * without "methods" call every method; a client entry may also be a bare token string. With
 * "secret", clients may also present tokens minted from it. A token used for both a runtime and a
 * client is refused: it would let that client register the runtime.
 */
export function tokenPolicyFromJson(json: unknown): TokenPolicy {
  const bad = (why: string) => new RangeError(`tokens file: ${why}`);
  if (!json || typeof json !== 'object') throw bad('expected a JSON object');
  const { runtimes = {}, clients = {}, secret } = json as { runtimes?: unknown; clients?: unknown; secret?: unknown };
  if (typeof runtimes !== 'object' || runtimes === null) throw bad('"runtimes" must be an object');
  if (typeof clients !== 'object' || clients === null) throw bad('"clients" must be an object');
  if (secret !== undefined && (typeof secret !== 'string' || !secret)) throw bad('"secret" must be a non-empty string');
  const rt = new Map<string, Uint8Array>();
  const runtimeTokens = new Set<string>();
  for (const [k, v] of Object.entries(runtimes)) {
    if (typeof v !== 'string' || !v) throw bad(`runtime '${k}' needs a non-empty token string`);
    rt.set(k, runtimeKey(v, k));
    runtimeTokens.add(v);
  }
  const cl = new Map<string, ClientGrant>();
  const enc = new TextEncoder();
  for (const [k, v] of Object.entries(clients)) {
    const entry = typeof v === 'string' ? { token: v } : (v as { token?: unknown; runtimes?: unknown; methods?: unknown; expires?: unknown } | null);
    if (!entry || typeof entry.token !== 'string' || !entry.token) throw bad(`client '${k}' needs a token`);
    if (runtimeTokens.has(entry.token) || entry.token === secret) throw bad(`client '${k}' uses a runtime's token (or the secret): a client credential must never be able to register a runtime`);
    const r = entry.runtimes;
    if (r !== undefined && (!Array.isArray(r) || !r.every((x) => typeof x === 'string'))) throw bad(`client '${k}': "runtimes" must be a list of names`);
    let methods: readonly string[];
    try {
      methods = normaliseMethods(entry.methods === undefined ? '*' : (entry.methods as string | string[]));
    } catch (e) {
      throw bad(`client '${k}': ${(e as Error).message}`);
    }
    let expiresAtMs: number | undefined;
    if (entry.expires !== undefined) {
      expiresAtMs = typeof entry.expires === 'string' ? Date.parse(entry.expires) : NaN;
      if (!Number.isFinite(expiresAtMs)) throw bad(`client '${k}': "expires" must be an ISO date`);
    }
    cl.set(k, { key: enc.encode(entry.token), runtimes: (r as string[] | undefined) ?? '*', methods, ...(expiresAtMs !== undefined ? { expiresAtMs } : {}) });
  }
  const minted = typeof secret === 'string' ? sharedToken(secret) : undefined;
  return {
    runtime: (name) => rt.get(name),
    client: (id, claims) => (claims !== undefined ? minted?.client(id, claims) : cl.get(id)),
  };
}

export interface RelayOptions {
  tokens: TokenPolicy;
  /** One line per event (connections, refusals). Default: none. */
  log?: (line: string) => void;
  /** How long a connection may take to authenticate, ms (default 5000). */
  handshakeTimeoutMs?: number;
  /**
   * Connections not yet authenticated: at most `total` at once, and `perAddress` from one
   * address (defaults 256 / 16); more are closed at once.
   */
  unauthenticated?: { total?: number; perAddress?: number };
  /** Ping period and silence limit for admitted peers, ms (defaults 1000 / 4000). */
  heartbeatMs?: number;
  deadAfterMs?: number;
  /**
   * Flow control of a client's socket: the runtime's bytes are acknowledged in steps of `ackStep`
   * once no more than `drainedAt` wait in the client's socket (the runtime sends at most its RPC
   * high-water mark, 8 MiB, unacknowledged per session); a client with more than `dropAt` waiting
   * (one that keeps calling without reading: small replies are not held back) is disconnected.
   * Defaults 128 KiB / 1 MiB / 64 MiB.
   */
  clientBuffer?: { ackStep?: number; drainedAt?: number; dropAt?: number };
}

/**
 * The ACK step is small because a transfer that shares its runtime's link with an active session
 * keeps only SHARED_BULK_MARK (256 KiB) + a chunk in flight, and waits for half the mark: steps of
 * 1 MiB would give it a 2 MiB mark (session-link.ts). 8 ACKs per MiB (9 bytes each) showed no cost
 * against 1 per MiB in the bulk bench's getFile rows; 16 per MiB (64 KiB steps) looked a little dearer.
 */
export const CLIENT_BUFFER_DEFAULTS = { ackStep: 128 << 10, drainedAt: 1 << 20, dropAt: 64 << 20 };

/**
 * The relay's send scheduling toward a runtime (whose one link carries every client's session): a
 * frame of a session with nothing queued goes out at once when it is small or the runtime's socket
 * holds at most `BULK_MARK`; anything else waits in its session's queue, and the queues are
 * served round robin, a frame each, whenever the socket is under the mark again. So a client's
 * upload (1 MiB chunks) never puts more than about a MiB in front of another client's call, and
 * the sessions' uploads share the link. (The other direction needs none: each client has its own
 * socket, and the runtime paces its sessions itself.)
 */
const BULK_MARK = 1 << 20;
/** Frames up to this size never wait for the mark (calls, credit, pings, the headers of chunks). */
const SMALL_FRAME = 64 * 1024;

/** A session's frames waiting for the runtime's socket, in order. */
interface OutQueue {
  c: ClientConn;
  frames: Uint8Array[];
}

interface RuntimeConn {
  link: Link;
  name: string;
  instance: string;
  peer: string;
  sessions: Map<number, ClientConn>;
  /** Session of the RPC frames the runtime sends next (its last SELECT). */
  inSid: number;
  /** The next message is an RPC frame of this session, whatever its first byte (after a RAW; else -1). */
  rawNext: number;
  /** Session of the RPC frames last forwarded to the runtime. */
  outSid: number;
  /** Sessions with frames waiting for this runtime's socket (see BULK_MARK), in round-robin order. */
  queues: Map<number, OutQueue>;
  /** A drain of the runtime's socket is awaited to serve the queues. */
  pumping: boolean;
  queuedBytes: number;
  peakBuffered: number;
  peakQueued: number;
}

interface ClientConn {
  link: Link;
  id: string;
  target: string;
  grant: ClientGrant;
  /** The relay's proof for this client's WELCOME (sent when its session opens at once). */
  proof: string;
  peer: string;
  sid?: number;
  /** Session the client's next RPC frames are for (its last SELECT). */
  inSid: number;
  /** The next message is an RPC frame of this session, whatever its first byte (after a RAW; else -1). */
  rawNext: number;
  /** When the relay last opened a session for it (REOPEN is rate-limited). */
  openedAt: number;
  /** Bytes of the session forwarded to this client and not yet acknowledged to the runtime. */
  unacked: number;
  /** Waiting for this client's socket to drain before acknowledging. */
  ackWaiting: boolean;
  /**
   * The other direction: bytes of this client's session handed to the runtime's socket and not yet
   * acknowledged to the client (clients that take `flow` in WELCOME count what they send and hold
   * back bulk data beyond a slack, as the runtime does).
   */
  upUnacked: number;
  upAckWaiting: boolean;
  peakBuffered: number;
}

export interface RelayStats {
  runtimes: { name: string; instance: string; sessions: number }[];
  clients: number;
  refused: number;
  /** Per client: bytes waiting in its socket, and whether the runtime is held back for it. */
  clientLinks: { id: string; buffered: number; held: boolean }[];
  /**
   * Per runtime: bytes waiting in its socket, and bytes of client frames queued for it (BULK_MARK);
   * the peaks of both since the last stats() (taken as frames are sent and queued).
   */
  runtimeLinks: { name: string; buffered: number; queued: number; peakBuffered: number; peakQueued: number }[];
  /** Per client: the peak of its socket's backlog since the last stats(). */
  clientPeaks: { id: string; peakBuffered: number }[];
  /** Times a client's socket was too full to acknowledge at once; clients dropped for not reading. */
  holds: number;
  slowDropped: number;
}

export class Relay {
  private readonly runtimes = new Map<string, RuntimeConn>();
  private readonly clients = new Set<ClientConn>();
  private readonly links = new Set<Link>();
  private nextSid = 1;
  private refusedCount = 0;
  private holds = 0;
  private slowDropped = 0;
  private readonly buf: typeof CLIENT_BUFFER_DEFAULTS;
  private closing = false;

  constructor(private readonly opts: RelayOptions) {
    this.buf = { ...CLIENT_BUFFER_DEFAULTS, ...opts.clientBuffer };
  }

  /** Liveness of an admitted link: a PING every period, dropped after deadAfterMs without any frame. */
  private watch(link: Link): Liveness {
    return new Liveness(link, {
      periodMs: this.opts.heartbeatMs ?? HEARTBEAT_MS,
      deadAfterMs: this.opts.deadAfterMs ?? DEAD_AFTER_MS,
      ping: PING_FRAME,
      onDead: (ms) => link.close(`no heartbeat for ${ms} ms`),
    });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  stats(): RelayStats {
    return {
      runtimes: [...this.runtimes.values()].map((r) => ({ name: r.name, instance: r.instance, sessions: r.sessions.size })),
      clients: this.clients.size,
      refused: this.refusedCount,
      clientLinks: [...this.clients].map((c) => ({ id: c.id, buffered: c.link.bufferedAmount, held: c.ackWaiting })),
      runtimeLinks: [...this.runtimes.values()].map((r) => {
        const out = { name: r.name, buffered: r.link.bufferedAmount, queued: r.queuedBytes, peakBuffered: r.peakBuffered, peakQueued: r.peakQueued };
        r.peakBuffered = r.peakQueued = 0;
        return out;
      }),
      clientPeaks: [...this.clients].map((c) => {
        const out = { id: c.id, peakBuffered: c.peakBuffered };
        c.peakBuffered = 0;
        return out;
      }),
      holds: this.holds,
      slowDropped: this.slowDropped,
    };
  }

  /** Unauthenticated connections, per address. */
  private readonly pending = new Map<string, number>();
  private pendingTotal = 0;

  /** Takes an open (or opening) link from any transport; the relay owns it from now on. */
  accept(link: Link, peer = 'unknown peer'): void {
    if (this.closing) return void link.close('relay shutting down');
    // Unauthenticated peers cost bounded memory: a cap in total and per address, and a short
    // handshake deadline; one refused here gets no challenge (nothing to learn).
    const address = peer.replace(/:\d+$/, '');
    const caps = { total: 256, perAddress: 16, ...this.opts.unauthenticated };
    const fromAddress = this.pending.get(address) ?? 0;
    if (this.pendingTotal >= caps.total || fromAddress >= caps.perAddress) {
      this.refusedCount++;
      this.log(`refused connection from ${peer}: too many unauthenticated connections (${fromAddress} from this address, ${this.pendingTotal} in all)`);
      return void link.close('too many unauthenticated connections');
    }
    this.pending.set(address, fromAddress + 1);
    this.pendingTotal++;
    let counted = true;
    const authenticated = () => {
      if (!counted) return;
      counted = false;
      this.pendingTotal--;
      const n = (this.pending.get(address) ?? 1) - 1;
      if (n > 0) this.pending.set(address, n);
      else this.pending.delete(address);
    };
    this.links.add(link);
    void link.closed.then(() => {
      this.links.delete(link);
      authenticated();
    });
    const nonce = newNonce();
    const timer = setTimeout(() => this.refuse(link, peer, 'AUTH', 'authentication timed out', undefined), this.opts.handshakeTimeoutMs ?? 5000);
    const off = link.onMessage((frame) => {
      off();
      clearTimeout(timer);
      const hello = parseHello(frame);
      if (!hello) return this.refuse(link, peer, 'PROTOCOL', 'expected a well-formed HELLO', undefined);
      if (this.onHello(link, peer, nonce, hello)) authenticated();
    });
    link.onClose(() => clearTimeout(timer));
    void link.opened.then(
      () => {
        try {
          link.send(challenge(nonce));
        } catch {
          // closed meanwhile
        }
      },
      () => {},
    );
  }

  private refuse(link: Link, peer: string, code: string, message: string, hello: Hello | undefined): void {
    this.refusedCount++;
    const who = hello ? `${hello.role} '${hello.id}'${hello.target ? ` (for runtime '${hello.target}')` : ''}` : 'connection';
    this.log(`refused ${who} from ${peer}: ${message}`);
    try {
      link.send(control(F.Refused, { code, message }));
    } catch {
      // already gone
    }
    // Let the REFUSED frame go out before closing.
    setTimeout(() => link.close(`refused: ${message}`), 50);
  }

  /** True when the peer is admitted. */
  private onHello(link: Link, peer: string, nonce: Uint8Array, hello: Hello): boolean {
    const peerNonce = peerNonceOf(hello);
    let key: Uint8Array | undefined;
    let grant: ClientGrant | undefined;
    if (hello.role === 'runtime') key = this.opts.tokens.runtime(hello.id);
    else {
      grant = this.opts.tokens.client(hello.id, hello.claims);
      key = grant?.key;
    }
    // One message whatever failed (unknown id, wrong key, runtime not allowed): no oracle.
    if (!key || !peerNonce || !verifyHandshakeMac('hello', key, nonce, peerNonce, hello, hello.mac)) {
      this.refuse(link, peer, 'AUTH', 'authentication failed', hello);
      return false;
    }
    if (grant && !grantAllows(grant, hello.target!)) {
      const expired = grant.expiresAtMs !== undefined && Date.now() >= grant.expiresAtMs;
      this.refuse(link, peer, expired ? 'EXPIRED' : 'AUTH', expired ? 'this client token has expired' : 'authentication failed', hello);
      return false;
    }
    if (link.state !== 'open') return false;
    const proof = handshakeMac('welcome', key, nonce, peerNonce, hello);
    if (hello.role === 'runtime') this.addRuntime(link, peer, hello, proof);
    else this.addClient(link, peer, hello, grant!, proof);
    return true;
  }

  private addRuntime(link: Link, peer: string, hello: Hello, proof: string): void {
    const existing = this.runtimes.get(hello.id);
    if (existing) {
      return this.refuse(link, peer, 'NAME_IN_USE', `a runtime named '${hello.id}' is already connected (from ${existing.peer}); refusing the second one`, hello);
    }
    const rt: RuntimeConn = { link, name: hello.id, instance: hello.instance ?? '', peer, sessions: new Map(), inSid: -1, rawNext: -1, outSid: -1, queues: new Map(), pumping: false, queuedBytes: 0, peakBuffered: 0, peakQueued: 0 };
    this.runtimes.set(rt.name, rt);
    this.log(`runtime '${rt.name}' connected from ${peer} (instance ${rt.instance || '-'})`);
    link.send(control(F.Welcome, { instance: rt.instance, flow: this.buf.ackStep, proof }));
    const live = this.watch(link);
    link.onMessage((frame) => {
      live.heard();
      this.fromRuntime(rt, frame);
    });
    link.onClose((info) => this.runtimeGone(rt, info.reason));
    for (const c of this.clients) if (c.target === rt.name && c.sid === undefined) this.openSession(rt, c, true);
  }

  private addClient(link: Link, peer: string, hello: Hello, grant: ClientGrant, proof: string): void {
    const c: ClientConn = { link, id: hello.id, target: hello.target!, grant, proof, peer, inSid: -1, rawNext: -1, openedAt: 0, unacked: 0, ackWaiting: false, upUnacked: 0, upAckWaiting: false, peakBuffered: 0 };
    if (grant.expiresAtMs !== undefined) {
      // A token's expiry ends what it opened, not only new connections.
      const t = setTimeout(() => {
        this.log(`client '${c.id}' token expired; disconnecting it`);
        link.close('client token expired');
      }, Math.min(2 ** 31 - 1, Math.max(0, grant.expiresAtMs - Date.now())));
      (t as { unref?: () => void }).unref?.();
      link.onClose(() => clearTimeout(t));
    }
    this.clients.add(c);
    const rt = this.runtimes.get(c.target);
    this.log(`client '${c.id}' connected from ${peer} for runtime '${c.target}'${rt ? '' : ' (not connected yet)'}`);
    if (rt) this.openSession(rt, c, false);
    else link.send(control(F.Welcome, { up: false, proof, flow: this.buf.ackStep }));
    const live = this.watch(link);
    link.onMessage((frame) => {
      live.heard();
      this.fromClient(c, frame);
    });
    link.onClose(() => this.clientGone(c));
  }

  private openSession(rt: RuntimeConn, c: ClientConn, announce: boolean): void {
    const sid = this.nextSid;
    this.nextSid = this.nextSid >= 0xffffffff ? 1 : this.nextSid + 1;
    c.sid = sid;
    c.openedAt = Date.now();
    c.unacked = 0;
    c.upUnacked = 0;
    rt.sessions.set(sid, c);
    safeSend(rt.link, control(F.Open, { sid, client: c.id, methods: c.grant.methods }));
    // `flow`: this relay acknowledges the client's session bytes too (ACK frames), once they have
    // gone on into the runtime's socket; the client then holds back bulk data beyond a slack.
    safeSend(c.link, control(announce ? F.Up : F.Welcome, announce ? { sid, instance: rt.instance, flow: this.buf.ackStep } : { sid, instance: rt.instance, up: true, proof: c.proof, flow: this.buf.ackStep }));
  }

  private fromRuntime(rt: RuntimeConn, frame: Uint8Array): void {
    if (rt.rawNext >= 0) {
      // The RPC frame a RAW announced (its first byte looks like a control frame's).
      const c = rt.sessions.get(rt.rawNext);
      rt.rawNext = -1;
      if (c) this.toClient(rt, c, frame, frame.length);
      return;
    }
    const type = frame[0]!;
    if (type < CONTROL_MIN) {
      // An RPC frame of the selected session, forwarded as it is (a client has one session).
      const c = rt.sessions.get(rt.inSid);
      if (c) this.toClient(rt, c, frame, frame.length);
      return;
    }
    if (type === F.Pong) return;
    if (type === F.Select) {
      rt.inSid = frameSid(frame);
      return;
    }
    if (type === F.Raw) {
      rt.rawNext = frameSid(frame);
      return;
    }
    if (type === F.Data || type === F.Signal) {
      const c = rt.sessions.get(frameSid(frame));
      // A frame for a session that just ended is a normal race: drop it.
      if (!c) return;
      // DATA: an escaped RPC frame from a protocol-3 runtime, forwarded unwrapped.
      if (type === F.Data) this.toClient(rt, c, frame.subarray(5), frame.length - 5);
      else safeSend(c.link, frame);
      return;
    }
    if (type === F.Close) {
      const sid = Number(parseControl(frame)?.sid);
      const c = rt.sessions.get(sid);
      if (!c) return;
      rt.sessions.delete(sid);
      this.dropQueues(rt, sid);
      c.sid = undefined;
      safeSend(c.link, control(F.Down, { sid, reason: `runtime '${rt.name}' closed the session` }));
      return;
    }
    this.log(`runtime '${rt.name}' sent an unexpected frame (type ${type}); closing it`);
    rt.link.close('protocol error: unexpected frame');
  }

  /**
   * Forwards a runtime's frame to a client, and keeps that client's socket from growing without
   * bound: the runtime's other sessions share its link, so the relay never stops reading it; it
   * acknowledges this session's bytes only once they have left the client's socket, and the
   * runtime holds back what it has not had acknowledged.
   */
  private toClient(rt: RuntimeConn, c: ClientConn, frame: Uint8Array, bytes: number): void {
    // A client has one session: RPC frames go without SELECT; one that looks like a control frame after a RAW.
    if (frame[0]! < CONTROL_MIN) safeSend(c.link, frame);
    else sendRaw(c.link, c.sid!, frame);
    const buffered = c.link.bufferedAmount;
    if (buffered > c.peakBuffered) c.peakBuffered = buffered;
    if (buffered > this.buf.dropAt) {
      this.slowDropped++;
      this.log(`client '${c.id}' is not reading (${buffered} bytes waiting); disconnecting it`);
      c.link.close(`too slow: ${buffered} bytes waiting`);
      return;
    }
    c.unacked += bytes;
    if (c.unacked < this.buf.ackStep || c.ackWaiting) return;
    if (buffered <= this.buf.drainedAt) return this.ack(rt, c);
    c.ackWaiting = true;
    this.holds++;
    const sid = c.sid;
    void c.link.drain(this.buf.drainedAt).then(() => {
      c.ackWaiting = false;
      if (c.sid === sid && this.runtimes.get(c.target) === rt) this.ack(rt, c);
    });
  }

  private ack(rt: RuntimeConn, c: ClientConn): void {
    if (c.sid === undefined || c.unacked === 0) return;
    safeSend(rt.link, ackFrame(c.sid, c.unacked));
    c.unacked = 0;
  }

  /**
   * A client's frame for its session's runtime, through the runtime link's scheduling (BULK_MARK):
   * at once when its session has nothing waiting and it is small or the socket has room, else
   * queued behind the session's earlier frames (a session's frames keep their order).
   */
  private toRuntime(rt: RuntimeConn, c: ClientConn, frame: Uint8Array): void {
    const sid = c.sid!;
    const q = rt.queues.get(sid);
    if (!q && (frame.length <= SMALL_FRAME || rt.link.bufferedAmount <= BULK_MARK)) {
      this.sendToRuntime(rt, c, sid, frame);
      return;
    }
    if (q) q.frames.push(frame);
    else rt.queues.set(sid, { c, frames: [frame] });
    rt.queuedBytes += frame.length;
    if (rt.queuedBytes > rt.peakQueued) rt.peakQueued = rt.queuedBytes;
    this.pumpRuntime(rt);
  }

  /** One frame of session `sid` into the runtime's socket (a SELECT first for an RPC frame of another session). */
  private sendToRuntime(rt: RuntimeConn, c: ClientConn, sid: number, frame: Uint8Array): void {
    this.sendQueued(rt, c, sid, frame);
    const b = rt.link.bufferedAmount;
    if (b > rt.peakBuffered) rt.peakBuffered = b;
  }

  private sendQueued(rt: RuntimeConn, c: ClientConn, sid: number, frame: Uint8Array): void {
    if (frame[0]! < CONTROL_MIN) {
      if (rt.outSid !== sid) {
        safeSend(rt.link, selectFrame(sid));
        rt.outSid = sid;
      }
      safeSend(rt.link, frame);
    } else {
      // An RPC frame that looks like a control frame: RAW (with its session id) right before it.
      sendRaw(rt.link, sid, frame);
    }
    this.upAck(rt, c, frame.length);
  }

  /** Serves the queued sessions round robin, a frame each, while the runtime's socket is under the mark. */
  private pumpRuntime(rt: RuntimeConn): void {
    if (rt.pumping) return;
    while (rt.queues.size && rt.link.state === 'open') {
      if (rt.link.bufferedAmount > BULK_MARK) {
        rt.pumping = true;
        void rt.link.drain(BULK_MARK / 2).then(() => {
          rt.pumping = false;
          this.pumpRuntime(rt);
        });
        return;
      }
      for (const [sid, q] of [...rt.queues]) {
        const frame = q.frames.shift()!;
        rt.queuedBytes -= frame.length;
        if (!q.frames.length) rt.queues.delete(sid);
        // A session that ended meanwhile: its frames are dropped (as they would be on arrival).
        if (q.c.sid === sid && rt.sessions.get(sid) === q.c) this.sendToRuntime(rt, q.c, sid, frame);
      }
    }
    if (rt.link.state !== 'open') this.dropQueues(rt);
  }

  private dropQueues(rt: RuntimeConn, sid?: number): void {
    if (sid === undefined) {
      rt.queues.clear();
      rt.queuedBytes = 0;
      return;
    }
    const q = rt.queues.get(sid);
    if (!q) return;
    rt.queues.delete(sid);
    for (const f of q.frames) rt.queuedBytes -= f.length;
  }

  /** The client's bytes went on to the runtime: acknowledge them (ACK) once the runtime's socket has drained. */
  private upAck(rt: RuntimeConn, c: ClientConn, bytes: number): void {
    c.upUnacked += bytes;
    if (c.upUnacked < this.buf.ackStep || c.upAckWaiting) return;
    const send = () => {
      if (c.sid === undefined || c.upUnacked === 0) return;
      safeSend(c.link, ackFrame(c.sid, c.upUnacked));
      c.upUnacked = 0;
    };
    if (rt.link.bufferedAmount <= this.buf.drainedAt) return send();
    c.upAckWaiting = true;
    const sid = c.sid;
    void rt.link.drain(this.buf.drainedAt).then(() => {
      c.upAckWaiting = false;
      if (c.sid === sid) send();
    });
  }

  private fromClient(c: ClientConn, frame: Uint8Array): void {
    const raw = c.rawNext;
    c.rawNext = -1;
    const type = frame[0]!;
    if (type < CONTROL_MIN || raw >= 0) {
      // A client reaches only the session the relay gave it (frames of an older session are dropped).
      if (c.sid === undefined || (raw >= 0 ? raw : c.inSid) !== c.sid) return;
      const rt = this.runtimes.get(c.target);
      if (!rt || rt.link.state !== 'open') return;
      this.toRuntime(rt, c, frame);
      return;
    }
    if (type === F.Pong) return;
    if (type === F.Select) {
      c.inSid = frameSid(frame);
      return;
    }
    if (type === F.Raw) {
      c.rawNext = frameSid(frame);
      return;
    }
    if (type === F.Reopen) {
      const rt = this.runtimes.get(c.target);
      if (c.sid === undefined && rt && Date.now() - c.openedAt >= 200) this.openSession(rt, c, true);
      return;
    }
    if (type === F.Data || type === F.Signal) {
      if (c.sid === undefined || frameSid(frame) !== c.sid) return;
      const rt = this.runtimes.get(c.target);
      if (!rt) return;
      // DATA (an escaped RPC frame of a protocol-3 client) keeps its place among the session's RPC frames.
      if (type === F.Data) this.toRuntime(rt, c, frame.subarray(5));
      else safeSend(rt.link, frame);
      return;
    }
    if (type === F.Close) {
      const sid = Number(parseControl(frame)?.sid);
      if (c.sid === undefined || sid !== c.sid) return;
      const rt = this.runtimes.get(c.target);
      c.sid = undefined;
      if (rt) {
        this.dropQueues(rt, sid);
        rt.sessions.delete(sid);
        safeSend(rt.link, control(F.Close, { sid, reason: 'client closed the session' }));
      }
      return;
    }
    this.log(`client '${c.id}' sent an unexpected frame (type ${type}); closing it`);
    c.link.close('protocol error: unexpected frame');
  }

  private runtimeGone(rt: RuntimeConn, reason: string): void {
    if (this.runtimes.get(rt.name) !== rt) return;
    this.runtimes.delete(rt.name);
    this.log(`runtime '${rt.name}' disconnected (${reason})`);
    for (const [sid, c] of rt.sessions) {
      c.sid = undefined;
      safeSend(c.link, control(F.Down, { sid, reason: `runtime '${rt.name}' disconnected` }));
    }
    rt.sessions.clear();
    this.dropQueues(rt);
  }

  private clientGone(c: ClientConn): void {
    this.clients.delete(c);
    if (c.sid !== undefined) {
      const rt = this.runtimes.get(c.target);
      if (rt) this.dropQueues(rt, c.sid);
      if (rt && rt.sessions.delete(c.sid)) safeSend(rt.link, control(F.Close, { sid: c.sid, reason: 'client disconnected' }));
    }
    this.log(`client '${c.id}' disconnected`);
  }

  close(): void {
    this.closing = true;
    for (const l of this.links) l.close('relay shutting down');
    this.links.clear();
  }
}

/** RAW for session `sid`, then `frame` (an RPC frame whose first byte is >= CONTROL_MIN), back to back. */
function sendRaw(link: Link, sid: number, frame: Uint8Array): void {
  if (link.state !== 'open') return;
  try {
    link.send(frameHeader(F.Raw, sid));
    link.send(frame);
  } catch {
    // The link is closing; its close handler cleans up.
  }
}

function safeSend(link: Link, frame: Uint8Array): void {
  if (link.state !== 'open') return;
  try {
    link.send(frame);
  } catch {
    // The link is closing; its close handler cleans up.
  }
}
