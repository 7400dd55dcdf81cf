import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataInterface, PathPolicy, ValidationError } from '../src/index.js';
import { rmrf, tmpDir } from './util.js';

const NOT_ALLOWED = /not within list of allowed directories/;

describe('path policy', () => {
  let root: string;
  let A: string;
  let di: DataInterface;
  beforeEach(() => {
    root = tmpDir();
    A = path.join(root, 'A');
    fs.mkdirSync(A);
    fs.mkdirSync(path.join(root, 'A-other'));
    fs.writeFileSync(path.join(root, 'secret.txt'), 'secret');
    fs.writeFileSync(path.join(root, 'A-other', 'x.txt'), 'other');
    fs.mkdirSync(path.join(root, 'outside'));
    fs.writeFileSync(path.join(root, 'outside', 'o.txt'), 'outside');
    fs.writeFileSync(path.join(root, 'outside', 'o.dcm'), 'outside');
    fs.writeFileSync(path.join(A, 'in.txt'), 'inside');
    fs.symlinkSync(path.join(root, 'secret.txt'), path.join(A, 'link.txt'));
    fs.symlinkSync(path.join(root, 'outside'), path.join(A, 'linkdir'));
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.txt', 'dcm'] });
  });
  afterEach(async () => {
    await di.close();
    rmrf(root);
  });

  const refused = async (p: Promise<unknown>, re: RegExp = NOT_ALLOWED) => {
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(String((err as Error).message)).toMatch(re);
  };

  it('over-long paths and names are a ValidationError before any fs call (not ENAMETOOLONG from the OS)', async () => {
    const long = path.join(A, 'd'.repeat(200), 'e'.repeat(200), 'f'.repeat(200), `${'x'.repeat(4000)}.txt`);
    await refused(di.getFile(long), /path too long/);
    await refused(di.getFile(`/${'x'.repeat(12 * 1024 * 1024)}.txt`), /path too long/);
    await refused(di.getFile(path.join(A, `${'n'.repeat(300)}.txt`)), /component too long/);
    await refused(di.putFile(path.join(A, `${'é'.repeat(130)}.txt`), 'x'), /component too long/); // 260 bytes in UTF-8
    await refused(di.listFiles(path.join(A, 'q'.repeat(300), '*.txt')), /component too long/);
    expect(fs.readdirSync(A).sort()).toEqual(['in.txt', 'link.txt', 'linkdir']);
  });

  it('reads inside the allowed dir', async () => {
    expect(Buffer.from(await di.getFile(path.join(A, 'in.txt'))).toString()).toBe('inside');
    expect(Buffer.from(await di.getFile(A + '/./sub/../in.txt')).toString()).toBe('inside');
  });

  it('refuses A/../secret, sibling prefix, relative paths and NUL bytes', async () => {
    await refused(di.getFile(A + '/../secret.txt'));
    await refused(di.getFile(path.join(root, 'A-other', 'x.txt')));
    await refused(di.getFile('A/in.txt'));
    await refused(di.getFile('./in.txt'));
    await refused(di.getFile(A + '/in\0.txt'), /NUL/);
    await refused(di.putFile(A + '/../escape.txt', 'x'));
    expect(fs.existsSync(path.join(root, 'escape.txt'))).toBe(false);
  });

  it('refuses a symlink inside A that points outside: get, put, list, watch, stream', async () => {
    await refused(di.getFile(path.join(A, 'link.txt')));
    await refused(di.getFile(path.join(A, 'linkdir', 'o.txt')));
    await refused(di.putFile(path.join(A, 'linkdir', 'new.txt'), 'x'));
    expect(fs.existsSync(path.join(root, 'outside', 'new.txt'))).toBe(false);
    await refused(di.putFile(path.join(A, 'link.txt'), 'overwrite'));
    expect(fs.readFileSync(path.join(root, 'secret.txt'), 'utf8')).toBe('secret');
    await refused(di.listFiles(path.join(A, 'linkdir', '*.txt')));
    await refused(di.listDirs(path.join(A, 'linkdir', '*')));
    await refused(di.initWatch(path.join(A, 'linkdir'), '*.dcm', 0));
    await refused(di.initScannerStream(path.join(A, 'linkdir'), 'o_{TR}.dcm', 0));
    await refused(di.getNewestFile(path.join(A, 'linkdir', '*.txt')));
  });

  it('a not-yet-existing path under a symlinked ancestor is still refused', async () => {
    await refused(di.putFile(path.join(A, 'linkdir', 'deep', 'er', 'f.txt'), 'x'));
    expect(fs.existsSync(path.join(root, 'outside', 'deep'))).toBe(false);
  });

  it('recursive listing does not follow links out of A', async () => {
    fs.mkdirSync(path.join(A, 'sub'));
    fs.writeFileSync(path.join(A, 'sub', 'deep.txt'), 'd');
    const files = await di.listFiles(path.join(A, '**'));
    expect(files).toEqual([path.join(A, 'in.txt'), path.join(A, 'sub', 'deep.txt')]);
    const dirs = await di.listDirs(path.join(A, '*'));
    expect(dirs).toEqual([path.join(A, 'sub')]);
  });

  it('follows links that stay inside A', async () => {
    fs.mkdirSync(path.join(A, 'real'));
    fs.writeFileSync(path.join(A, 'real', 'r.txt'), 'r');
    fs.symlinkSync(path.join(A, 'real'), path.join(A, 'alias'));
    fs.symlinkSync(A, path.join(A, 'real', 'loop')); // a cycle must not hang the walk
    expect(Buffer.from(await di.getFile(path.join(A, 'alias', 'r.txt'))).toString()).toBe('r');
    const files = await di.listFiles(path.join(A, '**', '*.txt'));
    expect(files).toContain(path.join(A, 'alias', 'r.txt'));
    expect(files).toContain(path.join(A, 'real', 'r.txt'));
    expect(files.every((f) => f.startsWith(A + path.sep))).toBe(true);
  });

  it("'*' in either list allows all", async () => {
    const all = new DataInterface({ allowedDirs: ['*'], allowedFileTypes: ['*'] });
    fs.writeFileSync(path.join(root, 'outside', 'noext'), 'n');
    expect(Buffer.from(await all.getFile(path.join(root, 'secret.txt'))).toString()).toBe('secret');
    expect(Buffer.from(await all.getFile(path.join(root, 'outside', 'noext'))).toString()).toBe('n');
    await all.close();
    // '*' for dirs does not switch off the type check, nor the other way round
    const dirsOnly = new DataInterface({ allowedDirs: ['*'], allowedFileTypes: ['.dcm'] });
    await refused(dirsOnly.getFile(path.join(root, 'secret.txt')), /File type \.txt not in list/);
    await dirsOnly.close();
  });

  it('file types by last extension, normalised without mutating the caller array', async () => {
    const types = ['txt', 'DCM'];
    const p = new PathPolicy([A], types);
    expect(types).toEqual(['txt', 'DCM']);
    expect(p.allowedFileTypes).toEqual(['.txt', '.DCM']);
    expect(p.isTypeAllowed('/x/a.txt')).toBe(true);
    expect(p.isTypeAllowed('/x/a.tar.txt')).toBe(true);
    expect(p.isTypeAllowed('/x/a.txt.exe')).toBe(false);
    expect(p.isTypeAllowed('/x/a.dcm')).toBe(true);
    expect(p.isTypeAllowed('/x/noext')).toBe(false);
    expect(await di.getAllowedFileTypes()).toEqual(['.txt', '.dcm']);
    fs.writeFileSync(path.join(A, 'bad.exe'), 'x');
    await refused(di.getFile(path.join(A, 'bad.exe')), /File type \.exe not in list of allowed file types/);
    await refused(di.putFile(path.join(A, 'bad.exe'), 'x'), /File type/);
  });

  it('no allowed dirs means nothing is allowed', async () => {
    const none = new DataInterface({ allowedFileTypes: ['*'] });
    await refused(none.getFile(path.join(A, 'in.txt')), /no allowed directories/);
    await none.close();
  });

  it('an allowed dir given through a symlink still works', async () => {
    fs.symlinkSync(A, path.join(root, 'Alink'));
    const viaLink = new DataInterface({ allowedDirs: [path.join(root, 'Alink')], allowedFileTypes: ['.txt'] });
    expect(Buffer.from(await viaLink.getFile(path.join(A, 'in.txt'))).toString()).toBe('inside');
    expect(Buffer.from(await viaLink.getFile(path.join(root, 'Alink', 'in.txt'))).toString()).toBe('inside');
    await refused(viaLink.getFile(path.join(root, 'secret.txt')));
    await viaLink.close();
  });
});
