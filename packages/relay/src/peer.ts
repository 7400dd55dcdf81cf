// The two ends that talk to a relay over a physical link: the experiment's client side (one
// session to the runtime it names, re-opened when that runtime comes back) and the runtime side
// (one SessionLink per connected client). No Node-only imports (the browser SDK uses the client).
import { AuthError, DisconnectedError, hex, Liveness, ProtocolError, randomBytes, TimeoutError, type CloseInfo, type Link } from '@rtfmri/transport';
import { ackBytes, handshakeMac, verifyHandshakeMac, CONTROL_MIN, control, DEAD_AFTER_MS, F, frameHeader, frameSid, NONCE_BYTES, parseControl, PONG_FRAME, PROTOCOL_VERSION, randomInstance, type Role, type Welcome } from './framing.js';
import { DATA_INTERFACE_METHODS } from './methods.js';
import { SessionLink, SessionSender } from './session-link.js';
import { CLIENT_TOKEN_PREFIX, parseClientToken, runtimeKeyFromToken, RUNTIME_TOKEN_PREFIX } from './tokens.js';

const dec = new TextDecoder();

/**
 * Answers the relay's pings and drops the link when the relay has been silent too long (a
 * half-open connection would otherwise look alive for hours). Returns the frame filter to run
 * first on every frame (true: consumed).
 */
function keepAlive(link: Link, deadAfterMs = DEAD_AFTER_MS): (frame: Uint8Array, raw: boolean) => boolean {
  // This side only watches (the relay pings, this side answers); any frame from the relay counts.
  const live = new Liveness(link, {
    deadAfterMs,
    onDead: (ms) => link.close(`relay silent for ${ms} ms`, new DisconnectedError(`not connected: relay silent for ${ms} ms`)),
  });
  return (frame, raw) => {
    live.heard();
    // The RPC frame a RAW announced is never a PING, whatever its first byte.
    if (raw) return false;
    if (frame[0] === F.Ping) {
      if (link.state === 'open') link.send(PONG_FRAME);
      return true;
    }
    return frame[0] === F.Pong;
  };
}

interface Handshaken {
  welcome: Welcome;
  /** Frames after WELCOME go to `handler` (ones that arrived before it was set are replayed). */
  takeOver(handler: (frame: Uint8Array) => void): void;
}

interface Credential {
  key: Uint8Array;
  /** A minted client token's claims (sent in HELLO). */
  claims?: string;
}

async function handshake(link: Link, role: Role, id: string, cred: Credential, target: string | undefined, instance: string | undefined, timeoutMs: number): Promise<Handshaken> {
  await link.opened;
  return new Promise<Handshaken>((resolve, reject) => {
    let step: 'challenge' | 'welcome' | 'after' = 'challenge';
    let relayNonce = new Uint8Array(0);
    const peerNonce = randomBytes(NONCE_BYTES);
    const said = { role, id, target, claims: cred.claims };
    // Frames right behind WELCOME (e.g. a session OPEN) can arrive in the same read: they are
    // kept for whoever takes the link over instead of being dropped between two listeners.
    let queued: Uint8Array[] = [];
    let next: ((f: Uint8Array) => void) | undefined;
    const fail = (e: Error) => {
      cleanup();
      link.close(e.message, e);
      reject(e);
    };
    const timer = setTimeout(() => fail(new TimeoutError(`relay handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    const offClose = link.onClose((info) => {
      cleanup();
      reject(info.error instanceof AuthError ? info.error : new DisconnectedError(`not connected: relay closed the link during the handshake (${info.reason})`));
    });
    const offMsg = link.onMessage((frame) => {
      if (step === 'after') {
        if (next) next(frame);
        else queued.push(frame);
        return;
      }
      if (step === 'challenge') {
        if (frame[0] !== F.Challenge || frame.length < 10) return fail(new ProtocolError('relay did not send a challenge'));
        if (frame[1] !== PROTOCOL_VERSION) return fail(new ProtocolError(`relay speaks protocol ${frame[1]}, this side ${PROTOCOL_VERSION}`));
        relayNonce = frame.slice(2);
        const mac = handshakeMac('hello', cred.key, relayNonce, peerNonce, said);
        step = 'welcome';
        link.send(control(F.Hello, { role, id, target, instance, claims: cred.claims, nonce: hex(peerNonce), mac }));
        return;
      }
      if (frame[0] === F.Refused) {
        const body = parseControl(frame) ?? {};
        const msg = typeof body.message === 'string' ? body.message : 'refused by the relay';
        return fail(new AuthError(`relay refused ${role} '${id}': ${msg}`, { details: { code: body.code } }));
      }
      if (frame[0] !== F.Welcome) return fail(new ProtocolError(`unexpected frame ${frame[0]} during the handshake`));
      const welcome = (parseControl(frame) ?? {}) as Welcome;
      // Mutual: nothing is accepted from a relay that cannot show it holds this side's key.
      if (!verifyHandshakeMac('welcome', cred.key, relayNonce, peerNonce, said, welcome.proof)) {
        return fail(new AuthError(`the relay could not prove it knows ${role} '${id}''s credential: not trusting it (a relay without the secret, or the wrong relay URL)`, { details: { code: 'RELAY_UNPROVEN' } }));
      }
      clearTimeout(timer);
      offClose();
      step = 'after';
      resolve({
        welcome,
        takeOver(handler) {
          next = handler;
          const q = queued;
          queued = [];
          for (const f of q) handler(f);
        },
      });
    });
    function cleanup() {
      clearTimeout(timer);
      offMsg();
      offClose();
    }
  });
}

export interface RelayClientOptions {
  /** The runtime to reach. */
  target: string;
  token: string;
  /** Who this client is (tokens file, relay logs). Default 'experiment'. */
  id?: string;
  handshakeTimeoutMs?: number;
}

const enc = new TextEncoder();

/** A client's key: a minted token's signature (and its claims, whose `sub` names the client), or a plain per-client token. */
function clientCredential(opts: RelayClientOptions): { id: string; cred: Credential } {
  if (opts.token.startsWith(RUNTIME_TOKEN_PREFIX)) throw new AuthError('this is a runtime token: an experiment needs a client token (rtfmri token client)');
  const minted = parseClientToken(opts.token);
  if (opts.token.startsWith(CLIENT_TOKEN_PREFIX) && !minted) throw new AuthError('malformed client token');
  if (minted) return { id: minted.claims.sub, cred: { key: minted.key, claims: minted.claimsB64 } };
  if (!opts.token) throw new AuthError('a token is required');
  return { id: opts.id ?? 'experiment', cred: { key: enc.encode(opts.token) } };
}

export type SessionEvent = { up: true; link: SessionLink; instance: string } | { up: false; reason: string };

/** The experiment's side: holds the current session to the named runtime, if it is connected. */
export class RelayClient {
  session: SessionLink | undefined;
  instance: string | undefined;
  private handlers: Array<(ev: SessionEvent) => void> = [];
  private signalHandlers: Array<(msg: unknown) => void> = [];
  readonly closed: Promise<CloseInfo>;
  downReason = 'the runtime is not connected to the relay';

  private readonly sender: SessionSender;
  /** The relay's ACK step for this client's session bytes (flow control), when it does that. */
  private flowStep = 0;
  /** The next frame is an RPC frame of this session whatever its first byte (after a RAW; else -1). */
  rawNext = -1;

  private constructor(readonly link: Link, readonly target: string) {
    this.closed = link.closed;
    this.sender = new SessionSender(link);
  }

  static async attach(link: Link, opts: RelayClientOptions): Promise<RelayClient> {
    let id: string, cred: Credential;
    try {
      ({ id, cred } = clientCredential(opts));
    } catch (e) {
      link.close((e as Error).message);
      throw e;
    }
    const h = await handshake(link, 'client', id, cred, opts.target, undefined, opts.handshakeTimeoutMs ?? 10_000);
    const w = h.welcome;
    const c = new RelayClient(link, opts.target);
    c.downReason = `runtime '${opts.target}' is not connected to the relay`;
    c.takeFlow(w.flow);
    if (w.up && typeof w.sid === 'number') c.up(w.sid, String(w.instance ?? ''));
    const alive = keepAlive(link);
    h.takeOver((f) => {
      if (!alive(f, c.rawNext >= 0)) c.onFrame(f);
    });
    link.onClose((info) => c.down(`lost the link to the relay (${info.reason})`));
    return c;
  }

  /** Called with every session change (runtime up with a new session link, or down). */
  onSession(handler: (ev: SessionEvent) => void): () => void {
    this.handlers.push(handler);
    return () => void (this.handlers = this.handlers.filter((h) => h !== handler));
  }

  /** Ask the relay for a new session to the runtime (after one ended while the relay link lives). */
  reopen(): void {
    if (this.session || this.link.state !== 'open') return;
    this.link.send(control(F.Reopen, {}));
  }

  /** WebRTC signaling to/from the runtime of the current session. */
  sendSignal(msg: unknown): void {
    const s = this.session;
    if (!s) throw new DisconnectedError(`not connected: ${this.downReason}`);
    this.link.send([frameHeader(F.Signal, s.sid), new TextEncoder().encode(JSON.stringify(msg))]);
  }
  onSignal(handler: (msg: unknown) => void): () => void {
    this.signalHandlers.push(handler);
    return () => void (this.signalHandlers = this.signalHandlers.filter((h) => h !== handler));
  }

  private takeFlow(step: unknown): void {
    if (typeof step === 'number' && Number.isFinite(step) && step > 0) this.flowStep = step;
  }

  private up(sid: number, instance: string): void {
    const link = new SessionLink(this.link, this.sender, sid, (reason) => {
      if (this.link.state === 'open') this.link.send(control(F.Close, { sid, reason }));
      // Ended on this side (e.g. the RPC peer closed it after a protocol error): say so, so the owner can reopen.
      if (this.session === link) this.down(`session ended here (${reason})`);
    });
    // The relay acknowledges what this side sends once it has gone on to the runtime: bulk data
    // (uploads) then keeps only a few MiB in flight (SessionLink.bulkBufferedAmount).
    if (this.flowStep) link.enableFlow(this.flowStep);
    this.session = link;
    this.instance = instance;
    for (const h of this.handlers) h({ up: true, link, instance });
  }

  private down(reason: string): void {
    const s = this.session;
    this.session = undefined;
    this.downReason = reason;
    if (s) s.remoteClosed(reason);
    for (const h of this.handlers) h({ up: false, reason });
  }

  private onFrame(frame: Uint8Array): void {
    if (this.rawNext >= 0) {
      const sid = this.rawNext;
      this.rawNext = -1;
      if (this.session && sid === this.session.sid) this.session.deliver(frame);
      return;
    }
    // The relay forwards only the current session's frames to a client, in order after UP.
    if (frame[0]! < CONTROL_MIN) return void this.session?.deliver(frame);
    switch (frame[0]) {
      case F.Select:
        return;
      case F.Raw:
        this.rawNext = frameSid(frame);
        return;
      case F.Data:
        if (this.session && frameSid(frame) === this.session.sid) this.session.deliver(frame.subarray(5));
        return;
      case F.Signal:
        if (this.session && frameSid(frame) === this.session.sid) {
          let msg: unknown;
          try {
            msg = JSON.parse(dec.decode(frame.subarray(5)));
          } catch {
            return;
          }
          for (const h of this.signalHandlers) h(msg);
        }
        return;
      case F.Ack:
        if (this.session && frameSid(frame) === this.session.sid) this.session.acked(ackBytes(frame));
        return;
      case F.Up: {
        const b = parseControl(frame);
        if (b && typeof b.sid === 'number') {
          this.takeFlow(b.flow);
          if (this.session) this.down('replaced by a new session');
          this.up(b.sid, String(b.instance ?? ''));
        }
        return;
      }
      case F.Down: {
        const b = parseControl(frame);
        if (b && this.session && b.sid === this.session.sid) this.down(typeof b.reason === 'string' ? b.reason : 'runtime disconnected');
        return;
      }
      default:
        // Unknown frames from a relay are ignored (forward compatibility).
        return;
    }
  }

  close(): void {
    this.link.close('client closed');
  }
}

export interface RelayRuntimeOptions {
  name: string;
  token: string;
  /** Random per process by default, so clients can tell a restart from a reconnect. */
  instance?: string;
  handshakeTimeoutMs?: number;
  /** Each new client session (set here so no session opened right after registration is missed). */
  onSession?: (link: SessionLink, info: SessionInfo) => void;
}

export interface SessionInfo {
  sid: number;
  client: string;
  /** The methods this client's credential allows on this runtime (the relay's word). */
  methods: readonly string[];
}

/** The runtime's side of one connection to the relay. */
export class RelayRuntimeConnection {
  readonly sessions = new Map<number, SessionLink>();
  readonly closed: Promise<CloseInfo>;
  private readonly handlers: Array<(link: SessionLink, info: SessionInfo) => void> = [];
  private signalHandlers: Array<(sid: number, msg: unknown) => void> = [];
  private readonly sender: SessionSender;
  /** The session the relay selected for the RPC frames it sends next. */
  private inSid = -1;
  /** The relay's ACK step (flow control), when it does flow control. */
  private flowStep = 0;
  /** The next frame is an RPC frame of this session whatever its first byte (after a RAW; else -1). */
  rawNext = -1;

  private constructor(readonly link: Link, readonly instance: string) {
    this.closed = link.closed;
    this.sender = new SessionSender(link);
  }

  static async register(link: Link, opts: RelayRuntimeOptions): Promise<RelayRuntimeConnection> {
    const instance = opts.instance ?? randomInstance();
    if (opts.token.startsWith(CLIENT_TOKEN_PREFIX)) {
      link.close('a client token cannot register a runtime');
      throw new AuthError(`a client token cannot register runtime '${opts.name}': serve needs the site secret or a runtime token ('rtfmri token runtime')`);
    }
    let key: Uint8Array;
    try {
      key = runtimeKeyFromToken(opts.token, opts.name);
    } catch (e) {
      link.close((e as Error).message);
      throw new AuthError((e as Error).message);
    }
    const h = await handshake(link, 'runtime', opts.name, { key }, undefined, instance, opts.handshakeTimeoutMs ?? 10_000);
    const r = new RelayRuntimeConnection(link, instance);
    const step = h.welcome.flow;
    if (typeof step === 'number' && Number.isFinite(step) && step > 0) r.flowStep = step;
    if (opts.onSession) r.handlers.push(opts.onSession);
    const alive = keepAlive(link);
    h.takeOver((f) => {
      if (!alive(f, r.rawNext >= 0)) r.onFrame(f);
    });
    link.onClose((info) => {
      for (const s of r.sessions.values()) s.remoteClosed(`lost the link to the relay (${info.reason})`);
      r.sessions.clear();
    });
    return r;
  }

  /** Each new client session; serve it (e.g. transport's expose) on the given link. */
  onSession(handler: (link: SessionLink, info: SessionInfo) => void): void {
    this.handlers.push(handler);
  }

  onSignal(handler: (sid: number, msg: unknown) => void): void {
    this.signalHandlers.push(handler);
  }
  sendSignal(sid: number, msg: unknown): void {
    this.link.send([frameHeader(F.Signal, sid), new TextEncoder().encode(JSON.stringify(msg))]);
  }

  private onFrame(frame: Uint8Array): void {
    if (this.rawNext >= 0) {
      const sid = this.rawNext;
      this.rawNext = -1;
      this.sessions.get(sid)?.deliver(frame);
      return;
    }
    if (frame[0]! < CONTROL_MIN) return void this.sessions.get(this.inSid)?.deliver(frame);
    switch (frame[0]) {
      case F.Select:
        this.inSid = frameSid(frame);
        return;
      case F.Raw:
        this.rawNext = frameSid(frame);
        return;
      case F.Data: {
        const s = this.sessions.get(frameSid(frame));
        if (s) s.deliver(frame.subarray(5));
        return;
      }
      case F.Signal: {
        const sid = frameSid(frame);
        if (!this.sessions.has(sid)) return;
        let msg: unknown;
        try {
          msg = JSON.parse(dec.decode(frame.subarray(5)));
        } catch {
          return;
        }
        for (const h of this.signalHandlers) h(sid, msg);
        return;
      }
      case F.Open: {
        const b = parseControl(frame);
        if (!b || typeof b.sid !== 'number' || this.sessions.has(b.sid)) return;
        const sid = b.sid;
        const link = new SessionLink(this.link, this.sender, sid, (reason) => {
          this.sessions.delete(sid);
          if (this.link.state === 'open') this.link.send(control(F.Close, { sid, reason }));
        });
        if (this.flowStep) link.enableFlow(this.flowStep);
        this.sessions.set(sid, link);
        link.onClose(() => this.sessions.delete(sid));
        const methods = Array.isArray(b.methods) ? b.methods.filter((m): m is string => typeof m === 'string') : [...DATA_INTERFACE_METHODS];
        for (const h of this.handlers) h(link, { sid, client: String(b.client ?? ''), methods });
        return;
      }
      case F.Ack:
        this.sessions.get(frameSid(frame))?.acked(ackBytes(frame));
        return;
      case F.Close: {
        const b = parseControl(frame);
        const s = b && typeof b.sid === 'number' ? this.sessions.get(b.sid) : undefined;
        if (s) {
          this.sessions.delete(s.sid);
          s.remoteClosed(typeof b!.reason === 'string' ? b!.reason : 'client disconnected');
        }
        return;
      }
      default:
        return;
    }
  }

  close(): void {
    this.link.close('runtime closed');
  }
}
