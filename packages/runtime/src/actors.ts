// Scanner streams and watches as XState actors. One machine serves both: a long-lived actor per
// stream (or watch) that takes one request at a time (rt-cloud serialised them too) and walks
// explicit states while it waits for the file to be present, big enough, and whole.
import path from 'node:path';
import { assign, createActor, setup, type ActorRefFrom } from 'xstate';
import type { CheckRequest } from './check.js';
import { StateError } from './errors.js';

export type Validated<T> =
  | { status: 'ok'; value: T }
  | { status: 'missing' }
  | { status: 'small' }
  | { status: 'incomplete'; size?: number; mtimeMs?: number };

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
  /** Makes the error for a request that timed out. */
  timeoutError(): Error;
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
}

type Ev<T> =
  | { type: 'REQUEST'; req: FileWaitRequest<T> }
  | { type: 'FILE_EVENT' }
  | { type: 'RESULT'; output: Validated<T>; seq: number }
  | { type: 'ERROR'; error: unknown; seq: number }
  | { type: 'CLOSE' };

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
        event.type === 'REQUEST' ? { req: event.req, skipSize: undefined, skipMtimeMs: undefined } : {}),
    },
    delays: {
      poll: ({ context }) => context.deps.pollIntervalMs,
      untilDeadline: ({ context }) => Math.max(0, (context.req?.deadline ?? 0) - performance.now()),
      pace: ({ context }) => paceDelay(context),
    },
  }).createMachine({
    id: 'fileWait',
    context: ({ input }) => ({
      cfg: input.cfg, deps: input.deps, req: null, dirty: false, lastDeliveredAt: null, value: null, error: null, seq: 0,
    }),
    initial: 'idle',
    on: { CLOSE: '.closed' },
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
            { guard: ({ context }) => context.dirty, target: 'validating', reenter: true },
            { guard: ({ event }) => event.output.status === 'missing', target: 'waitingForFile' },
            { guard: ({ event }) => event.output.status === 'small', target: 'waitingForMinFileSize' },
            {
              target: 'waitingForComplete',
              actions: assign(({ event }) => {
                const o = event.output as { size?: number; mtimeMs?: number };
                return { skipSize: o.size, skipMtimeMs: o.mtimeMs };
              }),
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
        entry: [({ context }) => context.req!.reject(context.req!.timeoutError()), assign({ req: null })],
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

  /** Waits for `name` in the folder until whole or `timeoutSec` has passed. */
  request(nameOf: string | (() => string), timeoutSec: number, timeoutError: (name: string) => Error, options?: FileWaitOptions): Promise<T> {
    const run = (): Promise<T> => {
      if (this.closed) return Promise.reject(new StateError('StreamID mismatch: the stream or watch was closed'));
      // Resolved when the request's turn comes: "next" means after the previous request finished.
      const name = typeof nameOf === 'string' ? nameOf : nameOf();
      // The deadline runs from the call, including time spent queued behind an earlier request.
      return new Promise<T>((resolve, reject) => {
        // Subscribe before the first look, so an event between look and wait is never missed.
        const off = this.subscribe(name, () => this.actor.send({ type: 'FILE_EVENT' }));
        this.actor.send({
          type: 'REQUEST',
          req: {
            name,
            deadline,
            resolve: (v) => { off(); resolve(v); },
            reject: (e) => { off(); reject(e); },
            timeoutError: () => timeoutError(name),
            options,
          },
        });
      });
    };
    const deadline = performance.now() + timeoutSec * 1000;
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.actor.send({ type: 'CLOSE' });
    this.actor.stop();
  }
}
