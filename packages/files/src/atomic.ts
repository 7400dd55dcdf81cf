// Whole-or-nothing writes: readers (and scanners' watchers) see the old file or the whole new one,
// never a part, and a failed write leaves no half file behind.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The temp name a write goes to before its rename: hidden, unique per process and call. */
export function tempNameFor(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to a temp file beside `dest` and renames it over `dest`. Creates no folders. */
export async function writeFileAtomic(dest: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempNameFor(dest);
  try {
    await fs.promises.writeFile(tmp, data, { flag: 'wx' });
    await fs.promises.rename(tmp, dest);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
