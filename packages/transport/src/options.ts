// The RPC's options and the types its callers and callees see. No Node-only imports.
import type { RpcPeer } from './peer.js';

export interface HeartbeatOptions {
  /** Silence after which the peer is declared dead and the link closed, ms. Default 1500. */
  deadAfterMs?: number;
  /** Heartbeat period, ms. Default deadAfterMs / 4 (375 ms), at least 50. */
  periodMs?: number;
}

export interface RpcPeerOptions {
  /** Largest frame accepted (bytes). Bigger frames: ProtocolError, link closed. Default 1 MiB + 64 KiB (one chunk and headers). */
  maxFrameSize?: number;
  /** Largest single Uint8Array part accepted (bytes). Default 2 GiB - 1. */
  maxPartSize?: number;
  /** Bytes per DATA frame (capped by the link's maxMessageSize). Default 1 MiB. */
  chunkSize?: number;
  /** Uint8Arrays at least this long travel as parts (raw DATA frames) instead of inline. Default 16 KiB. */
  inlineLimit?: number;
  /** Pumping pauses while the link's bufferedAmount is above this. Default 8 MiB. */
  highWaterMark?: number;
  /**
   * Bulk data (streams, and byte parts of more than one chunk) pauses while the link's
   * (bulk)bufferedAmount is above this, so small frames are never queued behind more than about
   * this much of a transfer. Default 1 MiB.
   */
  bulkHighWaterMark?: number;
  /** Credit a stream receiver grants (bytes in flight per stream). Default 16 MiB. */
  streamWindow?: number;
  /**
   * Liveness of the link, for a peer that runs directly on a physical link with no liveness of its
   * own (a WebRTC data channel): both ends send a tiny frame every period and close the link after
   * `deadAfterMs` without any frame. Off by default: a link carried inside another (a relay
   * session) relies on its carrier's liveness. Turn it on at both ends. true: the defaults.
   */
  heartbeat?: boolean | HeartbeatOptions;
  /** Deadline for calls that give none, ms. Default 60000. Infinity: no deadline. */
  defaultTimeoutMs?: number;
  /** Diagnostics (protocol errors, closes). */
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
  readonly peer: RpcPeer;
}

export interface ExposeOptions {
  /**
   * Pass the CallContext as an extra last argument. true: after padding the arguments to the
   * function's declared length; a record: after padding to the arity given per method.
   */
  contextArg?: boolean | Record<string, number>;
}

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

export const DEFAULTS = {
  // A frame carries at most one chunk (1 MiB) plus headers: nothing bigger is ever sent.
  maxFrameSize: 1024 * 1024 + 64 * 1024,
  maxPartSize: 2 ** 31 - 1,
  chunkSize: 1024 * 1024,
  inlineLimit: 16 * 1024,
  highWaterMark: 8 * 1024 * 1024,
  bulkHighWaterMark: 1024 * 1024,
  streamWindow: 16 * 1024 * 1024,
  defaultTimeoutMs: 60_000,
};

export const HEARTBEAT_DEAD_AFTER_MS = 1500;

export type ResolvedOptions = typeof DEFAULTS & Pick<RpcPeerOptions, 'onError'> & { heartbeat: Required<HeartbeatOptions> | undefined };

export function resolveOptions(options: RpcPeerOptions): ResolvedOptions {
  const { heartbeat, onError, ...rest } = options;
  const o: ResolvedOptions = { ...DEFAULTS, onError, heartbeat: undefined };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  if (heartbeat) {
    const h = heartbeat === true ? {} : heartbeat;
    const deadAfterMs = h.deadAfterMs ?? HEARTBEAT_DEAD_AFTER_MS;
    o.heartbeat = { deadAfterMs, periodMs: h.periodMs ?? Math.max(50, deadAfterMs / 4) };
  }
  return o;
}
