// Typed errors that survive the wire. This module has no Node-only imports: browser builds use it.
//
// On the wire an error is (name, code, message, details). The receiver revives it as the
// registered class for `name` (never anything else: no class lookup by arbitrary name, no eval);
// unknown names become a plain RtfmriError that keeps the original name/code.

export type ErrorDetails = unknown;

export class RtfmriError extends Error {
  /** Stable machine-readable code, e.g. 'VALIDATION', 'NOT_FOUND'. */
  code: string;
  details: ErrorDetails;
  constructor(message: string, options: { code?: string; details?: ErrorDetails; cause?: unknown } = {}) {
    super(message);
    this.name = 'RtfmriError';
    this.code = options.code ?? 'RTFMRI_ERROR';
    this.details = options.details;
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
  toJSON(): { name: string; code: string; message: string; details: ErrorDetails } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

type Opts = { details?: ErrorDetails; cause?: unknown; code?: string };

function defineError(name: string, code: string) {
  // A named class per error so `instanceof` and stack traces read well.
  const cls = class extends RtfmriError {
    constructor(message: string, options: Opts = {}) {
      super(message, { code: options.code ?? code, details: options.details, cause: options.cause });
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** Bad argument or a policy refusal (e.g. "... not within list of allowed directories"). */
export class ValidationError extends defineError('ValidationError', 'VALIDATION') {}
/** A file, stream or object that does not exist ("not found or corrupted"). */
export class NotFoundError extends defineError('NotFoundError', 'NOT_FOUND') {}
/** A deadline passed (the callee's own wait, or the caller's call deadline). */
export class TimeoutError extends defineError('TimeoutError', 'TIMEOUT') {}
/** Operation not valid in the current state ("StreamID mismatch", closed object, ...). */
export class StateError extends defineError('StateError', 'STATE') {}
/** The link is gone; message always contains "not connected". */
export class DisconnectedError extends defineError('DisconnectedError', 'DISCONNECTED') {
  constructor(message = 'not connected', options: Opts = {}) {
    super(/not connected/.test(message) ? message : `not connected: ${message}`, options);
  }
}
/** Malformed, truncated, oversized or out-of-order frame; the link that sent it is closed. */
export class ProtocolError extends defineError('ProtocolError', 'PROTOCOL') {}
/** Authentication failed or was missing. */
export class AuthError extends defineError('AuthError', 'AUTH') {}
/** A method that is not on the allow-list (or not a method at all). */
export class RefusedMethodError extends defineError('RefusedMethodError', 'METHOD_REFUSED') {}
/** The caller cancelled the call (AbortSignal). */
export class CancelledError extends defineError('CancelledError', 'CANCELLED') {}
/** The remote implementation threw something that is not an RtfmriError. */
export class RemoteError extends defineError('RemoteError', 'REMOTE') {}

type ErrorClass = new (message: string, options?: Opts) => RtfmriError;

const registry = new Map<string, ErrorClass>();

/**
 * Register an error class so it is revived by name on the receiving side. Names are unique;
 * re-registering the same class is a no-op. Other packages may add their own subclasses of
 * RtfmriError (their constructor must accept (message, { code, details })).
 */
export function registerError(cls: ErrorClass, name: string = cls.name): void {
  const prev = registry.get(name);
  if (prev && prev !== cls) throw new Error(`error name ${name} already registered`);
  registry.set(name, cls);
}

for (const cls of [
  RtfmriError,
  ValidationError,
  NotFoundError,
  TimeoutError,
  StateError,
  DisconnectedError,
  ProtocolError,
  AuthError,
  RefusedMethodError,
  CancelledError,
  RemoteError,
] as ErrorClass[]) {
  registerError(cls);
}

/** Build the typed error for a (name, code, message, details) tuple that came over the wire. */
export function reviveError(name: string, code: string, message: string, details: ErrorDetails): RtfmriError {
  // A Map lookup: '__proto__' or 'constructor' as a name finds nothing.
  const cls = registry.get(name);
  let err: RtfmriError;
  if (cls) {
    err = new cls(message, { code, details });
    // DisconnectedError may prefix; keep the remote text exact.
    err.message = message;
  } else {
    err = new RtfmriError(message, { code, details });
    err.name = name;
  }
  return err;
}

/** Normalise anything thrown into the tuple that is sent. Non-RtfmriErrors keep name+message only. */
export function errorToWire(e: unknown): { name: string; code: string; message: string; details: ErrorDetails } {
  if (e instanceof RtfmriError) return { name: e.name, code: e.code, message: e.message, details: e.details };
  if (e instanceof Error) {
    const code = typeof (e as { code?: unknown }).code === 'string' ? (e as unknown as { code: string }).code : 'REMOTE';
    return { name: 'RemoteError', code, message: `${e.name}: ${e.message}`, details: undefined };
  }
  return { name: 'RemoteError', code: 'REMOTE', message: String(e), details: undefined };
}

export function isRtfmriError(e: unknown): e is RtfmriError {
  return e instanceof RtfmriError;
}
