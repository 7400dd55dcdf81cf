// The result/feedback hub (rt-cloud's subjectInterface + webDisplayInterface), hosted by the
// runtime: one per served DataInterface, so an analysis script and a participant's page that reach
// the same runtime (through the relay or a direct link) meet here. Which session may call what is
// the token's scope (relay tokens.ts: 'feedback' for a page, 'display' for a monitor, 'all').
//
// Semantics (rt-cloud's, with these decisions):
// * setResult(runId, trId, value, onsetTimeDelayMs = 0) queues {kind:'result', runId, trId, value,
//   onsetTimeDelayMs, timestamp} for the pages. Refused with a ValidationError: runId not an integer
//   >= 1 (rt-cloud's web display counts runs from 1 and refuses others), trId not an integer >= 0,
//   value not a finite number, onsetTimeDelayMs < 0 (rt-cloud's own check). Refused with a
//   StateError: a second result for the same run and TR (rt-cloud would queue it twice and end two
//   trials; a retry after a lost link learns the first one arrived).
// * setResultDict(values, onsetTimeDelayMs = 0, name = 'defaultname') queues a copy of `values` with
//   name, onsetTimeDelayMs, timestamp (rt-cloud's shape) and kind: 'resultDict'.
// * setMessage(message) queues {kind:'message', message} (rt-cloud's page shows it instead of feedback).
// * dequeueResult(block = false, timeout = null): the calling page's queue (one per client id, so a
//   page that reconnects keeps its queue). Empty: TimeoutError (Python's queue.Empty), at once when
//   not blocking, after `timeout` s (default 5) when blocking. Results set before any page asked
//   wait in a backlog that the first page's queue takes over. A wait whose session ended (the
//   link dropped) takes nothing: the result stays for the page's next call on its new session. A
//   result handed to a call whose link dies before the runtime notices is lost (the plugin's
//   result_timeout ends that trial); bounded queues drop their oldest beyond 10,000.
// * addResponse(runId, trId, response) from the page; getResponse(runId, trId) returns the latest
//   response for that TR or {} (rt-cloud's empty answer); getAllResponses() returns every response
//   since the previous call, oldest first.
// * plotDataPoint(runId, trId, value) keeps rt-cloud's per-run points (replacing a point with the
//   same trId); clearRunPlot(runId) clears that run, clearAllPlots every run; userLog, sessionLog,
//   debugLog, setUserError, setDebugError and sendRunStatus are events. sendUploadStatus(fileStr)
//   is an 'uploadStatus' event {file}; sendConfig(config, filename = '') a 'setConfig' event
//   {value: a copy of config, filename} (a plain JSON object of at most 1 MiB as JSON, else a
//   ValidationError); sendPreviousDataPoints() a 'setDataPoints' event carrying every run's points
//   (what getPreviousDataPoints returns), after which a page replaces all its plots. A
//   monitor reads them with getDisplayEvents(afterSeq, timeout) (long poll) and
//   getPreviousDataPoints().
import { DisconnectedError, StateError, TimeoutError, ValidationError } from '@rtfmri/transport';
import type { DisplayEvent, FeedbackMessage, FeedbackMethod, SubjectResponse } from '@rtfmri/relay/protocol';

const MAX_QUEUE = 10_000;
const MAX_EVENTS = 10_000;
const MAX_RESPONSES = 100_000;
const MAX_WAIT_SEC = 24 * 3600;
const DEFAULT_WAIT_SEC = 5;
const MAX_CONFIG_JSON = 1 << 20;

const now = () => Date.now() / 1000;

function isPlain(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function runIdOk(method: string, runId: unknown): number {
  if (typeof runId !== 'number' || !Number.isInteger(runId) || runId < 1) {
    throw new ValidationError(`${method}: runId must be an integer >= 1 (runs count from 1, as in rt-cloud); got ${String(runId)}`, { details: { reason: 'UNKNOWN_RUN', runId } });
  }
  return runId;
}

function trIdOk(method: string, trId: unknown): number {
  if (typeof trId !== 'number' || !Number.isInteger(trId) || trId < 0) {
    throw new ValidationError(`${method}: trId must be an integer >= 0; got ${String(trId)}`, { details: { reason: 'UNKNOWN_TR', trId } });
  }
  return trId;
}

function delayOk(method: string, d: unknown): number {
  if (d === undefined || d === null) return 0;
  if (typeof d !== 'number' || !Number.isFinite(d) || d < 0) throw new ValidationError(`${method}: onsetTimeDelayMs must be >= 0, ${String(d)}`, { details: { reason: 'ARG_TYPE' } });
  return d;
}

function waitSec(method: string, t: unknown): number {
  if (t === undefined || t === null) return DEFAULT_WAIT_SEC;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new ValidationError(`${method}: timeout must be a number of seconds >= 0; got ${String(t)}`);
  return Math.min(t, MAX_WAIT_SEC);
}

class Waiters {
  private list: Array<() => void> = [];
  /** Resolves true when woken, false at the deadline. */
  wait(sec: number): Promise<boolean> {
    if (sec <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.list = this.list.filter((w) => w !== wake);
        resolve(false);
      }, sec * 1000);
      this.list.push(wake);
    });
  }
  wakeAll(): void {
    for (const w of this.list.splice(0)) w();
  }
}

class PageQueue {
  items: FeedbackMessage[] = [];
  dropped = 0;
  readonly waiters = new Waiters();
  push(m: FeedbackMessage): void {
    this.items.push(m);
    if (this.items.length > MAX_QUEUE) {
      this.items.shift();
      this.dropped++;
    }
    this.waiters.wakeAll();
  }
}

export class FeedbackHub {
  private readonly queues = new Map<string, PageQueue>();
  private readonly backlog = new PageQueue();
  private readonly resultsSet = new Set<string>();
  private readonly responses = new Map<string, SubjectResponse>();
  private unread: SubjectResponse[] = [];
  private events: DisplayEvent[] = [];
  private seq = 0;
  private readonly eventWaiters = new Waiters();
  /** rt-cloud's dataPoints: per run (index runId - 1), the {x: trId, y: value} points. */
  private dataPoints: Array<Array<{ x: number; y: number | null }>> = [[{ x: 0, y: 0 }]];
  /** The last setMessage text. */
  message = '';

  private fanOut(m: FeedbackMessage): void {
    if (this.queues.size === 0) this.backlog.push(m);
    else for (const q of this.queues.values()) q.push(m);
  }

  setResult(runId: unknown, trId: unknown, value: unknown, onsetTimeDelayMs?: unknown): void {
    const r = runIdOk('setResult', runId);
    const t = trIdOk('setResult', trId);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ValidationError(`setResult: value must be a finite number; got ${String(value)}`, { details: { reason: 'ARG_TYPE' } });
    const d = delayOk('setResult', onsetTimeDelayMs);
    const key = `${r}/${t}`;
    if (this.resultsSet.has(key)) throw new StateError(`setResult: run ${r} TR ${t} already has a result`, { details: { reason: 'DUPLICATE_RESULT', runId: r, trId: t } });
    this.resultsSet.add(key);
    this.fanOut({ kind: 'result', runId: r, trId: t, value, onsetTimeDelayMs: d, timestamp: now() });
  }

  setResultDict(values: unknown, onsetTimeDelayMs?: unknown, name?: unknown): void {
    if (!isPlain(values)) throw new ValidationError('setResultDict: values must be an object (a dictionary)', { details: { reason: 'ARG_TYPE' } });
    const d = delayOk('setResultDict', onsetTimeDelayMs);
    if (name !== undefined && name !== null && typeof name !== 'string') throw new ValidationError('setResultDict: name must be a string', { details: { reason: 'ARG_TYPE' } });
    this.fanOut({ ...values, kind: 'resultDict', name: (name as string | undefined) ?? 'defaultname', onsetTimeDelayMs: d, timestamp: now() });
  }

  setMessage(message: unknown): void {
    if (typeof message !== 'string') throw new ValidationError('setMessage: message must be a string', { details: { reason: 'ARG_TYPE' } });
    this.message = message;
    this.fanOut({ kind: 'message', message, timestamp: now() });
  }

  private queueOf(client: string): PageQueue {
    let q = this.queues.get(client);
    if (!q) {
      q = new PageQueue();
      if (this.queues.size === 0) {
        q.items = this.backlog.items.splice(0);
        q.dropped = this.backlog.dropped;
      }
      this.queues.set(client, q);
    }
    return q;
  }

  /**
   * `gone()`: the caller's session has ended. A wait whose session died takes nothing from the
   * queue (its reply could not be delivered): the page's next call, on its new session, gets it.
   */
  async dequeueResult(client: string, block?: unknown, timeout?: unknown, gone: () => boolean = () => false): Promise<FeedbackMessage> {
    if (block !== undefined && block !== null && typeof block !== 'boolean') throw new ValidationError('dequeueResult: block must be a boolean');
    const sec = block ? waitSec('dequeueResult', timeout) : 0;
    const q = this.queueOf(client);
    const deadline = Date.now() + sec * 1000;
    for (;;) {
      if (gone()) throw new DisconnectedError('dequeueResult: the caller is no longer connected');
      const m = q.items.shift();
      if (m) return m;
      const left = (deadline - Date.now()) / 1000;
      if (left <= 0 || !(await q.waiters.wait(left))) {
        if (gone()) throw new DisconnectedError('dequeueResult: the caller is no longer connected');
        if (q.items.length) continue;
        throw new TimeoutError(block ? `dequeueResult: no result within ${sec} s` : 'dequeueResult: the queue is empty', { details: { reason: 'EMPTY' } });
      }
    }
  }

  addResponse(runId: unknown, trId: unknown, response: unknown): void {
    const r = runIdOk('addResponse', runId);
    const t = trIdOk('addResponse', trId);
    if (response !== undefined && response !== null && !isPlain(response)) throw new ValidationError('addResponse: response must be an object', { details: { reason: 'ARG_TYPE' } });
    const rec: SubjectResponse = { ...(response as Record<string, unknown> | undefined), runId: r, trId: t, timestamp: now() };
    this.responses.set(`${r}/${t}`, rec);
    this.unread.push(rec);
    if (this.unread.length > MAX_RESPONSES) this.unread.shift();
  }

  getResponse(runId: unknown, trId: unknown): SubjectResponse | Record<string, never> {
    const r = runIdOk('getResponse', runId);
    const t = trIdOk('getResponse', trId);
    return this.responses.get(`${r}/${t}`) ?? {};
  }

  getAllResponses(): SubjectResponse[] {
    return this.unread.splice(0);
  }

  private emit(e: DisplayEvent): void {
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.eventWaiters.wakeAll();
  }

  plotDataPoint(runId: unknown, trId: unknown, value: unknown): void {
    // rt-cloud: RequestError 'runId must be number > 0'.
    if (typeof runId !== 'number' || !Number.isInteger(runId) || runId < 1) {
      throw new ValidationError(`plotDataPoint: runId must be number > 0: ${String(runId)}`, { details: { reason: 'UNKNOWN_RUN', runId } });
    }
    if (runId > 10_000) throw new ValidationError(`plotDataPoint: runId ${runId} is beyond 10000`, { details: { reason: 'UNKNOWN_RUN', runId } });
    for (let i = this.dataPoints.length; i < runId; i++) this.dataPoints.push([]);
    if (typeof trId !== 'number') {
      // rt-cloud: a non-number trId clears the run's plot (clearRunPlot).
      this.dataPoints[runId - 1] = [];
      this.emit({ seq: ++this.seq, cmd: 'plotDataPoint', runId, trId: null, value: null });
      return;
    }
    if (value !== null && (typeof value !== 'number' || Number.isNaN(value))) throw new ValidationError(`plotDataPoint: value must be a number; got ${String(value)}`, { details: { reason: 'ARG_TYPE' } });
    const pts = this.dataPoints[runId - 1];
    const i = pts.findIndex((p) => p.x === trId);
    const y = value as number | null;
    if (i >= 0) pts[i] = { x: trId, y };
    else pts.push({ x: trId, y });
    this.emit({ seq: ++this.seq, cmd: 'plotDataPoint', runId, trId, value: y });
  }

  clearRunPlot(runId: unknown): void {
    this.plotDataPoint(runId, null, null);
  }

  /** rt-cloud: every run's plot cleared. */
  clearAllPlots(): void {
    this.dataPoints = [[{ x: 0, y: 0 }]];
    this.emit({ seq: ++this.seq, cmd: 'clearAllPlots' });
  }

  private log(cmd: 'userLog' | 'sessionLog' | 'debugLog', logStr: unknown): void {
    if (typeof logStr !== 'string') throw new ValidationError(`${cmd}: logStr must be a string`, { details: { reason: 'ARG_TYPE' } });
    this.emit({ seq: ++this.seq, cmd, value: logStr });
  }

  private error(cmd: 'userError' | 'debugError', errStr: unknown): void {
    const m = cmd === 'userError' ? 'setUserError' : 'setDebugError';
    if (typeof errStr !== 'string') throw new ValidationError(`${m}: errStr must be a string`, { details: { reason: 'ARG_TYPE' } });
    this.emit({ seq: ++this.seq, cmd, error: errStr });
  }

  userLog(logStr: unknown): void {
    this.log('userLog', logStr);
  }
  sessionLog(logStr: unknown): void {
    this.log('sessionLog', logStr);
  }
  debugLog(logStr: unknown): void {
    this.log('debugLog', logStr);
  }
  setUserError(errStr: unknown): void {
    this.error('userError', errStr);
  }
  setDebugError(errStr: unknown): void {
    this.error('debugError', errStr);
  }

  sendRunStatus(statusStr: unknown): void {
    if (typeof statusStr !== 'string') throw new ValidationError('sendRunStatus: statusStr must be a string', { details: { reason: 'ARG_TYPE' } });
    this.emit({ seq: ++this.seq, cmd: 'runStatus', status: statusStr });
  }

  /** rt-cloud's sendUploadStatus: a line of the upload log ('No Matching Files', a file name, '------upload complete------'). */
  sendUploadStatus(fileStr: unknown): void {
    if (typeof fileStr !== 'string') throw new ValidationError('sendUploadStatus: fileStr must be a string', { details: { reason: 'ARG_TYPE' } });
    this.emit({ seq: ++this.seq, cmd: 'uploadStatus', file: fileStr });
  }

  /** rt-cloud's sendConfig: the experiment's configuration (a JSON object, e.g. its TOML file parsed) for the pages to show. */
  sendConfig(config: unknown, filename?: unknown): void {
    if (!isPlain(config)) throw new ValidationError('sendConfig: config must be an object (the parsed configuration)', { details: { reason: 'ARG_TYPE' } });
    if (filename !== undefined && filename !== null && typeof filename !== 'string') throw new ValidationError('sendConfig: filename must be a string', { details: { reason: 'ARG_TYPE' } });
    let json: string;
    try {
      json = JSON.stringify(config);
    } catch (e) {
      throw new ValidationError(`sendConfig: config must be JSON (${(e as Error).message})`, { details: { reason: 'ARG_TYPE' } });
    }
    if (json.length > MAX_CONFIG_JSON) throw new ValidationError(`sendConfig: config is ${json.length} characters as JSON, more than ${MAX_CONFIG_JSON}`, { details: { reason: 'TOO_LARGE' } });
    // A copy as JSON has it (no shared objects, no undefined values), what rt-cloud's page received.
    this.emit({ seq: ++this.seq, cmd: 'setConfig', value: JSON.parse(json) as Record<string, unknown>, filename: (filename as string | undefined) ?? '' });
  }

  /** rt-cloud's sendPreviousDataPoints: every run's points in one event; pages replace their plots with them. */
  sendPreviousDataPoints(): void {
    this.emit({ seq: ++this.seq, cmd: 'setDataPoints', value: this.getPreviousDataPoints() });
  }

  /** Display events after `afterSeq`, waiting up to `timeout` s (default 0) for one to happen. */
  async getDisplayEvents(afterSeq?: unknown, timeout?: unknown): Promise<DisplayEvent[]> {
    const after = typeof afterSeq === 'number' ? afterSeq : 0;
    const sec = timeout === undefined || timeout === null ? 0 : waitSec('getDisplayEvents', timeout);
    const deadline = Date.now() + sec * 1000;
    for (;;) {
      const out = this.events.filter((e) => e.seq > after);
      if (out.length) return out;
      const left = (deadline - Date.now()) / 1000;
      if (left <= 0 || !(await this.eventWaiters.wait(left))) return this.events.filter((e) => e.seq > after);
    }
  }

  getPreviousDataPoints(): Array<Array<{ x: number; y: number | null }>> {
    return this.dataPoints.map((r) => r.map((p) => ({ ...p })));
  }

  /** Wakes a client's waiting dequeueResult calls (its session ended: they stop without taking anything). */
  wake(client: string): void {
    this.queues.get(client)?.waiters.wakeAll();
  }

  /**
   * The remotely callable methods for one client (its id keys its page queue). `closed`: the
   * session's end, after which its waiting dequeueResult calls give up without taking a result.
   */
  facade(client: string, closed?: Promise<unknown>): Record<FeedbackMethod, (...args: unknown[]) => Promise<unknown>> {
    let dead = false;
    void closed?.then(() => {
      dead = true;
      this.wake(client);
    });
    const gone = () => dead;
    const sync = <A extends unknown[]>(f: (...a: A) => unknown) => async (...a: unknown[]) => f.apply(this, a as A);
    return {
      setResult: sync(this.setResult),
      setResultDict: sync(this.setResultDict),
      setMessage: sync(this.setMessage),
      getResponse: sync(this.getResponse),
      getAllResponses: sync(this.getAllResponses),
      plotDataPoint: sync(this.plotDataPoint),
      clearRunPlot: sync(this.clearRunPlot),
      clearAllPlots: sync(this.clearAllPlots),
      userLog: sync(this.userLog),
      sessionLog: sync(this.sessionLog),
      debugLog: sync(this.debugLog),
      setUserError: sync(this.setUserError),
      setDebugError: sync(this.setDebugError),
      sendRunStatus: sync(this.sendRunStatus),
      sendUploadStatus: sync(this.sendUploadStatus),
      sendConfig: sync(this.sendConfig),
      sendPreviousDataPoints: sync(this.sendPreviousDataPoints),
      dequeueResult: (block, timeout) => this.dequeueResult(client, block, timeout, gone),
      addResponse: sync(this.addResponse),
      getDisplayEvents: (after, timeout) => this.getDisplayEvents(after, timeout),
      getPreviousDataPoints: sync(this.getPreviousDataPoints),
    };
  }
}

const hubs = new WeakMap<object, FeedbackHub>();

/** The hub of a served DataInterface (made on first use): every session of that runtime shares it. */
export function feedbackHubOf(owner: object): FeedbackHub {
  let h = hubs.get(owner);
  if (!h) {
    h = new FeedbackHub();
    hubs.set(owner, h);
  }
  return h;
}
