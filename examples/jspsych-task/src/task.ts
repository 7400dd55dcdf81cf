// The participant's page: connects to the runtime through the relay with a 'feedback'-scoped
// token (its result queue and its responses, nothing else), then runs one jsPsych trial per TR:
// wait for the analysis' result for that TR, show it (bar / thermometer / image / text) after its
// onset delay, record key presses, send them back. window.rtfmriTask reports progress (tests).
import { initJsPsych } from 'jspsych';
import { DataInterface, SubjectInterface } from '@rtfmri/sdk/browser';
import { RtfmriFeedbackPlugin } from '@rtfmri/jspsych-rtfmri';

interface TaskState {
  state: 'connecting' | 'running' | 'done' | 'error';
  error?: string;
  trials: Array<Record<string, unknown>>;
}
const status: TaskState = { state: 'connecting', trials: [] };
(window as unknown as { rtfmriTask: TaskState }).rtfmriTask = status;

const q = new URLSearchParams(location.search);
const run = Number(q.get('run') ?? 1);
const trs = Number(q.get('trs') ?? 10);
const firstTr = Number(q.get('first') ?? 0);

async function main() {
  const di = new DataInterface({
    dataRemote: true,
    url: q.get('relay') ?? `ws://${location.hostname}:8888`,
    token: q.get('token') ?? '',
    name: q.get('name') ?? 'scanner1',
    clientId: q.get('client') ?? 'participant',
    transport: (q.get('transport') as 'websocket' | 'webrtc' | 'auto' | null) ?? 'websocket',
    worker: q.get('worker') === 'page' ? false : undefined,
  });
  await di.waitForRuntime(30);
  const subject = new SubjectInterface(di);
  // Check the token's scope before the first trial (a page with a wrong token says so and runs
  // nothing): a non-blocking dequeue, whose result, if any, goes to the first trial.
  let early: Awaited<ReturnType<SubjectInterface['dequeueResult']>> | undefined;
  try {
    early = await subject.dequeueResult(false);
  } catch (e) {
    if ((e as Error).name !== 'TimeoutError') throw e;
  }
  const pageSubject = {
    dequeueResult(block?: boolean, timeout?: number | null) {
      const m = early;
      early = undefined;
      return m ? Promise.resolve(m) : subject.dequeueResult(block, timeout);
    },
    addResponse: (runId: number, trId: number, r: Record<string, unknown>) => subject.addResponse(runId, trId, r),
  };
  status.state = 'running';
  const jsPsych = initJsPsych({
    on_trial_finish: (data: Record<string, unknown>) => status.trials.push(data),
    on_finish: () => {
      status.state = 'done';
      void di.close();
    },
  });
  const timeline = [...Array(trs).keys()].map((i) => ({
    type: RtfmriFeedbackPlugin,
    subject: pageSubject,
    run_id: run,
    tr_id: firstTr + i,
    display: q.get('display') ?? 'bar',
    min_value: Number(q.get('min') ?? -1),
    max_value: Number(q.get('max') ?? 1),
    feedback_duration: Number(q.get('duration') ?? 500),
    result_timeout: Number(q.get('timeout') ?? 30),
    label: q.get('label') ?? 'Brain state: {value}',
  }));
  await jsPsych.run(timeline);
}

main().catch((e: Error) => {
  status.state = 'error';
  status.error = `${e.name}: ${e.message}`;
  document.body.textContent = `Cannot start the task: ${e.message}`;
});
