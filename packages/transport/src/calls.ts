// The records of calls in flight: a Pending call on the caller's side, a Serving one on the
// callee's (which is also the callee's CallContext), and the context of the call being dispatched.
// No Node-only imports.
import { TimeoutError } from './errors.js';
import type { OutStream } from './credit.js';
import type { CallContext } from './options.js';
import type { RpcPeer } from './peer.js';

let activeContext: CallContext | undefined;

/**
 * The context of the call being dispatched. Valid synchronously at the start of an exposed method
 * (read it before the first `await`); undefined outside a call.
 */
export function currentCall(): CallContext | undefined {
  return activeContext;
}

/** Makes `ctx` the current call; returns the previous one, to be put back with the same call. */
export function swapContext(ctx: CallContext | undefined): CallContext | undefined {
  const prev = activeContext;
  activeContext = ctx;
  return prev;
}

export function noop(): void {}

export function unref(t: unknown): void {
  (t as { unref?: () => void })?.unref?.();
}

export function ref(t: unknown): void {
  (t as { ref?: () => void })?.ref?.();
}

/**
 * A call in flight (caller side). A class, so every record has one shape; it is also its own
 * `sending` flag (one object less per call).
 */
export class Pending {
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

/** The promise of a new call, its resolvers stored in `p`. */
export function pendingPromise(p: Pending): Promise<unknown> {
  nextPending = p;
  const promise = new Promise<unknown>(takeResolvers);
  nextPending = undefined;
  return promise;
}

/**
 * A call being served. The AbortController and the deadline timer are made only when the method
 * reads `signal` (most calls never do; making them for every call costs more than the call).
 */
export class Serving implements CallContext {
  reason: Error | undefined;
  sending = { aborted: false };
  private streams: Map<number, OutStream> | undefined;
  get outStreams(): Map<number, OutStream> {
    return (this.streams ??= new Map());
  }
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    readonly method: string,
    readonly deadline: number,
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
