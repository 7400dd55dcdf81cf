// The relay's own framing on a physical link (one WebSocket per runtime or client). No Node-only
// imports: the SDK's browser build uses the client side.
//
// The relay never decodes RPC. Control frames start with a byte >= 0x80; any frame whose first
// byte is < 0x80 is an RPC frame of the link's *current session* in that direction, set by a
// SELECT [0xC0][session id u32 BE] frame whenever it changes. RPC frames thus cross the relay
// byte-for-byte and without a copy (no header is prepended; the relay only checks that the
// selected session belongs to the sender). An RPC message that happens to start with a byte
// >= 0x80 (raw payload bytes: about half the chunks of a binary file) is announced by RAW
// [0xD1][session id u32]: the very next message on the link is that session's RPC frame, whatever
// its first byte, and travels untouched too (protocol 4; protocol 3 escaped it as DATA
// [0xD0][session id u32][bytes], a 1 MiB copy per such chunk on the sender, still accepted).
// RPC, deadlines and typed errors run end to end between the SDK and the runtime; the relay
// authenticates, routes and tells each side when the other comes and goes. Control frames are
// [type][UTF-8 JSON], at most MAX_CONTROL bytes.
//
// Handshake (mutual challenge-response; no key ever crosses the wire; see tokens.ts for the keys):
//   relay -> peer   CHALLENGE [0x81][version][32-byte relay nonce Nr]
//   peer  -> relay  HELLO     { role: 'runtime'|'client', id, target?, instance?, claims?, nonce: hex(Np), mac }
//                   mac   = hex(HMAC-SHA256(key, "rtfmri-relay-v3 hello\n" role \n id \n target \n claims || Nr || Np))
//   relay -> peer   WELCOME   { sid?, instance?, up?, proof }   or REFUSED { code, message } + close
//                   proof = hex(HMAC-SHA256(key, "rtfmri-relay-v3 welcome\n" role \n id \n target \n claims || Nr || Np))
// The peer's key: a runtime's is derived from the site secret and its name; a client's is its
// token's (a minted token's signature, sent as `claims` + proof of the signature). The relay looks
// the key up by role and name (a runtime name can only be proven with a runtime key), and proves
// it holds the same key in WELCOME: a peer accepts nothing from a relay that cannot.
// Then relay -> client  UP { sid, instance } / DOWN { sid, reason } as the named runtime comes and goes,
//      relay -> runtime OPEN { sid, client } / CLOSE { sid, reason } as clients come and go,
//      client -> relay  CLOSE { sid } ends a session without dropping the link,
//      client -> relay  REOPEN {} asks for a new session to the same runtime (rate-limited).
// Flow (WELCOME to a runtime carries flow: the relay's ACK step in bytes): a runtime counts the bytes it sends per session and
//      the relay ACKs them once they have left the client's socket (in steps of 128 KiB, and only
//      when that socket has drained); the session link reports the unacknowledged bytes as its
//      bufferedAmount, so the RPC's blob and stream pumps wait for a client that does not read
//      (other sessions on the same link keep going). The same the other way: WELCOME/UP to a
//      client carry `flow`, and the relay ACKs a client's session bytes once they have gone on into
//      the runtime's socket, which the relay feeds per session, round robin, at most ~1 MiB ahead
//      of a small frame (relay.ts BULK_MARK).
// Liveness: the relay sends PING [0xB0] every second to each admitted peer, which answers PONG
// [0xB1]; either side drops a link it has heard nothing on (any frame counts) for 4 s (a frozen
// process, a half-open TCP connection), so a runtime that comes back on a new connection is not
// refused as a hijacker of its own name for longer than that. Both sides use transport's
// Liveness (one timer per link). This is the only liveness layer: the sessions inside a link and
// the RPC on them run no timer.
import { hex, hmacSha256, randomBytes, timingSafeEqual } from '@rtfmri/transport';

export const PROTOCOL_VERSION = 4;
export const MAX_CONTROL = 4096;
export const NONCE_BYTES = 32;

export const enum F {
  Challenge = 0x81,
  Hello = 0x82,
  Welcome = 0x83,
  Refused = 0x84,
  Up = 0x85,
  Down = 0x86,
  Open = 0x87,
  Close = 0x88,
  /** client -> relay: give me a session again (after the runtime or this side ended the last one). */
  Reopen = 0x89,
  /**
   * relay -> runtime: this many more bytes of the session reached its client's socket and left
   * it; relay -> client: this many more bytes of the client's session went on into the runtime's
   * socket and left it: [0x8A][sid u32][bytes u32]. Older peers ignore it.
   */
  Ack = 0x8a,
  /** WebRTC signaling (offer/answer/candidates) for a session: [0xA0][sid u32][JSON]. */
  Signal = 0xa0,
  /** Liveness of the physical link (1 byte each): the relay pings every peer, peers answer. */
  Ping = 0xb0,
  Pong = 0xb1,
  /** The session of the RPC frames that follow on this link, in this direction: [0xC0][sid u32]. */
  Select = 0xc0,
  /** An escaped RPC frame (its first byte is >= 0x80): [0xD0][sid u32][bytes]. Received, no longer sent. */
  Data = 0xd0,
  /** The next message on this link is an RPC frame of session sid, whatever its first byte: [0xD1][sid u32]. */
  Raw = 0xd1,
}

/** First bytes below this are RPC frames of the selected session. */
export const CONTROL_MIN = 0x80;

// Frame headers are written byte by byte: a DataView over a fresh small Uint8Array makes V8 move
// its bytes off the heap into a backing store of their own (one per frame: an ACK per forwarded
// MiB, a SELECT or DATA header per raw chunk), which showed in the relay's profile.
function putU32(h: Uint8Array, at: number, v: number): void {
  h[at] = v >>> 24;
  h[at + 1] = (v >>> 16) & 0xff;
  h[at + 2] = (v >>> 8) & 0xff;
  h[at + 3] = v & 0xff;
}

function getU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function selectFrame(sid: number): Uint8Array {
  const h = new Uint8Array(5);
  h[0] = F.Select;
  putU32(h, 1, sid);
  return h;
}

export const PING_FRAME = new Uint8Array([F.Ping]);
export const PONG_FRAME = new Uint8Array([F.Pong]);
/** The relay pings every peer this often; a side that hears nothing for DEAD_AFTER_MS drops the link. */
export const HEARTBEAT_MS = 1000;
export const DEAD_AFTER_MS = 4000;

export type Role = 'runtime' | 'client';

export interface Hello {
  role: Role;
  /** Runtime: its name. Client: who it is (for the tokens file and logs). */
  id: string;
  /** Client: the runtime it wants to reach. */
  target?: string;
  /** Runtime: a random id per process, so clients can tell a restart from a reconnect. */
  instance?: string;
  /** Client: the claims of a minted client token (base64url JSON, see tokens.ts). */
  claims?: string;
  /** The peer's nonce (hex, 32 bytes). */
  nonce: string;
  mac: string;
}

export interface Welcome {
  sid?: number;
  instance?: string;
  up?: boolean;
  /** The relay acknowledges session bytes (F.Ack) in steps of this many bytes (to a runtime; to a client, also in UP). */
  flow?: number;
  /** The relay's proof that it holds the peer's key. */
  proof?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function control(type: F, body: unknown): Uint8Array {
  const json = enc.encode(JSON.stringify(body));
  const out = new Uint8Array(1 + json.length);
  out[0] = type;
  out.set(json, 1);
  return out;
}

/** Parses a control frame's JSON body; undefined when it is not a well-formed object. */
export function parseControl(frame: Uint8Array): Record<string, unknown> | undefined {
  if (frame.length > MAX_CONTROL) return undefined;
  try {
    const v = JSON.parse(dec.decode(frame.subarray(1)));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function challenge(nonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + nonce.length);
  out[0] = F.Challenge;
  out[1] = PROTOCOL_VERSION;
  out.set(nonce, 2);
  return out;
}

export function newNonce(): Uint8Array {
  return randomBytes(NONCE_BYTES);
}

/** Header for a DATA or SIGNAL frame; the payload follows as a second part (gather write). */
export function frameHeader(type: F.Data | F.Signal | F.Raw, sid: number): Uint8Array {
  const h = new Uint8Array(5);
  h[0] = type;
  putU32(h, 1, sid);
  return h;
}

export function ackFrame(sid: number, bytes: number): Uint8Array {
  const h = new Uint8Array(9);
  h[0] = F.Ack;
  putU32(h, 1, sid);
  putU32(h, 5, bytes);
  return h;
}

export function ackBytes(frame: Uint8Array): number {
  return frame.length >= 9 ? getU32(frame, 5) : 0;
}

export function frameSid(frame: Uint8Array): number {
  return frame.length >= 5 ? getU32(frame, 1) : -1;
}

function macInput(kind: 'hello' | 'welcome', relayNonce: Uint8Array, peerNonce: Uint8Array, h: Pick<Hello, 'role' | 'id' | 'target' | 'claims'>): Uint8Array {
  const text = enc.encode(`rtfmri-relay-v3 ${kind}\n${h.role}\n${h.id}\n${h.target ?? ''}\n${h.claims ?? ''}`);
  const out = new Uint8Array(text.length + relayNonce.length + peerNonce.length);
  out.set(text);
  out.set(relayNonce, text.length);
  out.set(peerNonce, text.length + relayNonce.length);
  return out;
}

/** The peer's proof in HELLO, or the relay's in WELCOME (hex). */
export function handshakeMac(kind: 'hello' | 'welcome', key: Uint8Array, relayNonce: Uint8Array, peerNonce: Uint8Array, h: Pick<Hello, 'role' | 'id' | 'target' | 'claims'>): string {
  return hex(hmacSha256(key, macInput(kind, relayNonce, peerNonce, h)));
}

export function verifyHandshakeMac(kind: 'hello' | 'welcome', key: Uint8Array, relayNonce: Uint8Array, peerNonce: Uint8Array, h: Pick<Hello, 'role' | 'id' | 'target' | 'claims'>, mac: unknown): boolean {
  if (typeof mac !== 'string') return false;
  return timingSafeEqual(enc.encode(handshakeMac(kind, key, relayNonce, peerNonce, h)), enc.encode(mac));
}

/** Parses the hex nonce of a HELLO (exactly NONCE_BYTES). */
export function peerNonceOf(hello: Hello): Uint8Array | undefined {
  if (!/^[0-9a-f]+$/.test(hello.nonce) || hello.nonce.length !== NONCE_BYTES * 2) return undefined;
  const out = new Uint8Array(NONCE_BYTES);
  for (let i = 0; i < NONCE_BYTES; i++) out[i] = parseInt(hello.nonce.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Names: printable, no path or control characters, bounded. */
export function validName(s: unknown): s is string {
  return typeof s === 'string' && /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(s);
}

export function parseHello(frame: Uint8Array): Hello | undefined {
  if (frame[0] !== F.Hello) return undefined;
  const v = parseControl(frame);
  if (!v) return undefined;
  if (v.role !== 'runtime' && v.role !== 'client') return undefined;
  if (!validName(v.id) || typeof v.mac !== 'string' || v.mac.length > 128) return undefined;
  if (typeof v.nonce !== 'string' || v.nonce.length !== NONCE_BYTES * 2) return undefined;
  if (v.role === 'client' && !validName(v.target)) return undefined;
  if (v.instance !== undefined && (typeof v.instance !== 'string' || v.instance.length > 128)) return undefined;
  if (v.claims !== undefined && (v.role !== 'client' || typeof v.claims !== 'string' || v.claims.length > 2048)) return undefined;
  return {
    role: v.role, id: v.id, target: v.target as string | undefined, instance: v.instance as string | undefined,
    claims: v.claims as string | undefined, nonce: v.nonce, mac: v.mac,
  };
}

export function randomInstance(): string {
  return hex(randomBytes(8));
}
