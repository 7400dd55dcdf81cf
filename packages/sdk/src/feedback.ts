// The result/feedback channel, rt-cloud's names and argument orders (rtCommon/subjectInterface.py,
// rtCommon/webDisplayInterface.py). Carried by the DataInterface's own link to the runtime, which
// hosts the hub: the analysis script (token scope 'all') and the participant's page (scope
// 'feedback') meet there. Works with the Node RemoteDataInterface and the browser DataInterface
// alike (anything with callFeedback). Semantics and refusals: runtime/src/serve/feedback.ts.
import type { DisplayEvent, FeedbackMessage, FeedbackMethod, SubjectResponse } from '@rtfmri/relay/protocol';

export type { DisplayEvent, FeedbackMessage, SubjectResponse } from '@rtfmri/relay/protocol';

/** What carries the calls: a remote DataInterface (Node or browser). */
export interface FeedbackCarrier {
  callFeedback(method: FeedbackMethod, args: unknown[], waitSec?: number): Promise<unknown>;
}

const NEEDS_REMOTE = 'the feedback channel needs a remote DataInterface (dataRemote: true), or the Node SDK with @rtfmri/runtime for dataRemote: false: the runtime hosts the hub';

/**
 * How a local (dataRemote: false) DataInterface reaches its hub: set by the Node entry
 * (feedback-local.ts), so browser bundles never pull the runtime in.
 */
let localCarrier: ((impl: object) => Promise<FeedbackCarrier>) | undefined;
export function setLocalFeedbackCarrier(f: (impl: object) => Promise<FeedbackCarrier>): void {
  localCarrier = f;
}

const SCOPE_HINT = "a participant's page needs a token with scope 'feedback', an experimenter's monitor 'display', the analysis 'all'";

/** A method the token does not allow: say which scope is needed (the error keeps its class). */
function scoped(c: FeedbackCarrier): FeedbackCarrier {
  return {
    callFeedback: (method, args, waitSec) => c.callFeedback(method, args, waitSec).catch((e: unknown) => {
      if (e instanceof Error && (e.name === 'RefusedMethodError' || /is not exposed/.test(e.message))) {
        e.message = `${method}: this token does not allow it (${SCOPE_HINT}): ${e.message}`;
      }
      throw e;
    }),
  };
}

function carrier(di: unknown): FeedbackCarrier {
  return scoped(rawCarrier(di));
}

function rawCarrier(di: unknown): FeedbackCarrier {
  if (di && typeof (di as FeedbackCarrier).callFeedback === 'function') return di as FeedbackCarrier;
  // The Node SDK's DataInterface: its implementation is the remote stub (or the local runtime).
  const impl = (di as { impl?: () => Promise<unknown> } | undefined)?.impl;
  if (typeof impl === 'function') {
    return {
      async callFeedback(method, args, waitSec) {
        const i = (await impl.call(di)) as Partial<FeedbackCarrier>;
        if (typeof i.callFeedback === 'function') return i.callFeedback(method, args, waitSec);
        if (!localCarrier) throw new TypeError(NEEDS_REMOTE);
        return (await localCarrier(i)).callFeedback(method, args, waitSec);
      },
    };
  }
  throw new TypeError(NEEDS_REMOTE);
}

/**
 * rt-cloud's SubjectInterface. The analysis side: setResult, setResultDict, setMessage,
 * getResponse, getAllResponses. The page side: dequeueResult, addResponse.
 */
export class SubjectInterface {
  readonly subjectRemote = true;
  private readonly c: FeedbackCarrier;
  constructor(di: FeedbackCarrier | object) {
    this.c = carrier(di);
  }

  /** Queues a TR's result for the pages. Refused (ValidationError) for runId < 1, trId < 0, a non-finite value, a negative delay; StateError when the TR already has one. */
  async setResult(runId: number, trId: number, value: number, onsetTimeDelayMs = 0): Promise<void> {
    await this.c.callFeedback('setResult', [runId, trId, value, onsetTimeDelayMs]);
  }
  async setResultDict(values: Record<string, unknown>, onsetTimeDelayMs = 0, name = 'defaultname'): Promise<void> {
    await this.c.callFeedback('setResultDict', [values, onsetTimeDelayMs, name]);
  }
  async setMessage(message: string): Promise<void> {
    await this.c.callFeedback('setMessage', [message]);
  }
  /** The latest response the page sent for this TR, or {} when none. */
  async getResponse(runId: number, trId: number): Promise<SubjectResponse | Record<string, never>> {
    return (await this.c.callFeedback('getResponse', [runId, trId])) as SubjectResponse;
  }
  /** Every response since the previous call, oldest first. */
  async getAllResponses(): Promise<SubjectResponse[]> {
    return (await this.c.callFeedback('getAllResponses', [])) as SubjectResponse[];
  }
  /**
   * The page's next result or message (its own queue). Empty: TimeoutError, at once unless
   * `block`, else after `timeout` seconds (default 5).
   */
  async dequeueResult(block = false, timeout: number | null = null): Promise<FeedbackMessage> {
    return (await this.c.callFeedback('dequeueResult', [block, timeout], block ? (timeout ?? 5) : undefined)) as FeedbackMessage;
  }
  /** The page's response for a TR (key, rt, onset times, ...), read by getResponse / getAllResponses. */
  async addResponse(runId: number, trId: number, response: Record<string, unknown>): Promise<void> {
    await this.c.callFeedback('addResponse', [runId, trId, response]);
  }
}

/** rt-cloud's WebDisplayInterface: plots, user log and run status for the experimenter's view. */
export class WebDisplayInterface {
  private readonly c: FeedbackCarrier;
  constructor(di: FeedbackCarrier | object) {
    this.c = carrier(di);
  }
  async plotDataPoint(runId: number, trId: number, value: number): Promise<void> {
    await this.c.callFeedback('plotDataPoint', [runId, trId, value]);
  }
  async clearRunPlot(runId: number): Promise<void> {
    await this.c.callFeedback('clearRunPlot', [runId]);
  }
  async clearAllPlots(): Promise<void> {
    await this.c.callFeedback('clearAllPlots', []);
  }
  async userLog(logStr: string): Promise<void> {
    await this.c.callFeedback('userLog', [logStr]);
  }
  async sessionLog(logStr: string): Promise<void> {
    await this.c.callFeedback('sessionLog', [logStr]);
  }
  async debugLog(logStr: string): Promise<void> {
    await this.c.callFeedback('debugLog', [logStr]);
  }
  async setUserError(errStr: string): Promise<void> {
    await this.c.callFeedback('setUserError', [errStr]);
  }
  async setDebugError(errStr: string): Promise<void> {
    await this.c.callFeedback('setDebugError', [errStr]);
  }
  async sendRunStatus(statusStr: string): Promise<void> {
    await this.c.callFeedback('sendRunStatus', [statusStr]);
  }
  /** A line for the experimenter's upload log (rt-cloud: 'No Matching Files', a file name, '------upload complete------'). */
  async sendUploadStatus(fileStr: string): Promise<void> {
    await this.c.callFeedback('sendUploadStatus', [fileStr]);
  }
  /** The experiment's configuration (a JSON object, e.g. its TOML parsed) and its file name, shown on the experimenter's page. ValidationError: not a plain object, or over 1 MiB as JSON. */
  async sendConfig(config: Record<string, unknown>, filename = ''): Promise<void> {
    await this.c.callFeedback('sendConfig', [config, filename]);
  }
  /** Sends every run's plotted points at once (a 'setDataPoints' event): pages replace their plots with them. */
  async sendPreviousDataPoints(): Promise<void> {
    await this.c.callFeedback('sendPreviousDataPoints', []);
  }
  /** Events after `afterSeq` (long poll up to `timeout` s): the monitor's feed. */
  async getDisplayEvents(afterSeq = 0, timeout = 0): Promise<DisplayEvent[]> {
    return (await this.c.callFeedback('getDisplayEvents', [afterSeq, timeout], timeout || undefined)) as DisplayEvent[];
  }
  /** rt-cloud's getPreviousDataPoints: per run (index runId - 1), the points {x: trId, y: value}. */
  async getPreviousDataPoints(): Promise<Array<Array<{ x: number; y: number | null }>>> {
    return (await this.c.callFeedback('getPreviousDataPoints', [])) as Array<Array<{ x: number; y: number | null }>>;
  }
}
