// One site secret, the same anonymized UIDs in every process and after a restart (issue 12: a
// restarted serve split one run into two series).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataInterface, loadUidSecret, ValidationError } from '../src/index.js';
import { mosaic } from './data.js';
import { rmrf, tmpDir } from './util.js';

const root = tmpDir();
afterAll(() => rmrf(root));

async function seriesUid(secret: string | undefined, file: string): Promise<{ series: string; date: unknown }> {
  const di = new DataInterface({ allowedDirs: [root], allowedFileTypes: ['.dcm'], uidSecret: secret });
  try {
    const id = await di.initScannerStream(path.dirname(file), 'vol_{TR:03d}.dcm', 0);
    const ds = await di.getImageData(id, 0, 5);
    return { series: String(ds.get('SeriesInstanceUID')), date: ds.get('StudyDate') };
  } finally {
    await di.close();
  }
}

describe('the site UID secret', () => {
  it('is created once with mode 600 and read back the same; a file others can read is refused', () => {
    const file = path.join(root, 'site', 'uid-secret');
    const a = loadUidSecret(file);
    expect(a.created).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const b = loadUidSecret(file);
    expect(b).toEqual({ secret: a.secret, created: false });
    fs.chmodSync(file, 0o644);
    expect(() => loadUidSecret(file)).toThrow(ValidationError);
    expect(() => loadUidSecret(file)).toThrow(/chmod 600/);
  });

  it('maps a series to the same UID (and shifts its dates the same way) in two runtimes with the same secret, not with another', async () => {
    const dir = path.join(root, 'scan');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'vol_000.dcm');
    fs.writeFileSync(file, await mosaic(0));
    const secret = 'site-secret-0123456789abcdef';
    const first = await seriesUid(secret, file);
    const restarted = await seriesUid(secret, file);
    const other = await seriesUid('another-secret-0123456789', file);
    const random = await seriesUid(undefined, file);
    expect(restarted).toEqual(first);
    expect(other.series).not.toBe(first.series);
    expect(random.series).not.toBe(first.series);
    expect(() => new DataInterface({ allowedDirs: [root], uidSecret: 'short' })).toThrow(/at least 16/);
  });
});
