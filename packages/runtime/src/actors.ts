// Scanner streams and watches as actors: a long-lived state machine per stream (or watch) that
// takes one request at a time (rt-cloud serialised them too) and walks explicit states while it
// waits for the file to be present, big enough, and whole.
//
// The machine is written out by hand (a transition function over a mailbox) rather than with
// XState: in a burst (16 streams' volumes closed at the same instant) every volume takes ~6
// transitions (request, a look at the created file, a look at the written one, their results),
// and XState's interpreter cost ~0.2-0.4 ms of main-thread CPU per volume on them (macrostep,
// snapshots, a timer per `after` per state entry) plus the garbage of its snapshots: a third of
// the runtime's main-thread time per volume. The states, events and transitions are the same
// as the XState machine's were (see the table above `FileWaitMachine`), and so are the semantics
// that matter: events sent while one is handled are queued (run-to-completion), a look's late
// result is ignored by its sequence number, and state names are what `streamState()` shows.
import path from 'node:path';
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

type Ev<T> =
  | { type: 'REQUEST'; req: FileWaitRequest<T> }
  | { type: 'FILE_EVENT' }
  | { type: 'RESULT'; output: Validated<T>; seq: number }
  | { type: 'ERROR'; error: unknown; seq: number }
  | { type: 'CLOSE' }
  /** The caller gave up on `req` (its AbortSignal): rejected with `reason`, the actor takes the next request. */
  | { type: 'ABORT'; req: FileWaitRequest<T>; reason: Error }
  /** Timers: the request's deadline, the safety poll of a waiting state, the end of demoStep pacing. */
  | { type: 'DEADLINE'; req: FileWaitRequest<T> }
  | { type: 'POLL' }
  | { type: 'PACED' };

export type FileWaitState =
  | 'idle'
  | 'validating'
  /** No file of that name yet. */
  | 'waitingForFile'
  /** Smaller than minFileSize. */
  | 'waitingForMinFileSize'
  /** Present and big enough but not yet a whole DICOM file (being written), or unparseable. */
  | 'waitingForComplete'
  /** Present but locked by its writer (EBUSY; EPERM/EACCES on Windows and shares). */
  | 'waitingForUnlock'
  /** demoStep pacing for replays. */
  | 'pacing'
  | 'ready'
  | 'timedOut'
  /** The caller's AbortSignal fired: the request is rejected, the next one runs. */
  | 'aborted'
  | 'failed'
  | 'closed';

const WAITING_FOR: Record<'missing' | 'small' | 'incomplete' | 'locked', FileWaitState> = {
  missing: 'waitingForFile',
  small: 'waitingForMinFileSize',
  incomplete: 'waitingForComplete',
  locked: 'waitingForUnlock',
};

function isWaiting(s: FileWaitState): boolean {
  return s === 'waitingForFile' || s === 'waitingForMinFileSize' || s === 'waitingForComplete' || s === 'waitingForUnlock';
}

/** DICOM by extension; other names (scanners also write `MR.1.3.12...` or no extension) are sniffed for `DICM`. */
function dicomMode(name: string): boolean | 'sniff' {
  const ext = path.extname(name).toLowerCase();
  return ext === '.dcm' || ext === '.ima' ? true : 'sniff';
}

/**
 * One stream's or watch's state machine. Transitions (any state but `closed`: CLOSE -> closed;
 * ABORT of the running request -> aborted):
 *
 *   idle, ready, timedOut, aborted, failed --REQUEST--> validating
 *   validating (entry: start a look; a FILE_EVENT meanwhile marks it dirty)
 *     --RESULT ok--> ready, or pacing when demoStep asks to wait
 *     --RESULT not ok, dirty--> validating (the file changed while we looked: look again)
 *     --RESULT missing | small | incomplete | locked--> waitingForFile | ...MinFileSize | ...Complete | ...Unlock
 *     --ERROR--> failed
 *   waitingFor* --FILE_EVENT | POLL (pollIntervalMs after entry)--> validating
 *   validating, waitingFor* --DEADLINE--> timedOut
 *   pacing --PACED--> ready
 *
 * Entries: ready resolves the request, timedOut / aborted / failed / closed reject it. RESULT and
 * ERROR of an earlier look (a smaller sequence number), and every event a state does not list,
 * are ignored. Timers: one deadline timer per request (pacing ignores it: a volume that was
 * found in time is delivered), one poll timer per waiting-state entry, one pacing timer.
 */
class FileWaitMachine<T> {
  state: FileWaitState = 'idle';
  private req: FileWaitRequest<T> | null = null;
  private dirty = false;
  private skipSize: number | undefined;
  private skipMtimeMs: number | undefined;
  private lastDeliveredAt: number | null = null;
  private value: T | null = null;
  /** Numbers looks, so a late result of an abandoned one is ignored. */
  private seq = 0;
  /** What the request's last finished look found. */
  private last: LastLook | null = null;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private stateTimer: ReturnType<typeof setTimeout> | undefined;
  /** Run to completion: events sent while one is handled (a synchronous look's result) wait their turn. */
  private readonly mailbox: Ev<T>[] = [];
  private busy = false;

  constructor(
    private readonly cfg: FileWaitConfig,
    private readonly deps: FileWaitDeps<T>,
  ) {}

  send(ev: Ev<T>): void {
    this.mailbox.push(ev);
    if (this.busy) return;
    this.busy = true;
    try {
      for (let e = this.mailbox.shift(); e !== undefined; e = this.mailbox.shift()) this.handle(e);
    } finally {
      this.busy = false;
    }
  }

  private handle(ev: Ev<T>): void {
    const s = this.state;
    if (s === 'closed') return;
    switch (ev.type) {
      case 'CLOSE':
        this.enter('closed');
        return;
      case 'ABORT':
        if (this.req !== null && this.req === ev.req) this.enter('aborted', ev.reason);
        return;
      case 'REQUEST':
        if (s === 'idle' || s === 'ready' || s === 'timedOut' || s === 'aborted' || s === 'failed') {
          this.req = ev.req;
          this.skipSize = undefined;
          this.skipMtimeMs = undefined;
          this.last = null;
          const req = ev.req;
          this.deadlineTimer = setTimeout(() => this.send({ type: 'DEADLINE', req }), Math.max(0, req.deadline - performance.now()));
          this.enter('validating');
        }
        return;
      case 'DEADLINE':
        // A pool look stuck behind a long queue still ends the request on time (its late result
        // is ignored by its sequence number).
        if (ev.req === this.req && (s === 'validating' || isWaiting(s))) this.enter('timedOut');
        return;
      case 'FILE_EVENT':
        // An event while we read: the file may have changed since; look again when this look is done.
        if (s === 'validating') this.dirty = true;
        else if (isWaiting(s)) this.enter('validating');
        return;
      case 'POLL':
        if (isWaiting(s)) this.enter('validating');
        return;
      case 'PACED':
        if (s === 'pacing') this.enter('ready');
        return;
      case 'ERROR':
        if (s !== 'validating' || ev.seq !== this.seq) return;
        this.enter('failed', ev.error);
        return;
      case 'RESULT': {
        if (s !== 'validating' || ev.seq !== this.seq) return;
        const o = ev.output;
        if (o.status === 'ok') {
          this.value = o.value;
          this.enter(this.paceDelay() <= 0 ? 'ready' : 'pacing');
          return;
        }
        this.last = o.status === 'locked' ? { status: 'locked', code: o.code } : { status: o.status, size: (o as { size?: number }).size } as LastLook;
        if (this.dirty) {
          this.enter('validating');
          return;
        }
        if (o.status === 'incomplete') {
          this.skipSize = o.size;
          this.skipMtimeMs = o.mtimeMs;
        }
        this.enter(WAITING_FOR[o.status]);
        return;
      }
    }
  }

  /** Leaves the current state (its timer) and runs the new state's entry (`error`: what aborted or failed rejects with). */
  private enter(next: FileWaitState, error?: unknown): void {
    if (this.stateTimer !== undefined) {
      clearTimeout(this.stateTimer);
      this.stateTimer = undefined;
    }
    this.state = next;
    switch (next) {
      case 'validating':
        this.dirty = false;
        this.seq++;
        this.startValidation();
        return;
      case 'waitingForFile':
      case 'waitingForMinFileSize':
      case 'waitingForComplete':
      case 'waitingForUnlock':
        this.stateTimer = setTimeout(() => this.send({ type: 'POLL' }), this.deps.pollIntervalMs);
        return;
      case 'pacing':
        // Entered only when there is time to wait: an unpaced delivery goes straight to ready,
        // never through a setTimeout, which costs >= 1 ms.
        this.stateTimer = setTimeout(() => this.send({ type: 'PACED' }), this.paceDelay());
        return;
      case 'ready': {
        const req = this.endRequest();
        const value = this.value as T;
        this.value = null;
        this.lastDeliveredAt = performance.now();
        req?.resolve(value);
        return;
      }
      case 'timedOut': {
        const req = this.endRequest();
        req?.reject(req.timeoutError(this.last));
        return;
      }
      case 'aborted':
      case 'failed':
        this.endRequest()?.reject(error);
        return;
      case 'closed':
        this.endRequest()?.reject(new StateError('StreamID mismatch: the stream or watch was closed'));
        return;
      default:
        return;
    }
  }

  private endRequest(): FileWaitRequest<T> | null {
    const req = this.req;
    this.req = null;
    if (this.deadlineTimer !== undefined) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
    return req;
  }

  /**
   * The look runs outside the machine: `validating`'s entry starts it and its outcome comes back
   * as a RESULT (or ERROR) event, at once (inline route: queued in the mailbox) or when the
   * pool's promise settles.
   */
  private startValidation(): void {
    const { cfg, deps, req, skipSize, skipMtimeMs } = this;
    const seq = this.seq;
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
      this.send({ type: 'ERROR', error, seq });
      return;
    }
    if (out instanceof Promise) {
      out.then((output) => this.send({ type: 'RESULT', output, seq }), (error) => this.send({ type: 'ERROR', error, seq }));
    } else {
      this.send({ type: 'RESULT', output: out, seq });
    }
  }

  private paceDelay(): number {
    if (this.lastDeliveredAt === null || this.cfg.demoStep <= 0) return 0;
    return this.lastDeliveredAt + this.cfg.demoStep * 1000 - performance.now();
  }

  /** Stops the timers (after CLOSE). */
  stop(): void {
    if (this.stateTimer !== undefined) clearTimeout(this.stateTimer);
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.stateTimer = this.deadlineTimer = undefined;
  }
}

/**
 * A stream's or a watch's actor plus what sits around it: the folder subscription for the name it
 * currently waits for, and a queue so requests run one after another.
 */
export class FileWaiter<T> {
  private readonly machine: FileWaitMachine<T>;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly cfg: FileWaitConfig,
    deps: FileWaitDeps<T>,
    private readonly subscribe: (name: string, fn: () => void) => () => void,
  ) {
    this.machine = new FileWaitMachine<T>(cfg, deps);
  }

  get state(): FileWaitState {
    return this.machine.state;
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
    /** The request while the machine runs it (for the abort listener). */
    let running: FileWaitRequest<T> | null = null;
    const run = (): Promise<T> => {
      if (this.closed) return Promise.reject(new StateError('StreamID mismatch: the stream or watch was closed'));
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      // Resolved when the request's turn comes: "next" means after the previous request finished.
      const name = typeof nameOf === 'string' ? nameOf : nameOf();
      // The deadline runs from the call, including time spent queued behind an earlier request.
      return new Promise<T>((resolve, reject) => {
        // Subscribe before the first look, so an event between look and wait is never missed.
        const unsubscribe = this.subscribe(name, () => this.machine.send({ type: 'FILE_EVENT' }));
        const off = () => {
          unsubscribe();
          running = null;
        };
        const req: FileWaitRequest<T> = {
          name,
          deadline,
          resolve: (v) => { off(); resolve(v); },
          reject: (e) => { off(); reject(e); },
          timeoutError: (last) => timeoutError(name, last),
          options,
        };
        if (signal) running = req;
        this.machine.send({ type: 'REQUEST', req });
      });
    };
    const deadline = performance.now() + timeoutSec * 1000;
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    if (!signal) return p;
    // One listener for the whole request (an AbortSignal's add/removeEventListener cost a few us
    // each, per image): the caller hears of its cancel at once, whether the request is still
    // queued behind an earlier one (the queue still runs it, and `run` rejects it without a
    // look) or running (the machine rejects it and takes the next request).
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        reject(abortReason(signal));
        if (running) this.machine.send({ type: 'ABORT', req: running, reason: abortReason(signal) });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.machine.send({ type: 'CLOSE' });
    this.machine.stop();
  }
}

/** The error an aborted call rejects with: the signal's reason when it is an Error, else a CancelledError. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name !== 'AbortError') return r;
  return new CancelledError('cancelled by the caller (AbortSignal)');
}
