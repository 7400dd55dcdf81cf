// @rtfmri/files: the file-system pieces the runtime and the SDK's transfer helpers share (Node only):
// path containment and canonicalisation, a glob walker, whole-or-nothing writes.
export { hasGlob, isWithin, realpathNearest } from './paths.js';
export { glob, splitGlob, type GlobEntry, type GlobOptions } from './glob.js';
export { nameMatcher } from './match.js';
export { tempNameFor, writeFileAtomic } from './atomic.js';
