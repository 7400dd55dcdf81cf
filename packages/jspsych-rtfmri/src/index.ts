// jsPsych 8 plugin: one trial per TR of real-time fMRI neurofeedback. The port of rt-cloud's
// `brain-realtime-response` plugin (web/src/jspsych-plugin-realtime-response.js) onto the rtfmri
// feedback channel: the trial waits for the TR's result from the analysis (the page's
// SubjectInterface.dequeueResult), honours its onsetTimeDelayMs, shows the value as a bar, a
// thermometer, a scaled image or text, records key presses with their times, and sends the response
// back (addResponse), where the analysis reads it with getResponse / getAllResponses.
import { ParameterType, type JsPsych, type JsPsychPlugin, type TrialType } from 'jspsych';

/** What the plugin needs of the page's SubjectInterface (@rtfmri/sdk/browser). */
export interface PageSubject {
  dequeueResult(block?: boolean, timeout?: number | null): Promise<Record<string, unknown>>;
  addResponse(runId: number, trId: number, response: Record<string, unknown>): Promise<void>;
}

const info = {
  name: 'rtfmri-feedback',
  version: '0.1.0',
  parameters: {
    /** The page's SubjectInterface (new SubjectInterface(di) from @rtfmri/sdk/browser). */
    subject: { type: ParameterType.OBJECT, default: undefined },
    /** Only results of this run count (others are skipped); null: any run. */
    run_id: { type: ParameterType.INT, default: null },
    /** Wait for this TR: results for earlier TRs are skipped (stale); null: the next result. */
    tr_id: { type: ParameterType.INT, default: null },
    /** 'bar' (horizontal), 'thermometer' (vertical), 'image' (scaled by the value) or 'text'. */
    display: { type: ParameterType.SELECT, options: ['bar', 'thermometer', 'image', 'text'], default: 'bar' },
    /** The value shown as empty / full. */
    min_value: { type: ParameterType.FLOAT, default: -1 },
    max_value: { type: ParameterType.FLOAT, default: 1 },
    /** The picture for display 'image': its size goes from 20 % (min_value) to 100 % (max_value). */
    image: { type: ParameterType.IMAGE, default: null },
    /** Size of the feedback in px: [width, height]. */
    size: { type: ParameterType.INT, array: true, default: [400, 40] },
    /** Shown under the feedback (HTML); the value is filled in for '{value}'. */
    label: { type: ParameterType.HTML_STRING, default: null },
    /** How long the feedback stays, ms, after its onset. */
    feedback_duration: { type: ParameterType.INT, default: 1000 },
    /** Keys recorded as responses ('ALL_KEYS', 'NO_KEYS' or a list). */
    choices: { type: ParameterType.KEYS, default: 'ALL_KEYS' },
    /** Give up waiting for the result after this many seconds (the trial ends with timed_out). */
    result_timeout: { type: ParameterType.FLOAT, default: 30 },
    /** Send the response to the analysis (addResponse) at the end of the trial. */
    send_response: { type: ParameterType.BOOL, default: true },
  },
  data: {
    run_id: { type: ParameterType.INT },
    tr_id: { type: ParameterType.INT },
    value: { type: ParameterType.FLOAT },
    onset_delay_ms: { type: ParameterType.FLOAT },
    /** Epoch ms: the trial began waiting, the result arrived, the feedback was put on the page, and the next frame after that. */
    trial_start_time: { type: ParameterType.FLOAT },
    result_received_time: { type: ParameterType.FLOAT },
    feedback_onset_time: { type: ParameterType.FLOAT },
    feedback_frame_time: { type: ParameterType.FLOAT },
    /** The hub's receipt time of the result (epoch ms). */
    result_set_time: { type: ParameterType.FLOAT },
    /** The first key after the feedback onset and its time from the onset (ms); null when none. */
    key_pressed: { type: ParameterType.STRING },
    key_response_time: { type: ParameterType.FLOAT },
    /** Every key press of the trial: { key, time (epoch ms), rt (ms from the feedback onset, negative before it) }. */
    keys: { type: ParameterType.COMPLEX, array: true },
    /** The last setMessage text seen in this trial. */
    message: { type: ParameterType.STRING },
    /** Results skipped as stale or of another run. */
    skipped: { type: ParameterType.INT },
    /** Times the wait found the link down (it goes on waiting: the SDK reconnects). */
    disconnects: { type: ParameterType.INT },
    timed_out: { type: ParameterType.BOOL },
  },
} as const;

type Info = typeof info;

const epochMs = () => performance.timeOrigin + performance.now();

const isTimeout = (e: unknown) => e instanceof Error && (e.name === 'TimeoutError' || /no result within|queue is empty/.test(e.message));
/** The link dropped (relay or runtime restarting): the SDK reconnects; the wait goes on until result_timeout. */
const isDisconnected = (e: unknown) => e instanceof Error && (e.name === 'DisconnectedError' || /^not connected/.test(e.message));

/** The last message set with setMessage, across trials (rt-cloud's FeedbackStatus.message). */
let lastMessage: string | null = null;

export class RtfmriFeedbackPlugin implements JsPsychPlugin<Info> {
  static info = info;
  constructor(private readonly jsPsych: JsPsych) {}

  trial(display: HTMLElement, trial: TrialType<Info>): void {
    void this.run(display, trial).catch((e: Error) => {
      display.innerHTML = `<p class="rtfmri-error" style="color:#b00">rtfmri feedback: ${escapeHtml(e.message)}</p>`;
      this.jsPsych.finishTrial({ error: e.message, timed_out: false });
    });
  }

  private async run(display: HTMLElement, trial: TrialType<Info>): Promise<void> {
    const subject = trial.subject as unknown as PageSubject | undefined;
    if (!subject || typeof subject.dequeueResult !== 'function') throw new Error('the trial needs `subject`: new SubjectInterface(di) from @rtfmri/sdk/browser');
    const start = epochMs();
    const keys: Array<{ key: string; time: number; rt: number | null }> = [];
    let onset: number | null = null;
    const api = this.jsPsych.pluginAPI;
    const listener = trial.choices === 'NO_KEYS' ? null : api.getKeyboardResponse({
      callback_function: (r: { key: string }) => {
        const t = epochMs();
        keys.push({ key: r.key, time: t, rt: onset === null ? null : t - onset });
      },
      valid_responses: trial.choices,
      rt_method: 'performance',
      persist: true,
      allow_held_key: false,
    });
    const showWaiting = () => {
      display.innerHTML = `<div id="rtfmri-waiting" class="rtfmri-waiting">${lastMessage !== null ? escapeHtml(lastMessage) : '+'}</div>`;
    };
    showWaiting();

    // Wait for this TR's result; messages update the waiting text (rt-cloud's setMessage).
    const deadline = performance.now() + (trial.result_timeout ?? 30) * 1000;
    let result: { runId: number; trId: number; value: number; onsetTimeDelayMs: number; timestamp: number } | undefined;
    let skipped = 0;
    let disconnects = 0;
    while (!result) {
      const left = (deadline - performance.now()) / 1000;
      if (left <= 0) break;
      let m: Record<string, unknown>;
      try {
        m = await subject.dequeueResult(true, Math.min(left, 5));
      } catch (e) {
        if (isTimeout(e)) continue;
        if (isDisconnected(e)) {
          disconnects++;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        throw e;
      }
      if (m.kind === 'message') {
        lastMessage = String(m.message);
        showWaiting();
        continue;
      }
      const r = { runId: Number(m.runId), trId: Number(m.trId), value: Number(m.value), onsetTimeDelayMs: Number(m.onsetTimeDelayMs ?? 0), timestamp: Number(m.timestamp) };
      if ((trial.run_id != null && r.runId !== trial.run_id) || (trial.tr_id != null && r.trId < trial.tr_id)) {
        skipped++;
        continue;
      }
      result = r;
    }
    const received = epochMs();

    const finish = (extra: Record<string, unknown>) => {
      if (listener) api.cancelKeyboardResponse(listener);
      const first = keys.find((k) => k.rt !== null && k.rt >= 0);
      const data = {
        run_id: result?.runId ?? trial.run_id,
        tr_id: result?.trId ?? trial.tr_id,
        value: result?.value ?? null,
        onset_delay_ms: result?.onsetTimeDelayMs ?? null,
        trial_start_time: start,
        result_received_time: result ? received : null,
        result_set_time: result ? result.timestamp * 1000 : null,
        feedback_onset_time: onset,
        key_pressed: first?.key ?? null,
        key_response_time: first?.rt ?? null,
        keys,
        message: lastMessage,
        skipped,
        disconnects,
        ...extra,
      };
      if (result && trial.send_response) {
        // Not awaited: the next trial's wait must not queue behind it (the link keeps the order).
        void subject.addResponse(result.runId, result.trId, {
          key: data.key_pressed, rt: data.key_response_time, keys, feedbackOnset: onset, resultReceived: received, value: result.value,
        }).catch(() => undefined);
      }
      display.innerHTML = '';
      this.jsPsych.finishTrial(data);
    };

    if (!result) return finish({ timed_out: true, feedback_frame_time: null });

    const r = result;
    const show = () => {
      display.innerHTML = renderFeedback(trial, r.value, r.trId);
      onset = epochMs();
      for (const k of keys) k.rt = k.time - onset;
      requestAnimationFrame(() => {
        const frame = epochMs();
        const el = display.querySelector('#rtfmri-feedback');
        el?.setAttribute('data-frame-time', String(frame));
        api.setTimeout(() => finish({ timed_out: false, feedback_frame_time: frame }), Math.max(0, (trial.feedback_duration ?? 1000) - (frame - onset!)));
      });
    };
    // rt-cloud: onsetTimeDelayMs is counted from the result's arrival on the page.
    if (r.onsetTimeDelayMs > 0) api.setTimeout(show, r.onsetTimeDelayMs);
    else show();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The feedback's HTML for a value (exported for pages that draw it elsewhere). */
export function renderFeedback(trial: Pick<TrialType<Info>, 'display' | 'min_value' | 'max_value' | 'image' | 'size' | 'label'>, value: number, trId: number): string {
  const min = trial.min_value ?? -1;
  const span = (trial.max_value ?? 1) - min;
  const frac = Math.min(1, Math.max(0, span ? (value - min) / span : 0));
  const [w, h] = trial.size ?? [400, 40];
  const pct = (frac * 100).toFixed(1);
  const attrs = `id="rtfmri-feedback" data-value="${value}" data-fraction="${frac.toFixed(4)}" data-tr="${trId}"`;
  let body: string;
  switch (trial.display) {
    case 'thermometer':
      body = `<div ${attrs} class="rtfmri-thermometer" style="position:relative;width:${h}px;height:${w}px;border:2px solid #333;border-radius:${h / 2}px;overflow:hidden;margin:auto;background:#eee">`
        + `<div class="rtfmri-fill" style="position:absolute;bottom:0;left:0;width:100%;height:${pct}%;background:#d33"></div></div>`;
      break;
    case 'image': {
      const scale = 0.2 + 0.8 * frac;
      body = `<div ${attrs} class="rtfmri-image" style="width:${w}px;height:${w}px;display:flex;align-items:center;justify-content:center;margin:auto">`
        + (trial.image ? `<img src="${escapeHtml(trial.image)}" alt="" style="width:${(scale * 100).toFixed(1)}%;height:auto">` : `<div style="width:${(scale * 100).toFixed(1)}%;aspect-ratio:1;border-radius:50%;background:#36c"></div>`)
        + '</div>';
      break;
    }
    case 'text':
      body = `<div ${attrs} class="rtfmri-text" style="font-size:48px">${value.toFixed(2)}</div>`;
      break;
    default:
      body = `<div ${attrs} class="rtfmri-bar" style="position:relative;width:${w}px;height:${h}px;border:2px solid #333;margin:auto;background:#eee">`
        + `<div class="rtfmri-fill" style="position:absolute;left:0;top:0;height:100%;width:${pct}%;background:#2a7"></div></div>`;
  }
  const label = trial.label ? `<div class="rtfmri-label">${trial.label.replace('{value}', value.toFixed(2))}</div>` : '';
  return `<div class="rtfmri-trial">${body}${label}</div>`;
}

export default RtfmriFeedbackPlugin;
