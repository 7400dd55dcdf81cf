// File-system errors (errno codes) as the API's typed errors, with the path as the caller gave it.
import { NotFoundError, RtfmriError, StateError, ValidationError } from './errors.js';

/**
 * A typed error for a file-system failure (nothing untyped crosses the wire): the errno code goes in
 * `details.reason`. Refusals and bad arguments (ENOENT aside) are ValidationError; a state of the
 * control-room computer the caller cannot fix by asking differently (disk full, too many open
 * files, I/O error) is StateError.
 */
export function mapFsError(err: unknown, shown: string): Error {
  if (err instanceof RtfmriError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') return err instanceof Error ? err : new Error(String(err));
  const p = shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
  const details = { reason: code, path: p };
  switch (code) {
    case 'ENOENT': return new NotFoundError(`File not found ${p}`, { details });
    case 'EISDIR': return new ValidationError(`${p} is a directory`, { details });
    case 'ENOTDIR': return new ValidationError(`${p}: a parent is not a directory`, { details });
    case 'ENAMETOOLONG': return new ValidationError(`${p}: path too long`, { details });
    case 'ELOOP': return new ValidationError(`${p}: too many levels of symbolic links`, { details });
    case 'EEXIST': return new ValidationError(`${p}: already exists`, { details });
    case 'ENOTEMPTY': return new ValidationError(`${p}: folder not empty`, { details });
    case 'EINVAL': return new ValidationError(`${p}: invalid argument`, { details });
    case 'EFBIG': return new ValidationError(`${p}: file too large`, { details });
    case 'EXDEV': return new ValidationError(`${p}: crosses file systems`, { details });
    case 'EACCES':
    case 'EPERM': return new ValidationError(`${p}: permission denied`, { details });
    case 'EROFS': return new ValidationError(`${p}: read-only file system`, { details });
    case 'ENOSPC': return new StateError(`${p}: no space left on device`, { details });
    case 'EDQUOT': return new StateError(`${p}: disk quota exceeded`, { details });
    case 'EMFILE':
    case 'ENFILE': return new StateError(`${p}: too many open files on the control-room computer`, { details });
    case 'EIO': return new StateError(`${p}: input/output error`, { details });
    default: return new StateError(`${p}: file system error ${code}`, { details });
  }
}
