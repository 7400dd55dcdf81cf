// Path facts every package that touches the file system needs, in one home.
import fs from 'node:fs';
import path from 'node:path';

/** Characters that make a path segment a glob rather than a literal name. */
const GLOB_CHARS = /[*?[\]{}()!+@]/;

export function hasGlob(segment: string): boolean {
  return GLOB_CHARS.test(segment);
}

/**
 * Resolves symlinks of an absolute, already-resolved path. For a path that does not exist yet
 * (a file about to be written, a folder putFile will create), the nearest existing ancestor is
 * realpath'd and the rest appended: a symlinked ancestor pointing outside is still caught.
 */
export function realpathNearest(resolved: string): string {
  let head = resolved;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = fs.realpathSync.native(head);
      return tail.length === 0 ? real : path.join(real, ...tail.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = path.dirname(head);
      if (parent === head) return resolved;
      tail.push(path.basename(head));
      head = parent;
    }
  }
}

/** True when `child` is `dir` itself or inside it (separator-aware: `/a-other` is not in `/a`). */
export function isWithin(child: string, dir: string): boolean {
  if (child === dir) return true;
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return child.startsWith(prefix);
}

