import path from 'node:path';
import { ValidationError } from './errors.js';
import { hasGlob, isWithin, realpathNearest } from '@rtfmri/files';
import type { PolicySnapshot } from './verified.js';

/** Linux's limits (PATH_MAX, NAME_MAX), in bytes: longer paths are refused before any fs call. */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

function checkPathLength(p: string): void {
  // Characters first: a 12 MiB argument is refused without encoding it.
  const bytes = p.length > MAX_PATH_BYTES ? p.length : Buffer.byteLength(p);
  if (bytes > MAX_PATH_BYTES) {
    throw new ValidationError(`path too long (${bytes} bytes; at most ${MAX_PATH_BYTES})`, { details: { reason: 'ENAMETOOLONG', length: bytes } });
  }
  for (const seg of p.split(/[\\/]/)) {
    if (seg.length > MAX_NAME_BYTES || Buffer.byteLength(seg) > MAX_NAME_BYTES) {
      throw new ValidationError(`path component too long (${Buffer.byteLength(seg)} bytes; at most ${MAX_NAME_BYTES}): ${seg.slice(0, 40)}...`, { details: { reason: 'ENAMETOOLONG' } });
    }
  }
}

/**
 * The allowed-dirs / allowed-file-types policy. Every path a caller hands in goes through
 * `checkPath` (canonicalise, then test); `'*'` in a list allows everything of that kind.
 */
export class PathPolicy {
  readonly allowedDirs: readonly string[];
  readonly allowedFileTypes: readonly string[];
  readonly allDirs: boolean;
  readonly allTypes: boolean;
  private readonly typeSet: Set<string>;

  constructor(allowedDirs: readonly string[] = [], allowedFileTypes: readonly string[] = []) {
    if (!Array.isArray(allowedDirs) || !Array.isArray(allowedFileTypes)) {
      throw new ValidationError('allowedDirs and allowedFileTypes must be arrays of strings');
    }
    this.allDirs = allowedDirs.includes('*');
    this.allTypes = allowedFileTypes.includes('*');
    // Copies: the caller's arrays are never mutated (rt-cloud prefixed '.' in place).
    this.allowedDirs = this.allDirs ? ['*'] : allowedDirs.map((d) => {
      if (typeof d !== 'string' || d.includes('\0') || !path.isAbsolute(d)) {
        throw new ValidationError(`allowed directory must be an absolute path: ${String(d)}`);
      }
      return path.resolve(d);
    });
    this.allowedFileTypes = this.allTypes ? ['*'] : allowedFileTypes.map((t) => normaliseType(t));
    this.typeSet = new Set(this.allowedFileTypes.map((t) => t.toLowerCase()));
  }

  /** Allowed dirs with their own symlinks resolved (e.g. /tmp -> /private/tmp), computed per check
   *  because an allowed dir may be created after the policy. */
  private canonicalAllowed(): string[] {
    return this.allowedDirs.map((d) => realpathNearest(d));
  }

  /** The policy as plain data, for checks on open descriptors (main thread and the pool's workers). */
  snapshot(): PolicySnapshot {
    return { dirs: this.allDirs ? null : this.canonicalAllowed(), types: this.allTypes ? null : [...this.typeSet] };
  }

  /**
   * Canonicalises an absolute path: refuses relative paths and NUL bytes, resolves `.`/`..` and
   * symlinks. Returns both the lexical form (what the caller sees back, e.g. in listings) and the
   * real one (what the checks and file operations use).
   */
  canonicalise(p: unknown): { resolved: string; real: string } {
    if (typeof p !== 'string' || p.length === 0) throw new ValidationError('path must be a non-empty string');
    if (p.includes('\0')) throw new ValidationError('path must not contain NUL bytes');
    checkPathLength(p);
    if (!path.isAbsolute(p)) {
      throw new ValidationError(`Path ${p} not within list of allowed directories: a full (absolute) path is required`);
    }
    const resolved = path.resolve(p);
    try {
      return { resolved, real: realpathNearest(resolved) };
    } catch (err) {
      // ELOOP (a symlink loop), EACCES on a parent, ...: a typed refusal, never a raw fs error.
      const code = String((err as NodeJS.ErrnoException)?.code ?? 'EIO');
      const why = code === 'ELOOP' ? 'too many levels of symbolic links' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
      throw new ValidationError(`Path ${p}: ${why}`, { details: { reason: code, path: p } });
    }
  }

  /** Throws unless the path (after canonicalisation) is inside an allowed dir; returns the real path. */
  checkDir(p: unknown): string {
    if (this.allowedDirs.length === 0 && !this.allDirs) {
      throw new ValidationError('DataInterface: no allowed directories are set');
    }
    const { real } = this.canonicalise(p);
    if (!this.isRealPathAllowed(real)) {
      throw new ValidationError(`Path ${String(p)} not within list of allowed directories`, { details: { path: String(p) } });
    }
    return real;
  }

  isRealPathAllowed(real: string): boolean {
    if (this.allDirs) return true;
    return this.canonicalAllowed().some((d) => isWithin(real, d));
  }

  /** True when a file name's last extension is allowed (case-insensitive: scanners write .DCM too). */
  isTypeAllowed(name: string): boolean {
    if (this.allTypes) return true;
    if (this.typeSet.size === 0) return false;
    const ext = path.extname(name).toLowerCase();
    return ext !== '' && this.typeSet.has(ext);
  }

  checkFileType(name: string): void {
    if (!this.allTypes && this.typeSet.size === 0) {
      throw new ValidationError('DataInterface: no allowed file types are set');
    }
    if (!this.isTypeAllowed(name)) {
      throw new ValidationError(
        `File type ${path.extname(name) || '(none)'} not in list of allowed file types ${JSON.stringify(this.allowedFileTypes)}`,
        { details: { file: name } },
      );
    }
  }

  /** Checks a file path: dir and type. Returns the real path to operate on. */
  checkFile(p: unknown): string {
    const real = this.checkDir(p);
    this.checkFileType(p as string);
    // A symlinked file may point at another extension: the target's type counts too.
    if (real !== path.resolve(p as string)) this.checkFileType(real);
    return real;
  }

  /** For a glob's last segment: refuse a literal extension that is not allowed; wildcards are filtered later. */
  checkPatternType(lastSegment: string): void {
    if (!this.allTypes && this.typeSet.size === 0) {
      throw new ValidationError('DataInterface: no allowed file types are set');
    }
    const ext = path.extname(lastSegment);
    if (ext === '' || hasGlob(ext) || lastSegment.endsWith('*')) return;
    this.checkFileType(lastSegment);
  }
}

function normaliseType(t: unknown): string {
  if (typeof t !== 'string' || t.length === 0 || t.includes('\0') || t.includes('/')) {
    throw new ValidationError(`invalid allowed file type: ${String(t)}`);
  }
  return t.startsWith('.') ? t : '.' + t;
}
