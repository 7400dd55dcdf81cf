// One suite, two modes: every DataInterface method and helper behaves the same in-process
// (dataRemote: false) and through a real relay + runtime on loopback (dataRemote: true).
import fs from 'node:fs';
import path from 'node:path';
import * as dicom from '@rtfmri/dicom-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  downloadFilesFromCloud,
  downloadFilesFromList,
  downloadFolderFromCloud,
  uploadFilesFromList,
  uploadFilesToCloud,
  uploadFolderToCloud,
  measureClockSkew,
  getDicomRepetitionTime,
} from '../src/index.js';
import { setup, sleep, tmpDir, volume, writeVolume, type Mode, type Setup, failure } from './harness.js';

const hasAnonymize = typeof (dicom as { anonymize?: unknown }).anonymize === 'function';

/** Errors are compared by name and message (the classes differ until the runtime re-exports transport's). */

describe.each<Mode>(['local', 'remote'])('DataInterface contract (%s)', (mode) => {
  let A: string;
  let B: string;
  let outside: string;
  let s: Setup;

  beforeAll(async () => {
    A = tmpDir();
    B = tmpDir();
    outside = tmpDir();
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    s = await setup(mode, { allowedDirs: [A, B], allowedFileTypes: ['.txt', '.dcm', '.bin'], scannerClockSkew: 1.5 });
  });
  afterAll(async () => {
    await s?.close();
    for (const d of [A, B, outside]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('getFile: bytes exact, not found, a directory, outside, .. and relative refused', async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 255);
    fs.writeFileSync(path.join(A, 'big.bin'), bytes);
    expect(Buffer.compare(Buffer.from(await s.di.getFile(path.join(A, 'big.bin'))), Buffer.from(bytes))).toBe(0);
    const nf = await failure(s.di.getFile(path.join(A, 'missing.txt')));
    expect(nf.name).toBe('NotFoundError');
    expect(nf.message).toMatch(/not found/i);
    fs.mkdirSync(path.join(A, 'd.txt'), { recursive: true });
    const dir = await failure(s.di.getFile(path.join(A, 'd.txt')));
    expect(dir.name).toBe('ValidationError');
    for (const bad of [path.join(outside, 'secret.txt'), `${A}/../${path.basename(outside)}/secret.txt`]) {
      const e = await failure(s.di.getFile(bad));
      expect(e.name, bad).toBe('ValidationError');
      expect(e.message).toMatch(/not within list of allowed directories/);
    }
    expect((await failure(s.di.getFile('relative.txt'))).name).toBe('ValidationError');
  });

  it('getNewestFile: newest allowed regular file', async () => {
    const t = Date.now() / 1000;
    fs.writeFileSync(path.join(B, 'old.txt'), 'old');
    fs.utimesSync(path.join(B, 'old.txt'), t - 100, t - 100);
    fs.writeFileSync(path.join(B, 'new.txt'), 'new');
    fs.utimesSync(path.join(B, 'new.txt'), t - 10, t - 10);
    expect(new TextDecoder().decode(await s.di.getNewestFile(path.join(B, '*.txt')))).toBe('new');
  });

  it('putFile: string and bytes, creates folders, refuses outside and bad types', async () => {
    await s.di.putFile(path.join(A, 'sub/deeper/note.txt'), 'hello ünïcode');
    expect(fs.readFileSync(path.join(A, 'sub/deeper/note.txt'), 'utf8')).toBe('hello ünïcode');
    const data = new Uint8Array(70_000).fill(9);
    await s.di.putFile(path.join(A, 'data.bin'), data, true);
    expect(fs.readFileSync(path.join(A, 'data.bin')).equals(Buffer.from(data))).toBe(true);
    expect((await failure(s.di.putFile(path.join(outside, 'x.txt'), 'x'))).message).toMatch(/not within list of allowed directories/);
    expect((await failure(s.di.putFile(path.join(A, 'x.exe'), 'x'))).name).toBe('ValidationError');
    expect(fs.existsSync(path.join(A, 'x.exe'))).toBe(false);
  });

  it('listFiles / listDirs / getAllowedFileTypes', async () => {
    fs.mkdirSync(path.join(A, 'l/m'), { recursive: true });
    fs.writeFileSync(path.join(A, 'l/one.txt'), '1');
    fs.writeFileSync(path.join(A, 'l/m/two.txt'), '2');
    fs.writeFileSync(path.join(A, 'l/skip.exe'), 'x');
    fs.writeFileSync(path.join(A, 'l/.hidden.txt'), 'x');
    expect(await s.di.listFiles(path.join(A, 'l/**/*.txt'))).toEqual([path.join(A, 'l/m/two.txt'), path.join(A, 'l/one.txt')].sort());
    expect(await s.di.listFiles(path.join(A, 'l/*'))).toEqual([path.join(A, 'l/one.txt')]);
    expect(await s.di.listDirs(path.join(A, 'l/*'))).toEqual([path.join(A, 'l/m')]);
    expect((await s.di.getAllowedFileTypes()).sort()).toEqual(['.bin', '.dcm', '.txt']);
    expect((await failure(s.di.listFiles(path.join(outside, '*')))).name).toBe('ValidationError');
  });

  it('getClockSkew (rt-cloud formula, scannerClockSkew added) and ping', async () => {
    const now = Date.now() / 1000;
    const skew = await s.di.getClockSkew(now, 0);
    expect(skew).toBeGreaterThan(1.4);
    expect(skew).toBeLessThan(2.5);
    const t = await s.di.ping();
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(2);
    const m = await measureClockSkew(s.di, 3);
    expect(m.clockSkew).toBeGreaterThan(1.4);
    expect(m.clockSkew).toBeLessThan(2.5);
  });

  it('scanner stream: next index, seek, waits for a late file, timeouts, StreamID mismatch', async () => {
    const dir = path.join(A, 'scan1');
    fs.mkdirSync(dir);
    for (const i of [0, 1, 2, 5]) writeVolume(dir, i);
    const id = await s.di.initScannerStream(dir, 'vol_{TR:03d}.dcm', 100, false);
    const inst = async (p: Promise<dicom.DicomDataset>) => Number((await p).get('InstanceNumber'));
    expect(await inst(s.di.getImageData(id))).toBe(1);
    expect(await inst(s.di.getImageData(id))).toBe(2);
    expect(await inst(s.di.getImageData(id, 5))).toBe(6);
    expect(await inst(s.di.getImageData(id, 2))).toBe(3);
    // "next" after a seek continues after the seek
    setTimeout(() => writeVolume(dir, 3), 300);
    const ds = await s.di.getImageData(id, null, 10);
    expect(ds).toBeInstanceOf(dicom.DicomDataset);
    expect(Number(ds.get('InstanceNumber'))).toBe(4);
    expect(getDicomRepetitionTime(ds)).toBe(1.5);
    const to = await failure(s.di.getImageData(id, 9, 0.3));
    // The runtime decides the class (TimeoutError or NotFoundError); both modes must agree on the message.
    expect(['TimeoutError', 'NotFoundError']).toContain(to.name);
    expect(to.message).toMatch(/not found or corrupted/);
    expect((await failure(s.di.getImageData(id, null, 0))).name).toBe('ValidationError');
    expect((await failure(s.di.getImageData(9999))).message).toMatch(/StreamID mismatch/);
    await s.di.closeStream(id);
    expect((await failure(s.di.getImageData(id))).message).toMatch(/StreamID mismatch/);
  });

  it('a partially written file is never returned', async () => {
    const dir = path.join(A, 'scan2');
    fs.mkdirSync(dir);
    const bytes = volume(0);
    const file = path.join(dir, 'vol_000.dcm');
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const id = await s.di.initScannerStream(dir, 'vol_{TR:03d}.dcm', 0, false);
    setTimeout(() => fs.appendFileSync(file, bytes.subarray(Math.floor(bytes.length / 2))), 400);
    const ds = await s.di.getImageData(id, 0, 10);
    // The whole image (remote: anonymized by the runtime's PHI policy, so compared by pixel data, not length).
    expect(Buffer.compare(Buffer.from(ds.get('PixelData') as Uint8Array), Buffer.from(dicom.parseDicom(bytes).get('PixelData') as Uint8Array))).toBe(0);
  });

  it.runIf(hasAnonymize)('anonymizes by default', async () => {
    const dir = path.join(A, 'scan3');
    fs.mkdirSync(dir);
    writeVolume(dir, 0);
    const id = await s.di.initScannerStream(dir, 'vol_{TR:03d}.dcm', 0);
    const ds = await s.di.getImageData(id, 0, 5);
    expect(String(ds.get('PatientName') ?? '')).not.toContain('Doe');
    expect(ds.get('AcquisitionTime')).toBeTruthy();
  });

  it('many streams at once, each its own id', async () => {
    const dirs = [0, 1, 2].map((k) => path.join(B, `multi${k}`));
    for (const d of dirs) fs.mkdirSync(d);
    const ids = await Promise.all(dirs.map((d) => s.di.initScannerStream(d, 'vol_{TR:03d}.dcm', 0, false)));
    expect(new Set(ids).size).toBe(3);
    const pending = ids.map((id) => s.di.getImageData(id, 1, 10));
    await sleep(100);
    dirs.forEach((d) => writeVolume(d, 1));
    for (const ds of await Promise.all(pending)) expect(Number(ds.get('InstanceNumber'))).toBe(2);
  });

  it('initWatch / watchFile: in-place and renamed-in files', async () => {
    const dir = path.join(B, 'watch');
    fs.mkdirSync(dir);
    await s.di.initWatch(dir, '*.txt', 0);
    setTimeout(() => fs.writeFileSync(path.join(dir, 'a.txt'), 'in place'), 200);
    expect(new TextDecoder().decode(await s.di.watchFile(path.join(dir, 'a.txt'), 5))).toBe('in place');
    setTimeout(() => {
      fs.writeFileSync(path.join(dir, '.tmp'), 'renamed');
      fs.renameSync(path.join(dir, '.tmp'), path.join(dir, 'b.txt'));
    }, 200);
    expect(new TextDecoder().decode(await s.di.watchFile('b.txt', 5))).toBe('renamed');
    const e = await failure(s.di.watchFile('never.txt', 0.3));
    expect(e.name).toBe('TimeoutError');
  });

  it('wrong argument types are ValidationErrors', async () => {
    const di = s.di as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    expect((await failure(di.getFile!(123))).name).toBe('ValidationError');
    expect((await failure(di.initScannerStream!(A, 'no-placeholder.dcm', 0))).name).toBe('ValidationError');
    expect((await failure(di.getClockSkew!('now', 'x'))).name).toBe('ValidationError');
  });

  it('the six upload/download helpers', async () => {
    const src = path.join(A, 'up');
    fs.mkdirSync(path.join(src, 'inner'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'A');
    fs.writeFileSync(path.join(src, 'inner/b.txt'), 'B');
    const here = tmpDir('rtfmri-sdk-here-');
    try {
      await uploadFolderToCloud(s.di, src, path.join(here, 'f'));
      expect(fs.readFileSync(path.join(here, 'f/up/a.txt'), 'utf8')).toBe('A');
      expect(fs.readFileSync(path.join(here, 'f/up/inner/b.txt'), 'utf8')).toBe('B');
      await uploadFilesToCloud(s.di, path.join(src, '**/*.txt'), path.join(here, 'p'));
      expect(fs.readdirSync(path.join(here, 'p')).sort()).toEqual(['a.txt', 'b.txt']);
      await uploadFilesFromList(s.di, [path.join(src, 'inner/b.txt')], path.join(here, 'l'), src);
      expect(fs.readFileSync(path.join(here, 'l/inner/b.txt'), 'utf8')).toBe('B');

      fs.mkdirSync(path.join(here, 'down/x'), { recursive: true });
      fs.writeFileSync(path.join(here, 'down/c.txt'), 'C');
      fs.writeFileSync(path.join(here, 'down/x/d.txt'), 'D');
      await downloadFolderFromCloud(s.di, path.join(here, 'down'), path.join(B, 'dl'));
      expect(fs.readFileSync(path.join(B, 'dl/down/x/d.txt'), 'utf8')).toBe('D');
      await downloadFilesFromCloud(s.di, path.join(here, 'down/*.txt'), path.join(B, 'dp'), true);
      expect(fs.readFileSync(path.join(B, 'dp/c.txt'), 'utf8')).toBe('C');
      expect(fs.existsSync(path.join(here, 'down/c.txt'))).toBe(false);
      expect(fs.existsSync(path.join(here, 'down/x'))).toBe(true);
      await downloadFilesFromList(s.di, [path.join(here, 'down/x/d.txt')], path.join(B, 'dlist'), path.join(here, 'down'));
      expect(fs.readFileSync(path.join(B, 'dlist/x/d.txt'), 'utf8')).toBe('D');
    } finally {
      fs.rmSync(here, { recursive: true, force: true });
    }
  });
});
