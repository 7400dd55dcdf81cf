// Temporary home of the typed errors until @rtfmri/transport exports them; then this file
// becomes re-exports so there is one set of classes (they cross the wire by name and code).
export class RtfmriError extends Error {
  readonly code: string;
  readonly details?: Record<string, unknown>;
  constructor(name: string, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = name;
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}
export class ValidationError extends RtfmriError {
  constructor(message: string, details?: Record<string, unknown>) { super('ValidationError', 'E_VALIDATION', message, details); }
}
export class NotFoundError extends RtfmriError {
  constructor(message: string, details?: Record<string, unknown>) { super('NotFoundError', 'E_NOT_FOUND', message, details); }
}
export class TimeoutError extends RtfmriError {
  constructor(message: string, details?: Record<string, unknown>) { super('TimeoutError', 'E_TIMEOUT', message, details); }
}
export class StateError extends RtfmriError {
  constructor(message: string, details?: Record<string, unknown>) { super('StateError', 'E_STATE', message, details); }
}
export class DisconnectedError extends RtfmriError {
  constructor(message: string, details?: Record<string, unknown>) { super('DisconnectedError', 'E_DISCONNECTED', message, details); }
}
