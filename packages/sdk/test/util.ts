import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh real folder (realpath'd: on some systems /tmp is itself a link). */
export const tmpDir = (prefix = 'rtfmri-sdk-'): string => fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
export const rmrf = (p: string): void => fs.rmSync(p, { recursive: true, force: true });
