// The jsPsych neurofeedback task in Chromium, end to end (issue 14): a Node analysis sets one
// result per TR through relay + runtime; the page (a 'feedback' token) shows each after its onset
// delay, records key presses and sends them back. Runs harness.ts in a fresh network namespace
// with only loopback up, so nothing leaves the machine. Prints the latency benchmark row.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const TRS = 20;
const DELAY_TR = 3;

function unavailable(): string | undefined {
  const chromium = process.env.RTFMRI_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) return `no Chromium at ${chromium}`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && echo ok'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.includes('ok')) return `cannot make a network namespace (unshare -n, as root): ${(r.stderr || '').trim()}`;
  return undefined;
}
const why = unavailable();
if (why) console.warn(`jsPsych task test skipped: ${why}`);

const results = new Map<string, any>();

describe.skipIf(!!why)('jsPsych neurofeedback task in Chromium', () => {
  beforeAll(async () => {
    const b = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
    const lines = await new Promise<any[]>((resolve, reject) => {
      const child = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec '${process.execPath}' --import tsx --conditions=source test/harness.ts '{"trs":${TRS}}'`], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => {
        const ls = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
        if (!ls.some((l) => l.done)) return reject(new Error(`harness exited ${code} without finishing:\n${out.slice(-2000)}`));
        resolve(ls.filter((l) => l.scenario));
      });
    });
    for (const l of lines) results.set(l.scenario, l);
  }, 120_000);

  it('runs every TR: the result shown, the onset delay honoured, keys recorded and sent back', () => {
    expect(results.get('failed')?.failed).toBeUndefined();
    const r = results.get('task');
    expect(r.errors).toEqual([]);
    expect(r.state).toBe('done');
    expect(r.trials.map((t: any) => t.tr_id)).toEqual([...Array(TRS).keys()]);
    expect(r.trials.map((t: any) => t.value)).toEqual(r.values);
    expect(r.trials.every((t: any) => t.run_id === 1 && t.timed_out === false && t.skipped === 0 && t.message === 'Get ready')).toBe(true);
    // The onset delay (200 ms for TR 3) is counted from the result's arrival; the others show at once.
    expect(r.trials[DELAY_TR].onset_delay_ms).toBe(200);
    expect(r.trials[DELAY_TR].delay).toBeGreaterThanOrEqual(199);
    expect(r.trials[DELAY_TR].delay).toBeLessThan(400);
    expect(r.trials.filter((_: any, i: number) => i !== DELAY_TR).every((t: any) => t.delay < 100)).toBe(true);
    // Keys pressed during even TRs' feedback (shown 400 ms, so a press under load still lands), with times after the onset.
    for (const [i, t] of r.trials.entries()) {
      if (i % 2) expect(t.key).toBeNull();
      else {
        expect(t.key).toBe(i % 4 === 0 ? 'f' : 'j');
        expect(t.rt).toBeGreaterThanOrEqual(0);
        expect(t.rt).toBeLessThan(2000);
      }
    }
    // The analysis got them back: getAllResponses (each TR once, in order) and getResponse.
    expect(r.responses.map((x: any) => x.trId)).toEqual([...Array(TRS).keys()]);
    expect(r.responses.map((x: any) => x.key)).toEqual(r.trials.map((t: any) => t.key));
    expect(r.response0).toMatchObject({ runId: 1, trId: 0, key: 'f', value: 0 });
  });

  it("the experimenter's monitor ('display' token) shows the run's plot with axes, its status and log", () => {
    const m = results.get('task').monitor;
    expect(m.state).toBe('live');
    expect(m.status).toBe('Run 1 done');
    expect(m.logs).toBe(TRS);
    expect(m.run1.map((p: any) => p.x)).toEqual([...Array(TRS).keys()]);
    expect(m.run1.map((p: any) => p.y)).toEqual(results.get('task').values);
    expect(m.circles).toBe(TRS);
    expect(m.axisLabels).toEqual(expect.arrayContaining(['TR (volume index)', 'result']));
    expect(m.link).toMatch(/via relay \(WebSocket\)/);
    // sendConfig, sendUploadStatus, sendPreviousDataPoints (sent after the run): shown, and the resent points replace the plot (still one run, TRS points).
    expect(m.display.configTitle).toBe('Neurofeedback task');
    expect(m.display.config).toContain('conf/task.toml');
    expect(m.display.config).toContain('synthetic box');
    expect(m.display.uploads).toBe('run1_results.json\n------upload complete------');
    expect(m.runsShown).toBe(1);
  });

  it('benchmark: feedback value set in Node -> shown on the page, p50 <= 20 ms', () => {
    const l = results.get('task').latency;
    const f = (x: number) => Math.round(x * 10) / 10;
    console.log(`BENCH feedback set->shown (relay, ws, page worker): n=${l.n} p50 ${f(l.shownP50)} ms, p90 ${f(l.shownP90)} ms, max ${f(l.shownMax)} ms; next frame p50 ${f(l.frameP50)} ms, p90 ${f(l.frameP90)} ms; delayed TR (200 ms) ${f(l.delayedTr)} ms; clock offset ${f(l.clockOffsetMs)} ms; load ${l.loadavg.map((x: number) => x.toFixed(2)).join(' ')}`);
    expect(l.shownP50).toBeLessThanOrEqual(20);
    expect(l.shownP50).toBeGreaterThan(0);
  });

  it('a page with an expired token gets a clear message and no trial', () => {
    const r = results.get('expired');
    expect(r.state).toBe('error');
    expect(r.error).toMatch(/AuthError: .*expired/);
    expect(r.text).toMatch(/Cannot start the task: .*expired/);
    expect(r.trials).toBe(0);
  });

  it('the relay restarting during a TR wait loses nothing: the page waits on, reconnects and shows every TR', () => {
    const r = results.get('relay-restart');
    expect(r.state).toBe('done');
    expect(r.trials.map((t: any) => [t.tr_id, t.value, t.timed_out, t.error])).toEqual([0, 1, 2, 3].map((i) => [i, i / 4, false, undefined]));
    expect(r.trials[2].disconnects).toBeGreaterThan(0);
  });

  it('a page with a wrong-scope token (stream only) is told which scope it needs, and runs no trial', () => {
    const r = results.get('wrong-scope');
    expect(r.state).toBe('error');
    expect(r.text).toMatch(/Cannot start the task: dequeueResult: this token does not allow it \(a participant's page needs a token with scope 'feedback'/);
    expect(r.trials).toBe(0);
  });
});
