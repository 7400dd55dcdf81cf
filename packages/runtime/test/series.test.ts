// Series discovery (issue 13): initSeriesWatch + nextSeries report each new series folder of a
// session tree with its first file, so a stream can follow "the next run" without its name.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '@rtfmri/transport';
import { DataInterface, NotFoundError, StateError, TimeoutError, ValidationError, guessStreamPattern, routeFor } from '../src/index.js';
import { mosaic } from './data.js';
import { rmrf, sleep, tmpDir } from './util.js';

const RAW = { phi: 'allow-raw', log: () => {} } as const;
const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: Error) => e);

let S: string;
let di: DataInterface;
beforeEach(() => {
  S = tmpDir('rtfmri-session-');
  di = new DataInterface({ allowedDirs: [S], allowedFileTypes: ['.dcm', '.IMA'], pollIntervalMs: 100, ...RAW });
});
afterEach(async () => {
  await di.close();
  rmrf(S);
});

describe('guessStreamPattern', () => {
  it('the last run of digits of the name becomes {TR:0Nd} (zero-padded) or {TR}', () => {
    expect(guessStreamPattern('001_000013_000001.dcm')).toEqual({ filePattern: '001_000013_{TR:06d}.dcm', firstIndex: 1 });
    expect(guessStreamPattern('MR.1.3.12.2.1107.5.2.43.166123.30000024011507.IMA')).toEqual({ filePattern: 'MR.1.3.12.2.1107.5.2.43.166123.{TR}.IMA', firstIndex: 30000024011507 });
    expect(guessStreamPattern('i1234.MRDC.25')).toEqual({ filePattern: 'i1234.MRDC.{TR}', firstIndex: 25 });
    expect(guessStreamPattern('IM_0001')).toEqual({ filePattern: 'IM_{TR:04d}', firstIndex: 1 });
    expect(guessStreamPattern('scan.dcm')).toBeNull();
    expect(guessStreamPattern('a{1}.dcm')).toBeNull();
  });
});

describe('initSeriesWatch / nextSeries', () => {
  it('Siemens-like session: each new series folder is reported with its first file, in order; a stream follows it', async () => {
    fs.mkdirSync(path.join(S, 'old_series'));
    fs.writeFileSync(path.join(S, 'old_series', '001_000001_000001.dcm'), 'x');
    const existing = await di.initSeriesWatch(S);
    expect(existing).toEqual([path.join(S, 'old_series')]);
    // nothing new yet
    expect(await fail(di.nextSeries(0.3))).toBeInstanceOf(TimeoutError);
    // run 1 starts: the folder appears, then its files
    const run1 = path.join(S, 'run1_ep2d');
    const t0 = performance.now();
    setTimeout(async () => {
      fs.mkdirSync(run1);
      await sleep(150);
      fs.writeFileSync(path.join(run1, '001_000013_000001.dcm'), await mosaic(1));
      fs.writeFileSync(path.join(run1, '001_000013_000002.dcm'), await mosaic(2));
    }, 100);
    const s = await di.nextSeries(5);
    const ms = performance.now() - t0;
    expect(s).toMatchObject({ dir: run1, name: 'run1_ep2d', firstFile: path.join(run1, '001_000013_000001.dcm'), filePattern: '001_000013_{TR:06d}.dcm', firstIndex: 1 });
    expect(ms).toBeLessThan(2000);
    console.info(`series: new folder + first file reported ${(ms - 250).toFixed(0)} ms after the first file was written`);
    const id = await di.initScannerStream(s.dir, s.filePattern!, 0, false);
    expect(Number((await di.getImageData(id, s.firstIndex!)).get('InstanceNumber'))).toBeGreaterThan(0);
    expect(Number((await di.getImageData(id)).get('InstanceNumber'))).toBeGreaterThan(0);
    // two more runs: reported in the order their first files appeared
    fs.mkdirSync(path.join(S, 'run3'));
    fs.mkdirSync(path.join(S, 'run2'));
    await sleep(100);
    fs.writeFileSync(path.join(S, 'run2', 'a_0001.dcm'), 'x');
    await sleep(150);
    fs.writeFileSync(path.join(S, 'run3', 'b_0001.dcm'), 'x');
    expect((await di.nextSeries(3)).name).toBe('run2');
    expect((await di.nextSeries(3)).name).toBe('run3');
  });

  it('depth 2 (root/session/series, GE exam/series, a session folder made later), pattern and filePattern filter', async () => {
    await di.initSeriesWatch(S, { depth: 2, pattern: 's*', filePattern: '*.dcm' });
    fs.mkdirSync(path.join(S, 'e1234', 'localizer'), { recursive: true });
    fs.writeFileSync(path.join(S, 'e1234', 'localizer', 'i1.dcm'), 'x'); // name does not match 's*'
    fs.mkdirSync(path.join(S, 'e1234', 's5'));
    fs.writeFileSync(path.join(S, 'e1234', 's5', 'notes.IMA'), 'x'); // not *.dcm: not its first file
    await sleep(200);
    fs.writeFileSync(path.join(S, 'e1234', 's5', 'i0001.dcm'), 'x');
    const s = await di.nextSeries(3);
    expect(s).toMatchObject({ name: path.join('e1234', 's5'), firstFile: path.join(S, 'e1234', 's5', 'i0001.dcm') });
    expect(await fail(di.nextSeries(0.3))).toBeInstanceOf(TimeoutError);
  });

  it("existing: 'report' and exclude (how the SDK sets the watch up again after a runtime restart)", async () => {
    for (const d of ['a', 'b', 'c']) {
      fs.mkdirSync(path.join(S, d));
      fs.writeFileSync(path.join(S, d, `${d}_01.dcm`), 'x');
    }
    const ex = await di.initSeriesWatch(S, { existing: 'report', exclude: [path.join(S, 'b')] });
    expect(ex).toEqual(['a', 'c'].map((d) => path.join(S, d))); // the excluded one is no series of this watch
    const got = [(await di.nextSeries(2)).name, (await di.nextSeries(2)).name].sort();
    expect(got).toEqual(['a', 'c']);
  });

  it('a folder without a matching file is named when the wait times out; closing ends a pending wait', async () => {
    await di.initSeriesWatch(S);
    fs.mkdirSync(path.join(S, 'empty_run'));
    await sleep(200);
    const e = await fail(di.nextSeries(0.3));
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.message).toMatch(/no new series folder with a file in .*\(new folder without a matching file yet: empty_run\)/);
    const p = fail(di.nextSeries(30));
    await di.closeSeriesWatch();
    expect(await p).toBeInstanceOf(StateError);
    expect(await fail(di.nextSeries(1))).toBeInstanceOf(StateError);
  });

  it('options: timeout and signal; argument and option errors', async () => {
    await di.initSeriesWatch(S, { timeout: 5 });
    const t0 = performance.now();
    expect(await fail(di.nextSeries({ timeout: 0.2 }))).toBeInstanceOf(TimeoutError);
    expect(performance.now() - t0).toBeLessThan(1500);
    const c = new AbortController();
    const p = fail(di.nextSeries(30, { signal: c.signal }));
    setTimeout(() => c.abort(), 50);
    expect(await p).toBeInstanceOf(CancelledError);
    // not a session folder, not allowed, bad options
    expect(await fail(di.initSeriesWatch(path.join(S, 'nope')))).toBeInstanceOf(NotFoundError);
    expect((await fail(di.initSeriesWatch('/etc'))).message).toMatch(/not within list of allowed directories/);
    expect((await fail(di.initSeriesWatch(S, { depth: 9 }))).message).toMatch(/options\.depth must be an integer 1\.\.4/);
    expect((await fail(di.initSeriesWatch(S, { pattern: 'a/b' }))).message).toMatch(/options\.pattern must be a name pattern/);
    expect((await fail(di.initSeriesWatch(S, { glob: '*' } as never))).message).toMatch(/unknown option 'glob'/);
    expect(await fail(di.initSeriesWatch(S, 'run*' as never))).toBeInstanceOf(ValidationError);
    expect(await fail(new DataInterface({ allowedDirs: [S], allowedFileTypes: ['.dcm'] }).nextSeries(1))).toBeInstanceOf(StateError);
  });

  it('series folders stay out of chokidar: 2,000 files in a series folder do not slow the next report', async () => {
    await di.initSeriesWatch(S);
    const big = path.join(S, 'big');
    fs.mkdirSync(big);
    fs.writeFileSync(path.join(big, 'f_00000.dcm'), 'x');
    await di.nextSeries(3);
    for (let i = 1; i < 2000; i++) fs.writeFileSync(path.join(big, `f_${String(i).padStart(5, '0')}.dcm`), 'x');
    const t0 = performance.now();
    fs.mkdirSync(path.join(S, 'next'));
    fs.writeFileSync(path.join(S, 'next', 'n_1.dcm'), 'x');
    expect((await di.nextSeries(3)).name).toBe('next');
    expect(performance.now() - t0).toBeLessThan(2500);
  });

  it('the polling route (network shares) discovers series too, also one made right after the watch started', async () => {
    // chokidar's polling missed a folder made before its first stat of the parent (1 run in 3 under load)
    for (const [round, depth] of [[1, 1], [2, 1], [3, 1], [4, 2], [5, 2]] as const) {
      const polled = new DataInterface({ allowedDirs: [S], allowedFileTypes: ['.dcm'], pollIntervalMs: 100, watchRoute: 'polling' });
      try {
        const exam = path.join(S, `exam${round}`);
        if (depth === 2) fs.mkdirSync(exam);
        await polled.initSeriesWatch(S, { depth });
        const dir = depth === 2 ? path.join(exam, 'p') : path.join(S, `p${round}`);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'x_01.dcm'), 'x');
        expect((await polled.nextSeries(5)).dir, `round ${round}`).toBe(dir);
      } finally {
        await polled.close();
      }
    }
    expect(routeFor(S)).toBe('native');
  }, 40_000);
});
