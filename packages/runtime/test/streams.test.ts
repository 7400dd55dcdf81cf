import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataInterface, NotFoundError, StateError, TimeoutError, ValidationError, compileFilePattern } from '../src/index.js';
import { rmrf, sampleDir, sleep, tmpDir } from './util.js';
import { mosaic, hasAnonymize, writeChunked, writeRenamedIn } from './data.js';

const SAMPLE = sampleDir();
/**
 * These tests compare delivered bytes with the files (streams opened with anonymize=false): the
 * operator allows raw DICOM, so they mean the same when the SDK's suite runs them through a relay
 * (phi.test.ts covers the policy itself). The raw-sent lines are not wanted here.
 */
const RAW = { phi: 'allow-raw', log: () => {} } as const;

describe('file patterns', () => {
  it('{TR}, {TR:03d}, {TR:06d}', () => {
    expect(compileFilePattern('s_{TR}.dcm')(7)).toBe('s_7.dcm');
    expect(compileFilePattern('s_{TR:03d}.dcm')(7)).toBe('s_007.dcm');
    expect(compileFilePattern('001_000013_{TR:06d}.dcm')(12)).toBe('001_000013_000012.dcm');
    expect(compileFilePattern('s_{TR:03d}.dcm')(1234)).toBe('s_1234.dcm');
  });
  it('refuses patterns without {TR or with other placeholders', () => {
    for (const bad of ['scan.dcm', 's_{TRX}.dcm', 's_{x}.dcm', 's_{TR}_{run}.dcm', 's_{TR:03x}.dcm', 's_{TR.dcm', 'sub/s_{TR}.dcm', '']) {
      expect(() => compileFilePattern(bad), bad).toThrow(ValidationError);
    }
  });
});

describe('scanner streams', () => {
  let A: string;
  let di: DataInterface;
  beforeEach(() => {
    A = tmpDir();
    di = new DataInterface({ allowedDirs: [A, ...(SAMPLE ? [SAMPLE] : [])], allowedFileTypes: ['.dcm'], pollIntervalMs: 250, ...RAW });
  });
  afterEach(async () => {
    await di.close();
    rmrf(A);
  });

  it.skipIf(!SAMPLE)('real data: volumes 0..9 in order, seeks 5, 2, 7, next gives 8; the truncated file is never returned', async () => {
    const id = await di.initScannerStream(SAMPLE!, '001_000013_{TR:06d}.dcm', 300_000, false);
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push(Number((await di.getImageData(id)).get('InstanceNumber')));
    // volume 0 is a copy of volume 10 in the sample
    expect(got).toEqual([10, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Number((await di.getImageData(id, 5)).get('InstanceNumber'))).toBe(5);
    expect(Number((await di.getImageData(id, 2)).get('InstanceNumber'))).toBe(2);
    expect(Number((await di.getImageData(id, 7)).get('InstanceNumber'))).toBe(7);
    expect(Number((await di.getImageData(id)).get('InstanceNumber'))).toBe(8);
    // the truncated copy of volume 5, under a stream name: waited on, then "not found or corrupted"
    fs.copyFileSync(path.join(SAMPLE!, 'trunc_001_000013_000005.dcm'), path.join(A, 'run_005.dcm'));
    const s2 = await di.initScannerStream(A, 'run_{TR:03d}.dcm', 0, false);
    const err = await di.getImageData(s2, 5, 0.6).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toMatch(/not found or corrupted/);
    expect(di.streamState(s2)).toBe('timedOut');
  });

  it('waits for a file written in place in chunks over hundreds of ms; never returns it early', async () => {
    const bytes = await mosaic(3);
    const id = await di.initScannerStream(A, 'scan_{TR:03d}.dcm', 0, false);
    const pending = di.getImageData(id, 3, 10).then((ds) => ({ ds, at: performance.now() }));
    const doneAt = await writeChunked(path.join(A, 'scan_003.dcm'), bytes, 6, 80);
    const { ds, at } = await pending;
    expect(at).toBeGreaterThanOrEqual(doneAt.lastWriteStart);
    expect(ds.toBytes().length).toBeGreaterThan(0);
    expect(Number(ds.get('InstanceNumber'))).toBe(Number((await import('@rtfmri/dicom-wasm')).parseDicom(bytes).get('InstanceNumber')));
  });

  it('waits for a file written to a temp name and renamed in', async () => {
    const bytes = await mosaic(4);
    const id = await di.initScannerStream(A, 'scan_{TR:03d}.dcm', 0, false);
    const pending = di.getImageData(id, 4, 10).then((ds) => ({ ds, at: performance.now() }));
    const renamedAt = await writeRenamedIn(path.join(A, 'scan_004.dcm'), bytes, 5, 60);
    const { ds, at } = await pending;
    expect(at).toBeGreaterThanOrEqual(renamedAt);
    expect(ds.has('PixelData')).toBe(true);
  });

  it('no index = last returned + 1 from 0; the stream follows files as they arrive', async () => {
    const id = await di.initScannerStream(A, 'f{TR}.dcm', 0, false);
    const writer = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(50);
        await writeRenamedIn(path.join(A, `f${i}.dcm`), await mosaic(i), 1, 0);
      }
    })();
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) seen.push(Number((await di.getImageData(id)).get('InstanceNumber')));
    await writer;
    const expected = await Promise.all([0, 1, 2].map(async (i) => Number((await import('@rtfmri/dicom-wasm')).parseDicom(await mosaic(i)).get('InstanceNumber'))));
    expect(seen).toEqual(expected);
  });

  it('minFileSize is a real gate', async () => {
    const bytes = await mosaic(0);
    fs.writeFileSync(path.join(A, 'm_0.dcm'), bytes);
    const big = await di.initScannerStream(A, 'm_{TR}.dcm', bytes.length + 1, false);
    const err = await di.getImageData(big, 0, 0.4).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(di.streamState(big)).toBe('timedOut');
    const exact = await di.initScannerStream(A, 'm_{TR}.dcm', bytes.length, false);
    expect((await di.getImageData(exact, 0, 1)).toBytes().length).toBeGreaterThan(0);
  });

  it('a missing file fails with "not found or corrupted" after the timeout', async () => {
    const id = await di.initScannerStream(A, 'none_{TR}.dcm', 0, false);
    const t0 = performance.now();
    const err = await di.getImageData(id, 0, 0.5).catch((e) => e);
    const waited = performance.now() - t0;
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toMatch(/not found or corrupted/);
    expect(waited).toBeGreaterThanOrEqual(495);
    expect(waited).toBeLessThan(900); // spec: +-100 ms; slack for a loaded CI machine
    // a failed request does not advance the stream
    await writeRenamedIn(path.join(A, 'none_0.dcm'), await mosaic(0), 1, 0);
    expect((await di.getImageData(id)).toBytes().length).toBeGreaterThan(0);
  });

  it('a complete-length but corrupt file is never returned', async () => {
    const bytes = await mosaic(0);
    const bad = bytes.slice();
    bad.fill(0x41, 0, 132); // no preamble/DICM, garbage header
    fs.writeFileSync(path.join(A, 'c_0.dcm'), bad);
    const id = await di.initScannerStream(A, 'c_{TR}.dcm', 0, false);
    await expect(di.getImageData(id, 0, 0.4)).rejects.toThrow(/not found or corrupted/);
  });

  it('a stream file that is a symlink to outside the allowed dirs is refused; one to inside is followed', async () => {
    const outside = tmpDir();
    try {
      fs.writeFileSync(path.join(outside, 'real.dcm'), await mosaic(0));
      fs.symlinkSync(path.join(outside, 'real.dcm'), path.join(A, 'l_0.dcm'));
      fs.writeFileSync(path.join(A, 'inside.dcm'), await mosaic(1));
      fs.symlinkSync(path.join(A, 'inside.dcm'), path.join(A, 'l_1.dcm'));
      const id = await di.initScannerStream(A, 'l_{TR}.dcm', 0, false);
      const err = await di.getImageData(id, 0, 2).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toMatch(/not within list of allowed directories/);
      expect((await di.getImageData(id, 1, 2)).toBytes().length).toBe((await mosaic(1)).length);
      await di.initWatch(A, '*.dcm', 0);
      await expect(di.watchFile('l_0.dcm', 2)).rejects.toThrow(/not within list of allowed directories/);
    } finally {
      rmrf(outside);
    }
  });

  it('argument errors: timeout <= 0, bad index, unknown or closed id', async () => {
    const id = await di.initScannerStream(A, 'a_{TR}.dcm', 0, false);
    await expect(di.getImageData(id, 0, 0)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.getImageData(id, 0, -1)).rejects.toThrow(/timeout/);
    await expect(di.getImageData(id, -1)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.getImageData(id, 1.5)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.getImageData(999)).rejects.toThrow(/StreamID mismatch/);
    await expect(di.getImageData(999)).rejects.toBeInstanceOf(StateError);
    const pending = di.getImageData(id, 0, 5).catch((e) => e);
    await sleep(20);
    await di.closeStream(id);
    expect(String(await pending)).toMatch(/StreamID mismatch/);
    await expect(di.getImageData(id)).rejects.toThrow(/StreamID mismatch/);
    await expect(di.initScannerStream(A, 'a_{x}.dcm', 0)).rejects.toBeInstanceOf(ValidationError);
    await expect(di.initScannerStream(A, 'a_{TR}.txt', 0)).rejects.toThrow(/File type/);
    await expect(di.initScannerStream(A, 'a_{TR}.dcm', -1)).rejects.toBeInstanceOf(ValidationError);
  });

  it('many streams at once, each its own id and actor', async () => {
    const n = 8;
    const dirs = Array.from({ length: n }, (_, i) => path.join(A, `d${i % 4}`));
    for (const d of dirs) fs.mkdirSync(d, { recursive: true });
    const ids = await Promise.all(dirs.map((d, i) => di.initScannerStream(d, `s${i}_{TR:03d}.dcm`, 0, false)));
    expect(new Set(ids).size).toBe(n);
    const waits = ids.map((id) => di.getImageData(id, 1, 10));
    const bytes = await mosaic(1);
    await Promise.all(dirs.map((d, i) => (i % 2 ? writeChunked(path.join(d, `s${i}_001.dcm`), bytes, 3, 30) : writeRenamedIn(path.join(d, `s${i}_001.dcm`), bytes, 3, 30))));
    const got = await Promise.all(waits);
    expect(got.length).toBe(n);
    for (const ds of got) expect(Buffer.from(ds.toBytes()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('demoStep paces deliveries; the first is not delayed', async () => {
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(A, `p${i}.dcm`), await mosaic(i));
    const id = await di.initScannerStream(A, 'p{TR}.dcm', 0, false, 0.3);
    const t0 = performance.now();
    await di.getImageData(id);
    const t1 = performance.now();
    await di.getImageData(id);
    const t2 = performance.now();
    await di.getImageData(id);
    const t3 = performance.now();
    expect(t1 - t0).toBeLessThan(250);
    expect(t2 - t1).toBeGreaterThanOrEqual(280);
    expect(t3 - t2).toBeGreaterThanOrEqual(280);
  });

  it('a stream on a folder that does not exist yet sees it appear', async () => {
    const later = path.join(A, 'later', 'run1');
    const id = await di.initScannerStream(later, 'x_{TR}.dcm', 0, false);
    const pending = di.getImageData(id, 0, 10);
    await sleep(100);
    fs.mkdirSync(later, { recursive: true });
    await writeRenamedIn(path.join(later, 'x_0.dcm'), await mosaic(0), 2, 20);
    expect((await pending).toBytes().length).toBeGreaterThan(0);
  });

  it('the Piscina pool route delivers the same dataset', async () => {
    const pooled = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm'], work: 'pool', ...RAW });
    try {
      const bytes = await mosaic(2);
      const id = await pooled.initScannerStream(A, 'q{TR}.dcm', 0, false);
      const pending = pooled.getImageData(id, 2, 10);
      await writeChunked(path.join(A, 'q2.dcm'), bytes, 4, 40);
      const ds = await pending;
      expect(Buffer.from(ds.toBytes()).equals(Buffer.from(bytes))).toBe(true);
      expect(pooled.routed.pool).toBeGreaterThan(0);
      expect(pooled.routed.inline).toBe(0);
    } finally {
      await pooled.close();
    }
  });

  it('auto route: a big file (> 8 MiB) is checked in the pool, a normal one inline', async () => {
    const synth = (await import('@rtfmri/dicom-wasm/synthetic')).syntheticEpiVolume;
    const big = synth(0, { tile: 400, seriesHeaderBytes: 1000 });
    expect(big.length).toBeGreaterThan(8 * 1024 * 1024);
    const auto = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm'], ...RAW });
    try {
      const id = await auto.initScannerStream(A, 'big{TR}.dcm', 0, false);
      fs.writeFileSync(path.join(A, 'big0.dcm'), await mosaic(0));
      fs.writeFileSync(path.join(A, 'big1.dcm'), big);
      await auto.getImageData(id);
      expect(auto.routed).toEqual({ inline: 1, pool: 0 });
      const ds = await auto.getImageData(id);
      expect(ds.toBytes().length).toBe(big.length);
      expect(auto.routed.pool).toBe(1);
    } finally {
      await auto.close();
    }
  });

  it('the polling route (for mounted shares) sees in-place and renamed-in files', async () => {
    const polled = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm'], watchRoute: 'polling', pollIntervalMs: 5000 });
    try {
      const id = await polled.initScannerStream(A, 'r{TR}.dcm', 0, false);
      const p0 = polled.getImageData(id, 0, 8);
      await sleep(150);
      await writeChunked(path.join(A, 'r0.dcm'), await mosaic(0), 3, 50);
      expect((await p0).toBytes().length).toBeGreaterThan(0);
      const p1 = polled.getImageData(id, 1, 8);
      await sleep(150);
      await writeRenamedIn(path.join(A, 'r1.dcm'), await mosaic(1), 3, 50);
      expect((await p1).toBytes().length).toBeGreaterThan(0);
    } finally {
      await polled.close();
    }
  });

  it.skipIf(!hasAnonymize())('anonymize (default true) blanks identifying attributes and keeps timing', async () => {
    const bytes = await mosaic(0);
    fs.writeFileSync(path.join(A, 'anon_0.dcm'), bytes);
    const id = await di.initScannerStream(A, 'anon_{TR}.dcm', 0);
    const ds = await di.getImageData(id);
    const raw = (await import('@rtfmri/dicom-wasm')).parseDicom(bytes);
    expect(String(raw.get('PatientName') ?? '')).not.toBe('');
    expect(String(ds.get('PatientName') ?? '')).toBe('');
    expect(ds.get('AcquisitionTime')).toEqual(raw.get('AcquisitionTime'));
  });

  it.skipIf(!hasAnonymize())('UIDs are re-mapped consistently across streams and across the inline and pool routes', async () => {
    fs.writeFileSync(path.join(A, 'u_0.dcm'), await mosaic(0));
    fs.writeFileSync(path.join(A, 'v_0.dcm'), await mosaic(1));
    const raw = (await import('@rtfmri/dicom-wasm')).parseDicom(await mosaic(0));
    const inline = await di.getImageData(await di.initScannerStream(A, 'u_{TR}.dcm', 0), 0);
    const other = await di.getImageData(await di.initScannerStream(A, 'v_{TR}.dcm', 0), 0);
    const uid = String(inline.get('StudyInstanceUID'));
    expect(uid).not.toBe(String(raw.get('StudyInstanceUID')));
    expect(String(other.get('StudyInstanceUID'))).toBe(uid);
    // same DataInterface (session), pool route: same mapping
    const pooled = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm'], work: 'pool' });
    try {
      const p = await pooled.getImageData(await pooled.initScannerStream(A, 'u_{TR}.dcm', 0), 0);
      expect(String(p.get('PatientName') ?? '')).toBe('');
      expect(String(p.get('StudyInstanceUID'))).not.toBe(String(raw.get('StudyInstanceUID')));
      expect(pooled.routed.pool).toBeGreaterThan(0);
    } finally {
      await pooled.close();
    }
  });
});

describe('watches', () => {
  let A: string;
  let B: string;
  let di: DataInterface;
  beforeEach(() => {
    A = tmpDir();
    B = tmpDir();
    di = new DataInterface({ allowedDirs: [A, B], allowedFileTypes: ['.dcm', '.txt'], ...RAW });
  });
  afterEach(async () => {
    await di.close();
    rmrf(A);
    rmrf(B);
  });

  it('watchFile before initWatch is a StateError', async () => {
    await expect(di.watchFile('x.dcm')).rejects.toBeInstanceOf(StateError);
  });

  it('finds the watch by folder; a bare name uses the most recent watch', async () => {
    await di.initWatch(A, '*.dcm', 0);
    await di.initWatch(B, '*.txt', 0);
    const viaA = di.watchFile(path.join(A, 'w.dcm'), 5);
    const bare = di.watchFile('note.txt', 5); // most recent watch: B
    await sleep(30);
    await writeChunked(path.join(A, 'w.dcm'), await mosaic(0), 4, 40);
    fs.writeFileSync(path.join(B, 'note.txt'), 'hello');
    expect((await viaA).length).toBe((await mosaic(0)).length);
    expect(Buffer.from(await bare).toString()).toBe('hello');
    const other = tmpDir();
    await expect(di.watchFile(path.join(other, 'x.dcm'))).rejects.toThrow(/allowed directories/);
    rmrf(other);
    fs.mkdirSync(path.join(A, 'sub'));
    await expect(di.watchFile(path.join(A, 'sub', 'x.dcm'))).rejects.toBeInstanceOf(StateError);
  });

  it('extension-less names: a DICOM file (sniffed) only when whole, other files as they are', async () => {
    const any = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['*'], ...RAW });
    try {
      await any.initWatch(A, '*', 0);
      const bytes = await mosaic(0);
      const p = any.watchFile('MR.1.2.3', 10);
      await sleep(20);
      await writeChunked(path.join(A, 'MR.1.2.3'), bytes, 5, 40);
      expect((await p).length).toBe(bytes.length);
      fs.writeFileSync(path.join(A, 'NOTES'), 'plain text, not DICOM, longer than a preamble: '.repeat(4));
      expect(Buffer.from(await any.watchFile('NOTES', 2)).toString()).toMatch(/^plain text/);
    } finally {
      await any.close();
    }
  });

  it('times out with TimeoutError; minFileSize gates non-DICOM files', async () => {
    await di.initWatch(A, '*.txt', 10);
    fs.writeFileSync(path.join(A, 'small.txt'), 'tiny');
    const err = await di.watchFile('small.txt', 0.3).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toMatch(/Timeout/);
    const p = di.watchFile('small.txt', 5);
    await sleep(30);
    fs.appendFileSync(path.join(A, 'small.txt'), ' but now bigger');
    expect(Buffer.from(await p).toString()).toBe('tiny but now bigger');
  });
});
