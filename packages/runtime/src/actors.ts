// Scanner streams and watches as XState actors. One machine serves both: a long-lived actor per
// stream (or watch) that takes one request at a time (rt-cloud serialised them too) and walks
// explicit states while it waits for the file to be present, big enough, and whole.
import path from 'node:path';
import { assign, createActor, setup, type ActorRefFrom } from 'xstate';
import type { CheckRequest } from './check.js';
import { CancelledError } from '@rtfmri/transport';
import { StateError } from './errors.js';

export type Validated<T> =
  | { status: 'ok'; value: T }
  | { status: 'missing' }
  /** Present but smaller than minFileSize (size: what it is now). */
  | { status: 'small'; size?: number }
  | { status: 'incomplete'; size?: number; mtimeMs?: number }
  /**
   * Present but held by the program writing it (Windows' sharing violation, a share's lock:
   * EBUSY, or EPERM/EACCES where that is how a lock shows): waited for like a file being written.
   */
  | { status: 'locked'; code: string };

/** What the last look at the file found (for the message of a request that timed out). */
export type LastLook =
  | { status: 'missing' }
  | { status: 'small'; size?: number }
  | { status: 'incomplete'; size?: number }
  | { status: 'locked'; code: string };

/** A look at the file as the actor asks for it; the owner adds the policy (and the UID secret). */
export type WaitCheck = Omit<CheckRequest, 'policy' | 'uidSecret'>;

/** Per request: what the caller's route requires on top of the stream's or watch's own settings. */
export interface FileWaitOptions {
  /** Anonymize DICOM for this request even if the stream or watch does not (the PHI policy). */
  anonymize?: boolean;
  /** DICOM by content (bare data sets too): see CheckRequest.phi. */
  phi?: boolean;
}

/** What the actor needs from the outside world: the CPU work and the policy checks. */
export interface FileWaitDeps<T> {
  /**
   * Reads/validates the file: synchronously (inline route) or as a Promise (pool route).
   * Unexpected errors throw/reject and fail the request.
   */
  validate(req: WaitCheck): Validated<T> | Promise<Validated<T>>;
  /** Extra poll while waiting, ms: the safety net under the file events. */
  pollIntervalMs: number;
}

export interface FileWaitConfig {
  /** Real (canonical) folder. */
  dir: string;
  minFileSize: number;
  dicom: boolean | 'auto';
  anonymize: boolean;
  /** Seconds between deliveries (replays); the first is never delayed. */
  demoStep: number;
}

export interface FileWaitRequest<T> {
  name: string;
  /** performance.now() ms. */
  deadline: number;
  resolve(value: T): void;
  reject(err: unknown): void;
  /** Makes the error for a request that timed out, from what the last look found (null: no look finished). */
  timeoutError(last: LastLook | null): Error;
  options?: FileWaitOptions;
}

interface Ctx<T> {
  cfg: FileWaitConfig;
  deps: FileWaitDeps<T>;
  req: FileWaitRequest<T> | null;
  dirty: boolean;
  skipSize?: number;
  skipMtimeMs?: number;
  lastDeliveredAt: number | null;
  value: T | null;
  error: unknown;
  /** Numbers validations, so a late result of an abandoned one is ignored. */
  seq: number;
  /** What the request's last finished look found. */
  last: LastLook | null;
}

type Ev<T> =
  | { type: 'REQUEST'; req: FileWaitRequest<T> }
  | { type: 'FILE_EVENT' }
  | { type: 'RESULT'; output: Validated<T>; seq: number }
  | { type: 'ERROR'; error: unknown; seq: number }
  | { type: 'CLOSE' }
  /** The caller gave up on `req` (its AbortSignal): rejected with `reason`, the actor takes the next request. */
  | { type: 'ABORT'; req: FileWaitRequest<T>; reason: Error };

/** DICOM by extension; other names (scanners also write `MR.1.3.12...` or no extension) are sniffed for `DICM`. */
function dicomMode(name: string): boolean | 'sniff' {
  const ext = path.extname(name).toLowerCase();
  return ext === '.dcm' || ext === '.ima' ? true : 'sniff';
}

/**
 * The validation runs outside the machine: `validating`'s entry starts it and its outcome comes
 * back as a RESULT (or ERROR) event. (An `invoke`d promise actor per look measured ~170 us of
 * overhead per image here; a plain event costs a few us.)
 */
function startValidation<T>(self: { send(ev: Ev<T>): void }, ctx: Ctx<T>): void {
  const { cfg, deps, req, skipSize, skipMtimeMs } = ctx;
  const seq = ctx.seq;
  const dicom = cfg.dicom === 'auto' ? dicomMode(req!.name) : cfg.dicom;
  let out: Validated<T> | Promise<Validated<T>>;
  try {
    out = deps.validate({
      path: path.join(cfg.dir, req!.name),
      minFileSize: cfg.minFileSize,
      dicom,
      anonymize: dicom !== false && (req!.options?.anonymize || cfg.anonymize),
      phi: req!.options?.phi === true,
      skipSize,
      skipMtimeMs,
    });
  } catch (error) {
    self.send({ type: 'ERROR', error, seq });
    return;
  }
  if (out instanceof Promise) {
    out.then((output) => self.send({ type: 'RESULT', output, seq }), (error) => self.send({ type: 'ERROR', error, seq }));
  } else {
    self.send({ type: 'RESULT', output: out, seq });
  }
}

function makeMachine<T>() {
  const onRequest = { REQUEST: { target: 'validating', actions: 'accept' } } as const;
  const waiting = {
    on: { FILE_EVENT: 'validating' },
    after: { untilDeadline: 'timedOut', poll: { target: 'validating', reenter: true } },
  } as const;
  return setup({
    types: {
      context: {} as Ctx<T>,
      events: {} as Ev<T>,
      input: {} as { cfg: FileWaitConfig; deps: FileWaitDeps<T> },
    },
    actions: {
      accept: assign(({ event }) =>
        event.type === 'REQUEST' ? { req: event.req, skipSize: undefined, skipMtimeMs: undefined, last: null } : {}),
      look: assign(({ event }) => {
        if (event.type !== 'RESULT') return {};
        const o = event.output;
        if (o.status === 'ok') return {};
        return { last: o.status === 'locked' ? { status: 'locked', code: o.code } : { status: o.status, size: (o as { size?: number }).size } } as Partial<Ctx<T>>;
      }),
    },
    delays: {
      poll: ({ context }) => context.deps.pollIntervalMs,
      untilDeadline: ({ context }) => Math.max(0, (context.req?.deadline ?? 0) - performance.now()),
      pace: ({ context }) => paceDelay(context),
    },
  }).createMachine({
    id: 'fileWait',
    context: ({ input }) => ({
      cfg: input.cfg, deps: input.deps, req: null, dirty: false, lastDeliveredAt: null, value: null, error: null, seq: 0, last: null,
    }),
    initial: 'idle',
    on: {
      CLOSE: '.closed',
      ABORT: { guard: ({ context, event }) => context.req !== null && context.req === event.req, target: '.aborted' },
    },
    states: {
      idle: { on: onRequest },
      validating: {
        entry: [
          assign(({ context }) => ({ dirty: false, seq: context.seq + 1 })),
          ({ context, self }) => startValidation(self as never, context),
        ],
        // A pool look stuck behind a long queue still ends the request on time (its late result is
        // ignored by its sequence number).
        after: { untilDeadline: 'timedOut' },
        on: {
          // An event while we read: the file may have changed since; look again when this look is done.
          FILE_EVENT: { actions: assign({ dirty: true }) },
          RESULT: [
            { guard: ({ context, event }) => event.seq !== context.seq },
            {
              guard: ({ context, event }) => event.output.status === 'ok' && paceDelay(context) <= 0,
              target: 'ready',
              actions: assign({ value: ({ event }) => (event.output as { value: T }).value }),
            },
            {
              guard: ({ event }) => event.output.status === 'ok',
              target: 'pacing',
              actions: assign({ value: ({ event }) => (event.output as { value: T }).value }),
            },
            { guard: ({ context }) => context.dirty, target: 'validating', reenter: true, actions: 'look' },
            { guard: ({ event }) => event.output.status === 'missing', target: 'waitingForFile', actions: 'look' },
            { guard: ({ event }) => event.output.status === 'small', target: 'waitingForMinFileSize', actions: 'look' },
            { guard: ({ event }) => event.output.status === 'locked', target: 'waitingForUnlock', actions: 'look' },
            {
              target: 'waitingForComplete',
              actions: ['look', assign(({ event }) => {
                const o = event.output as { size?: number; mtimeMs?: number };
                return { skipSize: o.size, skipMtimeMs: o.mtimeMs };
              })],
            },
          ],
          ERROR: [
            { guard: ({ context, event }) => event.seq !== context.seq },
            { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
          ],
        },
      },
      waitingForFile: waiting,
      waitingForMinFileSize: waiting,
      // Present and big enough but not yet a whole DICOM file (being written), or unparseable.
      waitingForComplete: waiting,
      // Present but locked by its writer (EBUSY; EPERM/EACCES on Windows and shares): looked at again
      // on the next event or poll.
      waitingForUnlock: waiting,
      // demoStep pacing for replays (entered only when there is time to wait: an unpaced delivery
      // goes straight to ready, never through a setTimeout, which costs >= 1 ms).
      pacing: {
        after: { pace: 'ready' },
      },
      ready: {
        entry: [
          ({ context }) => context.req!.resolve(context.value as T),
          assign({ req: null, value: null, lastDeliveredAt: () => performance.now() }),
        ],
        on: onRequest,
      },
      timedOut: {
        entry: [({ context }) => context.req!.reject(context.req!.timeoutError(context.last)), assign({ req: null })],
        on: onRequest,
      },
      // The caller's AbortSignal fired: the request is rejected, the next one runs.
      aborted: {
        entry: [
          ({ context, event }) => context.req?.reject(event.type === 'ABORT' ? event.reason : new CancelledError('cancelled')),
          assign({ req: null }),
        ],
        on: onRequest,
      },
      failed: {
        entry: [({ context }) => context.req!.reject(context.error), assign({ req: null, error: null })],
        on: onRequest,
      },
      closed: {
        type: 'final',
        entry: ({ context }) => context.req?.reject(new StateError('StreamID mismatch: the stream or watch was closed')),
      },
    },
  });
}

function paceDelay(context: Ctx<unknown>): number {
  if (context.lastDeliveredAt === null || context.cfg.demoStep <= 0) return 0;
  return context.lastDeliveredAt + context.cfg.demoStep * 1000 - performance.now();
}

export type FileWaitActor<T> = ActorRefFrom<ReturnType<typeof makeMachine<T>>>;

/**
 * A stream's or a watch's actor plus what sits around it: the folder subscription for the name it
 * currently waits for, and a queue so requests run one after another.
 */
export class FileWaiter<T> {
  readonly actor: FileWaitActor<T>;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly cfg: FileWaitConfig,
    deps: FileWaitDeps<T>,
    private readonly subscribe: (name: string, fn: () => void) => () => void,
  ) {
    this.actor = createActor(makeMachine<T>(), { input: { cfg, deps } });
    this.actor.start();
  }

  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  /**
   * Waits for `name` in the folder until whole or `timeoutSec` has passed. `signal` (the caller's
   * per-call options, or a remote caller's cancel) rejects the request with its reason, whether it
   * is running or still queued behind an earlier one.
   */
  request(
    nameOf: string | (() => string),
    timeoutSec: number,
    timeoutError: (name: string, last: LastLook | null) => Error,
    options?: FileWaitOptions,
    signal?: AbortSignal,
  ): Promise<T> {
    const run = (): Promise<T> => {
      if (this.closed) return Promise.reject(new StateError('StreamID mismatch: the stream or watch was closed'));
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      // Resolved when the request's turn comes: "next" means after the previous request finished.
      const name = typeof nameOf === 'string' ? nameOf : nameOf();
      // The deadline runs from the call, including time spent queued behind an earlier request.
      return new Promise<T>((resolve, reject) => {
        // Subscribe before the first look, so an event between look and wait is never missed.
        const unsubscribe = this.subscribe(name, () => this.actor.send({ type: 'FILE_EVENT' }));
        let onAbort: (() => void) | undefined;
        const off = () => {
          unsubscribe();
          if (onAbort) signal!.removeEventListener('abort', onAbort);
        };
        const req: FileWaitRequest<T> = {
          name,
          deadline,
          resolve: (v) => { off(); resolve(v); },
          reject: (e) => { off(); reject(e); },
          timeoutError: (last) => timeoutError(name, last),
          options,
        };
        if (signal) {
          onAbort = () => this.actor.send({ type: 'ABORT', req, reason: abortReason(signal) });
          signal.addEventListener('abort', onAbort, { once: true });
        }
        this.actor.send({ type: 'REQUEST', req });
      });
    };
    const deadline = performance.now() + timeoutSec * 1000;
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    if (!signal) return p;
    // Queued behind an earlier request: the caller hears of its cancel at once (the queue still
    // runs it, and `run` rejects it without a look).
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) return reject(abortReason(signal));
      const early = () => reject(abortReason(signal));
      signal.addEventListener('abort', early, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', early));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.actor.send({ type: 'CLOSE' });
    this.actor.stop();
  }
}

/** The error an aborted call rejects with: the signal's reason when it is an Error, else a CancelledError. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name !== 'AbortError') return r;
  return new CancelledError('cancelled by the caller (AbortSignal)');
}
