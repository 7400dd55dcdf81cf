import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DataInterface, downloadFilesFromCloud, downloadFilesFromList, downloadFolderFromCloud, uploadFilesFromList,
  uploadFilesToCloud, uploadFolderToCloud, type TransferProgress,
} from '../src/index.js';
import { rmrf, tmpDir } from './util.js';

function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

describe('upload/download helpers', () => {
  let remote: string; // the control room's allowed dir
  let local: string; // "this machine"
  let di: DataInterface;
  beforeEach(() => {
    remote = tmpDir();
    local = tmpDir();
    di = new DataInterface({ allowedDirs: [remote], allowedFileTypes: ['.txt', '.dcm'] });
    for (const f of ['run1/a.dcm', 'run1/b.txt', 'run1/sub/c.dcm', 'run1/skip.exe', 'other/d.dcm']) {
      fs.mkdirSync(path.dirname(path.join(remote, f)), { recursive: true });
      fs.writeFileSync(path.join(remote, f), f);
    }
  });
  afterEach(async () => {
    await di.close();
    rmrf(remote);
    rmrf(local);
  });

  it('uploadFolderToCloud keeps the last path component, with progress', async () => {
    const seen: TransferProgress[] = [];
    await uploadFolderToCloud(di, path.join(remote, 'run1') + '/', path.join(local, 'out'), (p) => seen.push(p));
    expect(tree(path.join(local, 'out'))).toEqual(['run1/a.dcm', 'run1/b.txt', 'run1/sub/c.dcm']);
    expect(fs.readFileSync(path.join(local, 'out/run1/sub/c.dcm'), 'utf8')).toBe('run1/sub/c.dcm');
    expect(seen.map((p) => p.done)).toEqual([1, 2, 3]);
    expect(seen.every((p) => p.total === 3)).toBe(true);
  });

  it('uploadFilesToCloud flattens', async () => {
    await uploadFilesToCloud(di, path.join(remote, '**', '*.dcm'), path.join(local, 'flat'));
    expect(tree(path.join(local, 'flat'))).toEqual(['a.dcm', 'c.dcm', 'd.dcm']);
  });

  it('uploadFilesFromList maps by srcDirPrefix and skips directories', async () => {
    await uploadFilesFromList(di, [path.join(remote, 'run1/sub/c.dcm'), path.join(remote, 'run1/sub')], path.join(local, 'l'), remote);
    expect(tree(path.join(local, 'l'))).toEqual(['run1/sub/c.dcm']);
  });

  it('downloadFolderFromCloud keeps the last component; deleteAfter deletes only copied files, never folders', async () => {
    const src = path.join(local, 'results');
    for (const f of ['r1.txt', 'deep/r2.dcm', 'keep.exe']) {
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.writeFileSync(path.join(src, f), f);
    }
    const copied = await downloadFolderFromCloud(di, src, path.join(remote, 'up'), true);
    expect(copied.sort()).toEqual([path.join(src, 'deep/r2.dcm'), path.join(src, 'r1.txt')]);
    expect(tree(path.join(remote, 'up'))).toEqual(['results/deep/r2.dcm', 'results/r1.txt']);
    expect(tree(src)).toEqual(['keep.exe']); // not copied, not deleted
    expect(fs.statSync(path.join(src, 'deep')).isDirectory()).toBe(true); // folders stay
  });

  it('downloadFilesFromCloud flattens; a refused file stops the copy and is not deleted', async () => {
    const src = path.join(local, 'pat');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a.txt'), 'a');
    fs.writeFileSync(path.join(src, 'b.txt'), 'b');
    await downloadFilesFromCloud(di, path.join(src, '*.txt'), path.join(remote, 'flat'), true);
    expect(tree(path.join(remote, 'flat'))).toEqual(['a.txt', 'b.txt']);
    expect(fs.readdirSync(src)).toEqual([]);
    fs.writeFileSync(path.join(src, 'c.txt'), 'c');
    await expect(downloadFilesFromCloud(di, path.join(src, '*.txt'), '/etc/rtfmri-nope', true)).rejects.toThrow(/allowed directories/);
    expect(fs.readdirSync(src)).toEqual(['c.txt']);
  });

  it('downloadFilesFromList maps by srcDirPrefix', async () => {
    const f = path.join(local, 'x', 'y', 'z.txt');
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'z');
    await downloadFilesFromList(di, [f, path.join(local, 'x')], path.join(remote, 'dl'), local);
    expect(tree(path.join(remote, 'dl'))).toEqual(['x/y/z.txt']);
  });

  it('a listing cannot steer an upload outside outputDir', async () => {
    const evil = { getFile: async () => new Uint8Array([1]) };
    await expect(uploadFilesFromList(evil, ['/x/../../../../../passwd.txt'], path.join(local, 'o'), '/x')).rejects.toThrow(/outside/);
    expect(fs.existsSync(path.join(local, 'o'))).toBe(false);
  });
});
