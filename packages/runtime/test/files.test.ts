import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataInterface, NotFoundError, ValidationError, DATA_INTERFACE_METHODS } from '../src/index.js';
import { rmrf, tmpDir } from './util.js';

describe('file operations', () => {
  let A: string;
  let di: DataInterface;
  beforeEach(() => {
    A = tmpDir();
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.txt', '.dcm', '.bin'], scannerClockSkew: 1.5 });
  });
  afterEach(async () => {
    await di.close();
    rmrf(A);
  });

  it('getFile: bytes, not found, is a directory', async () => {
    fs.writeFileSync(path.join(A, 'a.bin'), Buffer.from([0, 1, 2, 255]));
    expect([...(await di.getFile(path.join(A, 'a.bin')))]).toEqual([0, 1, 2, 255]);
    const nf = await di.getFile(path.join(A, 'missing.txt')).catch((e) => e);
    expect(nf).toBeInstanceOf(NotFoundError);
    expect(nf.message).toMatch(/not found/i);
    fs.mkdirSync(path.join(A, 'd.txt'));
    const isDir = await di.getFile(path.join(A, 'd.txt')).catch((e) => e);
    expect(isDir).toBeInstanceOf(ValidationError);
    expect(isDir.message).toMatch(/is a directory/);
  });

  it('getNewestFile: newest regular file of an allowed type', async () => {
    const t = Date.now() / 1000;
    const put = (name: string, data: string, age: number) => {
      fs.writeFileSync(path.join(A, name), data);
      fs.utimesSync(path.join(A, name), t - age, t - age);
    };
    put('old.txt', 'old', 100);
    put('mid.txt', 'mid', 50);
    put('newer.exe', 'disallowed', 1); // newest but a disallowed type: never wins
    fs.mkdirSync(path.join(A, 'newdir.txt')); // a folder named like a file: never wins
    put('.hidden.txt', 'dot', 0);
    expect(Buffer.from(await di.getNewestFile(path.join(A, '*'))).toString()).toBe('mid');
    expect(Buffer.from(await di.getNewestFile(path.join(A, 'o*.txt'))).toString()).toBe('old');
    await expect(di.getNewestFile(path.join(A, 'zzz*.txt'))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('putFile: string or bytes, creates folders, atomic, overwrites', async () => {
    await di.putFile(path.join(A, 'x', 'y', 'z.txt'), 'héllo');
    expect(fs.readFileSync(path.join(A, 'x', 'y', 'z.txt'), 'utf8')).toBe('héllo');
    await di.putFile(path.join(A, 'b.bin'), new Uint8Array([9, 8, 7]), true);
    expect([...fs.readFileSync(path.join(A, 'b.bin'))]).toEqual([9, 8, 7]);
    await di.putFile(path.join(A, 'b.bin'), new Uint8Array([1]));
    expect([...fs.readFileSync(path.join(A, 'b.bin'))]).toEqual([1]);
    // no temp files left behind
    expect(fs.readdirSync(A).sort()).toEqual(['b.bin', 'x']);
  });

  it('putFile: an error leaves no file (target is a directory; parent is a file)', async () => {
    fs.mkdirSync(path.join(A, 'taken.txt'));
    await expect(di.putFile(path.join(A, 'taken.txt'), 'x')).rejects.toBeInstanceOf(ValidationError);
    expect(fs.readdirSync(path.join(A, 'taken.txt'))).toEqual([]);
    expect(fs.readdirSync(A)).toEqual(['taken.txt']);
    fs.writeFileSync(path.join(A, 'file.txt'), 'f');
    await expect(di.putFile(path.join(A, 'file.txt', 'under.txt'), 'x')).rejects.toThrow();
    expect(fs.readdirSync(A).sort()).toEqual(['file.txt', 'taken.txt']);
    await expect(di.putFile(path.join(A, 'n.txt'), 42 as never)).rejects.toBeInstanceOf(ValidationError);
    expect(fs.existsSync(path.join(A, 'n.txt'))).toBe(false);
  });

  it('listFiles: glob with **, sorted absolute paths, no dirs, no disallowed types, no dotfiles', async () => {
    for (const f of ['b.txt', 'a.txt', 'c.exe', '.dot.txt', 's/x.dcm', 's/t/y.txt', 's/.h/z.txt', 'dir.txt/k.bin']) {
      fs.mkdirSync(path.dirname(path.join(A, f)), { recursive: true });
      fs.writeFileSync(path.join(A, f), f);
    }
    expect(await di.listFiles(path.join(A, '*'))).toEqual([path.join(A, 'a.txt'), path.join(A, 'b.txt')]);
    expect(await di.listFiles(path.join(A, '**'))).toEqual(
      ['a.txt', 'b.txt', 'dir.txt/k.bin', 's/t/y.txt', 's/x.dcm'].map((f) => path.join(A, f)));
    expect(await di.listFiles(path.join(A, '**', '*.txt'))).toEqual(
      ['a.txt', 'b.txt', 's/t/y.txt'].map((f) => path.join(A, f)));
    expect(await di.listFiles(path.join(A, 's', '*.dcm'))).toEqual([path.join(A, 's', 'x.dcm')]);
    expect(await di.listFiles(path.join(A, '[ab].txt'))).toEqual([path.join(A, 'a.txt'), path.join(A, 'b.txt')]);
    expect(await di.listFiles(path.join(A, 'a.txt'))).toEqual([path.join(A, 'a.txt')]);
    await expect(di.listFiles(path.join(A, '*.exe'))).rejects.toBeInstanceOf(ValidationError);
    await expect(di.listFiles('relative/*.txt')).rejects.toBeInstanceOf(ValidationError);
    expect(await di.listDirs(path.join(A, '*'))).toEqual([path.join(A, 'dir.txt'), path.join(A, 's')]);
    expect(await di.listDirs(path.join(A, 's', '*'))).toEqual([path.join(A, 's', 't')]);
  });

  it("getClockSkew uses rt-cloud's formula; ping returns epoch seconds", async () => {
    const now = Date.now() / 1000;
    const skew = await di.getClockSkew(now - 10, 0.2); // caller 10 s behind, 0.2 s RTT
    // now - (caller + rtt/2) + scannerClockSkew = 10 - 0.1 + 1.5
    expect(skew).toBeGreaterThan(11.35);
    expect(skew).toBeLessThan(11.5);
    const p = await di.ping();
    expect(Math.abs(p - Date.now() / 1000)).toBeLessThan(1);
  });

  it('lists its remotely callable methods, all of them real', () => {
    for (const m of DATA_INTERFACE_METHODS) expect(typeof (di as unknown as Record<string, unknown>)[m]).toBe('function');
    expect(DATA_INTERFACE_METHODS).not.toContain('close');
  });

  it('refuses dataRemote: true and calls after close', async () => {
    expect(() => new DataInterface({ dataRemote: true })).toThrow(ValidationError);
    await di.close();
    await expect(di.getFile(path.join(A, 'a.txt'))).rejects.toThrow(/closed/);
  });
});
