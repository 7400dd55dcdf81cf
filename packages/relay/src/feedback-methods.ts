/**
 * The result/feedback channel's methods (rt-cloud's subjectInterface and webDisplayInterface): a
 * second allow-list beside DATA_INTERFACE_METHODS. The runtime hosts the hub (one per runtime), so
 * an analysis script and a participant's page that reach the same runtime, through the relay or
 * directly, meet there. Scoped tokens name these like any other method.
 */

/** The analysis side (rt-cloud's SubjectInterface and WebDisplayInterface, called from the experiment script). */
export const ANALYSIS_FEEDBACK_METHODS = [
  'setResult', 'setResultDict', 'setMessage', 'getResponse', 'getAllResponses',
  'plotDataPoint', 'clearRunPlot', 'clearAllPlots', 'userLog', 'sessionLog', 'debugLog', 'setUserError', 'setDebugError', 'sendRunStatus',
  'sendUploadStatus', 'sendConfig', 'sendPreviousDataPoints',
] as const;

/**
 * The participant page's side: its queue of results and messages (dequeueResult), and its
 * responses going back (addResponse). rt-cloud's page answered getAllResponses over its
 * websocket; here the page pushes each response to the hub as it happens.
 */
export const PAGE_FEEDBACK_METHODS = ['dequeueResult', 'addResponse'] as const;

/** The experimenter's view: the web display events (plots, logs, run status). */
export const DISPLAY_FEEDBACK_METHODS = ['getDisplayEvents', 'getPreviousDataPoints'] as const;

export const FEEDBACK_METHODS = [...ANALYSIS_FEEDBACK_METHODS, ...PAGE_FEEDBACK_METHODS, ...DISPLAY_FEEDBACK_METHODS] as const;
export type FeedbackMethod = (typeof FEEDBACK_METHODS)[number];

/** A result, result dict or message waiting in a page's queue (rt-cloud's feedbackMsg, plus `kind`). */
export type FeedbackMessage =
  | { kind: 'result'; runId: number; trId: number; value: number; onsetTimeDelayMs: number; timestamp: number }
  | { kind: 'resultDict'; name: string; onsetTimeDelayMs: number; timestamp: number; [key: string]: unknown }
  | { kind: 'message'; message: string; timestamp: number };

/** A participant's response, as the page sent it, with the hub's receipt time. */
export interface SubjectResponse {
  runId: number;
  trId: number;
  /** What the page recorded (key, rt, onset times, ...). */
  [key: string]: unknown;
  /** Seconds since the epoch when the hub received it. */
  timestamp: number;
}

/** One web display event, in the order they happened (`seq` counts from 1). */
export type DisplayEvent =
  | { seq: number; cmd: 'plotDataPoint'; runId: number; trId: number | null; value: number | null }
  | { seq: number; cmd: 'clearAllPlots' }
  | { seq: number; cmd: 'userLog' | 'sessionLog' | 'debugLog'; value: string }
  | { seq: number; cmd: 'userError' | 'debugError'; error: string }
  | { seq: number; cmd: 'runStatus'; status: string }
  /** rt-cloud's sendUploadStatus(fileStr): a line for the upload log (a file name, or e.g. '------upload complete------'). */
  | { seq: number; cmd: 'uploadStatus'; file: string }
  /** rt-cloud's sendConfig(config, filename): the experiment's configuration (a JSON object) and the file it came from. */
  | { seq: number; cmd: 'setConfig'; value: Record<string, unknown>; filename: string }
  /** rt-cloud's sendPreviousDataPoints(): every run's plotted points at once (index runId - 1); the page replaces its plots. */
  | { seq: number; cmd: 'setDataPoints'; value: Array<Array<{ x: number; y: number | null }>> };
