// Issue 10, "Check-then-use": a local process swaps a folder inside the allowed dir for a symlink
// to an outside folder in a tight loop while the runtime reads and writes through that folder. No
// read may return outside content and no write (file or folder) may land outside.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { DataInterface, ValidationError } from '../src/index.js';
import { rmrf, sleep, tmpDir } from './util.js';

const SMALL = { tile: 16, slices: 4, seriesHeaderBytes: 2000, volumes: 20 };
const RUN_MS = 1500;

/** A child process that swaps `dir` (a real folder) with a symlink to `outside`, as fast as it can. */
function startSwapper(dir: string, outside: string): ChildProcess {
  const script = `
    const fs = require('node:fs');
    const [dir, outside] = process.argv.slice(1);
    const real = dir + '.real', link = dir + '.link';
    try { fs.unlinkSync(link); } catch {}
    fs.symlinkSync(outside, link);
    for (;;) {
      try { fs.renameSync(dir, real); } catch {}
      try { fs.renameSync(link, dir); } catch {}
      try { fs.renameSync(dir, link); } catch {}
      try { fs.renameSync(real, dir); } catch {}
    }`;
  return spawn(process.execPath, ['-e', script, dir, outside], { stdio: 'ignore' });
}

async function stopSwapper(child: ChildProcess, dir: string): Promise<void> {
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  // put the real folder back
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (st?.isSymbolicLink()) fs.unlinkSync(dir);
  if (!fs.existsSync(dir) && fs.existsSync(dir + '.real')) fs.renameSync(dir + '.real', dir);
  fs.rmSync(dir + '.link', { force: true });
}

function listTree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('check-then-use: a folder swapped for a symlink to outside during reads and writes', () => {
  let root: string;
  let A: string;
  let sub: string;
  let outside: string;
  let di: DataInterface;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    root = tmpDir();
    A = path.join(root, 'A');
    sub = path.join(A, 'sub');
    outside = path.join(root, 'outside');
    fs.mkdirSync(sub, { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(sub, 'f.txt'), 'inside');
    fs.writeFileSync(path.join(outside, 'f.txt'), 'OUTSIDE-SECRET');
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.txt', '.dcm'], pollIntervalMs: 20 });
  });
  afterEach(async () => {
    if (child) await stopSwapper(child, sub);
    child = undefined;
    await di.close();
    rmrf(root);
  });

  it('getFile and getNewestFile never return outside content', async () => {
    child = startSwapper(sub, outside);
    await sleep(50);
    let inside = 0;
    let leaked = 0;
    let refused = 0;
    const until = performance.now() + RUN_MS;
    for (let i = 0; performance.now() < until; i++) {
      try {
        const p = i % 2 ? di.getNewestFile(path.join(sub, '*.txt')) : di.getFile(path.join(sub, 'f.txt'));
        const text = Buffer.from(await p).toString();
        if (text === 'inside') inside++;
        else leaked++;
      } catch (e) {
        expect((e as Error).name, String(e)).toMatch(/ValidationError|NotFoundError/);
        refused++;
      }
    }
    console.info(`getFile/getNewestFile during swaps: ${inside} inside, ${refused} refused, ${leaked} outside`);
    expect(leaked, `${leaked} reads returned outside content (${inside} inside, ${refused} refused)`).toBe(0);
    expect(inside).toBeGreaterThan(0);
  }, 20_000);

  it('putFile never writes a file or creates a folder outside', async () => {
    child = startSwapper(sub, outside);
    await sleep(50);
    let written = 0;
    let refused = 0;
    const until = performance.now() + RUN_MS;
    for (let i = 0; performance.now() < until; i++) {
      try {
        await di.putFile(i % 2 ? path.join(sub, `w${i}.txt`) : path.join(sub, `d${i}`, `w${i}.txt`), `write ${i}`);
        written++;
      } catch (e) {
        expect((e as Error).name, String(e)).toMatch(/ValidationError|NotFoundError|StateError/);
        refused++;
      }
    }
    await stopSwapper(child, sub);
    child = undefined;
    console.info(`putFile during swaps: ${written} written, ${refused} refused, outside holds ${listTree(outside).length - 1} new entries`);
    expect(listTree(outside), 'entries written outside').toEqual(['f.txt']);
    expect(written).toBeGreaterThan(0);
    // no temp files left anywhere
    expect(listTree(A).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  }, 20_000);

  it('watchFile and stream reads never return outside content', async () => {
    fs.writeFileSync(path.join(sub, 'x_0.dcm'), syntheticEpiVolume(0, SMALL)); // InstanceNumber 1
    fs.writeFileSync(path.join(outside, 'x_0.dcm'), syntheticEpiVolume(5, SMALL)); // InstanceNumber 6
    await di.initWatch(sub, '*.txt', 0);
    const id = await di.initScannerStream(sub, 'x_{TR}.dcm', 0, false);
    child = startSwapper(sub, outside);
    await sleep(50);
    let leaked = 0;
    let ok = 0;
    let refused = 0;
    const until = performance.now() + RUN_MS;
    for (let i = 0; performance.now() < until; i++) {
      try {
        if (i % 2) {
          if (Buffer.from(await di.watchFile('f.txt', 1)).toString() !== 'inside') leaked++;
          else ok++;
        } else if (Number((await di.getImageData(id, 0, 1)).get('InstanceNumber')) !== 1) leaked++;
        else ok++;
      } catch (e) {
        expect((e as Error).name, String(e)).toMatch(/ValidationError|NotFoundError|TimeoutError/);
        refused++;
      }
    }
    console.info(`watchFile/getImageData during swaps: ${ok} inside, ${refused} refused or timed out, ${leaked} outside`);
    expect(leaked, `${leaked} reads returned outside content (${ok} inside)`).toBe(0);
    expect(ok).toBeGreaterThan(0);
  }, 20_000);
});

describe('symlinks to a disallowed file type', () => {
  let A: string;
  let di: DataInterface;
  beforeEach(() => {
    A = tmpDir();
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.txt', '.dcm'] });
  });
  afterEach(async () => {
    await di.close();
    rmrf(A);
  });

  it('are refused through watchFile, streams and getFile (the type rule applies to the target)', async () => {
    fs.writeFileSync(path.join(A, 'id_rsa.key'), 'PRIVATE KEY');
    fs.writeFileSync(path.join(A, 'scan.bin'), syntheticEpiVolume(0, SMALL));
    fs.symlinkSync(path.join(A, 'id_rsa.key'), path.join(A, 'l.txt'));
    fs.symlinkSync(path.join(A, 'scan.bin'), path.join(A, 'l_0.dcm'));
    await di.initWatch(A, '*.txt', 0);
    const w = await di.watchFile('l.txt', 1).catch((e) => e);
    expect(w).toBeInstanceOf(ValidationError);
    expect(String(w.message)).toMatch(/File type \.key not in list/);
    const id = await di.initScannerStream(A, 'l_{TR}.dcm', 0, false);
    const s = await di.getImageData(id, 0, 1).catch((e) => e);
    expect(s).toBeInstanceOf(ValidationError);
    expect(String(s.message)).toMatch(/File type \.bin not in list/);
    await expect(di.getFile(path.join(A, 'l.txt'))).rejects.toThrow(/File type \.key not in list/);
  });
});
