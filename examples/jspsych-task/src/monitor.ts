// The experimenter's monitor: rt-cloud's web display on the rtfmri feedback channel. A
// 'display'-scoped token reads the hub's events (plotDataPoint, clearRunPlot, userLog,
// sendRunStatus, sendUploadStatus, sendConfig, sendPreviousDataPoints) by long poll and draws one
// plot per run, with axes, plus the run status, the log, the upload log, the configuration and the link in use (and why, when it is not the direct one). window.rtfmriMonitor for tests.
import { DataInterface, WebDisplayInterface, type LinkStatus } from '@rtfmri/sdk/browser';
// The web display's state and plots live with the browser experiment's page (one home for both pages).
import { emptyDisplay, followDisplayEvents, renderConfig, renderRuns, runsFromDataPoints, type DisplayState } from '../../browser-experiment/src/display.js';

interface MonitorState extends DisplayState {
  state: 'connecting' | 'live' | 'error';
  error?: string;
  link?: LinkStatus;
}
const st: MonitorState = { state: 'connecting', ...emptyDisplay() };
(window as unknown as { rtfmriMonitor: MonitorState }).rtfmriMonitor = st;

const q = new URLSearchParams(location.search);
const $ = (id: string) => document.getElementById(id)!;

function render(): void {
  $('status').textContent = st.status || '-';
  $('plots').innerHTML = renderRuns(st);
  $('log').textContent = st.logs.join('\n');
  $('uploads').textContent = st.uploads.join('\n');
  $('config').innerHTML = renderConfig(st);
}

function showLink(s: LinkStatus): void {
  st.link = s;
  $('link').textContent = s.connected ? `${s.link === 'webrtc' ? 'direct (WebRTC)' : 'via relay (WebSocket)'}${s.reason ? ` (${s.reason})` : ''}` : `disconnected${s.reason ? `: ${s.reason}` : ''}`;
}

async function main() {
  const di = new DataInterface({
    dataRemote: true,
    url: q.get('relay') ?? `ws://${location.hostname}:8888`,
    token: q.get('token') ?? '',
    name: q.get('name') ?? 'scanner1',
    clientId: q.get('client') ?? 'monitor',
    transport: (q.get('transport') as 'websocket' | 'webrtc' | 'auto' | null) ?? 'websocket',
    onStatus: showLink,
  });
  await di.waitForRuntime(30);
  const web = new WebDisplayInterface(di);
  st.runs = runsFromDataPoints(await web.getPreviousDataPoints());
  st.state = 'live';
  render();
  // a dropped link: the SDK reconnects; the wait resumes shortly
  await followDisplayEvents(web, st, render, (e) => showLink({ connected: false, reason: e.message }));
}

main().catch((e: Error) => {
  st.state = 'error';
  st.error = `${e.name}: ${e.message}`;
  $('status').textContent = `Cannot connect: ${e.message}`;
});
