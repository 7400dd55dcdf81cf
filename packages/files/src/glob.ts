import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { hasGlob } from './paths.js';

export interface GlobEntry {
  /** Path as walked from the pattern's base (lexical, what callers get back). */
  path: string;
  isDir: boolean;
  mtimeMs: number;
}

export interface GlobOptions {
  /** Which entries to return. */
  want: 'files' | 'dirs';
  /** Decides whether a symlink's real target may be used (listed or descended into). */
  allowReal?: (real: string) => boolean;
}

/** Splits an absolute glob into its literal base folder and the rest (segments). */
export function splitGlob(pattern: string): { base: string; rest: string[] } {
  const segs = path.resolve(pattern).split(path.sep);
  const literal: string[] = [];
  let i = 0;
  for (; i < segs.length; i++) {
    if (hasGlob(segs[i])) break;
    literal.push(segs[i]);
  }
  if (i === segs.length) {
    // No glob at all: the base is the parent, the last segment is matched literally.
    const last = literal.pop() ?? '';
    return { base: literal.join(path.sep) || path.sep, rest: [last] };
  }
  return { base: literal.join(path.sep) || path.sep, rest: segs.slice(i) };
}

/**
 * A small glob walker: `*`, `?`, `[..]`, `{a,b}`, `**` (zero or more folders). Dotfiles and dot
 * folders are never returned nor entered. Symlinks are followed only where `allowReal` says so,
 * and each real folder is entered once (no cycles).
 */
export function glob(pattern: string, opts: GlobOptions): GlobEntry[] {
  const abs = path.resolve(pattern);
  const { base, rest } = splitGlob(abs);
  const recursive = rest.some((s) => s.includes('**'));
  const maxDepth = recursive ? Infinity : rest.length;
  const isMatch = picomatch(abs, { dot: false });
  const out: GlobEntry[] = [];
  const visited = new Set<string>();
  const allowReal = opts.allowReal ?? (() => true);

  const walk = (dir: string, depth: number): void => {
    let realDir: string;
    try { realDir = fs.realpathSync.native(dir); } catch { return; }
    // Cycle guard: a folder already on the current path is not entered again (a link may still
    // list the same real folder under another name, as a shell glob does).
    if (visited.has(realDir)) return;
    visited.add(realDir);
    try {
      walkEntries(dir, depth);
    } finally {
      visited.delete(realDir);
    }
  };
  const walkEntries = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const ent of entries) {
      if (ent.name.startsWith('.')) continue;
      const full = path.join(dir, ent.name);
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      let st: fs.Stats | undefined;
      if (ent.isSymbolicLink()) {
        let real: string;
        try { real = fs.realpathSync.native(full); st = fs.statSync(real); } catch { continue; }
        if (!allowReal(real)) continue;
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (!isDir && !isFile) continue;
      const wanted = opts.want === 'dirs' ? isDir : isFile;
      if (wanted && isMatch(full)) {
        if (!st) { try { st = fs.statSync(full); } catch { continue; } }
        out.push({ path: full, isDir, mtimeMs: st.mtimeMs });
      }
      if (isDir && depth + 1 < maxDepth) walk(full, depth + 1);
    }
  };
  walk(base, 0);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
