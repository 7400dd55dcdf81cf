import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckRequest } from '../src/check.js';

/** A fresh real folder (realpath'd: on some systems /tmp is itself a link). */
export function tmpDir(prefix = 'rtfmri-rt-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

/** ../shared/data/rtcloud-sample from the repository root, or null when absent. */
export function sampleDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const p = path.resolve(here, '../../../../shared/data/rtcloud-sample');
  return fs.existsSync(path.join(p, '001_000013_000001.dcm')) ? p : null;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A look at `file` in `dir` as a stream makes it (DICOM, any size; anonymized with a test secret). */
export function lookRequest(dir: string, file: string, anonymize: boolean): CheckRequest {
  return { path: file, minFileSize: 0, dicom: true, anonymize, policy: { dirs: [fs.realpathSync(dir)], types: null }, uidSecret: anonymize ? 'look-request-secret-0123456789' : undefined };
}
