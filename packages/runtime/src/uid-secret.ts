// The site's anonymization secret, kept across restarts: created once with mode 600, then read.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from './errors.js';

/**
 * Reads the secret in `file`, creating it (and its folder, mode 700) with 32 random bytes when it
 * does not exist. A file that others may read is refused: whoever has it can link anonymized UIDs
 * and shifted dates back to their originals by trying candidates.
 */
export function loadUidSecret(file: string): { secret: string; created: boolean } {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let created = false;
  try {
    fs.writeFileSync(file, randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.statSync(file);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new ValidationError(`the UID secret file ${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)}): run 'chmod 600 ${file}'`);
  }
  const secret = fs.readFileSync(file, 'utf8').split(/\r?\n/)[0]!.trim();
  if (secret.length < 16) throw new ValidationError(`the UID secret file ${file} holds fewer than 16 characters`);
  return { secret, created };
}
