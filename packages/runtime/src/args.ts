// The argument checks of the streams and watches (file patterns, timeouts, sizes, pacing) and the
// "not found or corrupted" message's explanation: pure functions, no state.
import path from 'node:path';
import { ValidationError } from './errors.js';
import { MAX_NAME_BYTES } from './paths.js';
import type { LastLook } from './actors.js';

/** Largest N of `{TR:0Nd}`: a wider field is a ValidationError (a huge width would allocate the padding). */
export const MAX_TR_WIDTH = 32;
/** Longest wait (seconds) a timeout or demoStep may ask for: larger timeouts (Infinity too) are clamped to it. */
export const MAX_TIMEOUT_SEC = 24 * 60 * 60;


const TR_PLACEHOLDER = /\{([^{}]*)\}/g;

/** Compiles `scan_{TR:03d}.dcm` into a name function; anything but {TR}/{TR:0Nd}/{TR:d} is refused. */
export function compileFilePattern(filePattern: string): (index: number) => string {
  if (typeof filePattern !== 'string' || filePattern.length === 0) {
    throw new ValidationError('filePattern must be a non-empty string');
  }
  if (filePattern.length > MAX_NAME_BYTES || Buffer.byteLength(filePattern) > MAX_NAME_BYTES) {
    throw new ValidationError(`filePattern too long (at most ${MAX_NAME_BYTES} bytes, a file name)`, { details: { reason: 'ENAMETOOLONG' } });
  }
  if (filePattern.includes('/') || filePattern.includes('\\') || filePattern.includes('\0')) {
    throw new ValidationError(`filePattern must be a file name (no folders): ${filePattern}`);
  }
  const parts: Array<string | { width: number; zero: boolean }> = [];
  let last = 0;
  let found = false;
  for (const m of filePattern.matchAll(TR_PLACEHOLDER)) {
    const spec = /^TR(?::(0?)(\d*)d)?$/.exec(m[1]);
    if (!spec) {
      throw new ValidationError(`filePattern placeholder {${m[1]}} not supported: use {TR}, {TR:03d}, {TR:06d} (${filePattern})`);
    }
    const width = spec[2] ? Number(spec[2]) : 0;
    if (!(width <= MAX_TR_WIDTH)) {
      throw new ValidationError(`filePattern {${m[1]}}: width ${spec[2].length > 12 ? `${spec[2].slice(0, 12)}...` : spec[2]} is more than ${MAX_TR_WIDTH}`, { details: { reason: 'WIDTH', max: MAX_TR_WIDTH } });
    }
    parts.push(filePattern.slice(last, m.index), { zero: spec[1] === '0', width });
    last = m.index! + m[0].length;
    found = true;
  }
  parts.push(filePattern.slice(last));
  if (!found) throw new ValidationError(`initScannerStream filePattern must have a {TR} pattern: ${filePattern}`);
  if (parts.some((p) => typeof p === 'string' && (p.includes('{') || p.includes('}')))) {
    throw new ValidationError(`filePattern has unbalanced braces: ${filePattern}`);
  }
  return (index: number) =>
    parts.map((p) => (typeof p === 'string' ? p : String(index).padStart(p.width, p.zero ? '0' : ' '))).join('');
}

/** A timeout in seconds: > 0, clamped to MAX_TIMEOUT_SEC (a timer of 2^31 ms or more would fire at once). */
export function checkTimeout(timeout: unknown, what: string): number {
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) {
    throw new ValidationError(`${what}: timeout parameter must be > 0 secs (got ${String(timeout)})`);
  }
  return Math.min(timeout, MAX_TIMEOUT_SEC);
}

/**
 * The end of a "not found or corrupted" message: what the last look at the file found, so a wrong
 * minFileSize or a locked file says so instead of leaving the caller to guess.
 */
export function lastLookText(last: LastLook | null, minFileSize: number, file: string): string {
  if (!last || last.status === 'missing') return ` (no such file in ${path.dirname(file)} yet)`;
  if (last.status === 'small') {
    return `: the file is ${last.size ?? 'fewer than minFileSize'} bytes, smaller than minFileSize ${minFileSize} bytes` +
      ' (nothing smaller than minFileSize is returned: lower minFileSize if the files are whole at this size)';
  }
  if (last.status === 'locked') return `: the file stayed locked by another program (${last.code}) for the whole wait`;
  return `: the file is there${last.size !== undefined ? ` (${last.size} bytes)` : ''} but not a whole DICOM file (still being written, truncated or corrupt)`;
}

export function checkMinSize(minFileSize: unknown): number {
  const n = minFileSize == null ? 0 : minFileSize;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ValidationError(`minFileSize must be a number >= 0 (got ${String(minFileSize)})`);
  }
  return n;
}

export function checkDemoStep(demoStep: unknown): number {
  const n = demoStep == null ? 0 : demoStep;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_TIMEOUT_SEC) {
    throw new ValidationError(`demoStep must be a number of seconds, 0..${MAX_TIMEOUT_SEC} (got ${String(demoStep)})`);
  }
  return n;
}
