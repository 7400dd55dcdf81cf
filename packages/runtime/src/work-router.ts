// Where the CPU part of a look at a file runs (read, completeness check, anonymize): in the
// calling thread or in the Piscina pool. 'auto' keeps a single stream's images on this thread (no
// thread hop on an image's path) while the recent inline work stays under a small budget, and sends
// the rest of a burst, and big files, to the pool, so many streams at once never hold the event loop.
import fs from 'node:fs';
import { checkFile, spareForPool, type CheckRequest, type CheckResult } from './check.js';
import { acquirePool } from './pool.js';

export type WorkRoute = 'auto' | 'inline' | 'pool';

/** Inline work allowed per window before the pool takes over (auto route). */
const INLINE_BUDGET_MS = 4;
const INLINE_WINDOW_MS = 20;
/** Files above this size are always checked in the pool (auto route). */
const INLINE_MAX_BYTES = 8 * 1024 * 1024;

export class WorkRouter {
  private pool: ReturnType<typeof acquirePool> | null = null;
  private poolUnavailable = false;
  private inlineWindowStart = 0;
  private inlineSpent = 0;
  /** How the last looks were routed (diagnostics, benchmark). */
  readonly routed = { inline: 0, pool: 0 };

  constructor(
    private readonly work: WorkRoute,
    private readonly poolThreads?: number,
  ) {}

  /** Starts the pool before the first image needs it (routes 'pool' and 'auto'). */
  async warm(): Promise<void> {
    if (this.work === 'inline' || this.poolUnavailable) return;
    try {
      this.pool ??= acquirePool(this.poolThreads);
      await this.pool.warm();
    } catch (err) {
      // 'auto' still works without the pool (e.g. dist/worker.js not built): everything inline.
      if (this.work === 'pool') throw err;
      this.poolUnavailable = true;
      const pool = this.pool;
      this.pool = null;
      await pool?.release().catch(() => undefined);
    }
  }

  /** Synchronous on the inline route (no promise hop on an image's path), a Promise on the pool route. */
  run(req: CheckRequest): CheckResult | Promise<CheckResult> {
    // The auto route looks at the size first (one stat, ~2 us, on a first look; later looks know
    // it from the previous one): it decides the route and sizes the memory lent to a pool look.
    const st = this.work === 'auto' && !this.poolUnavailable && req.skipSize === undefined ? fs.statSync(req.path, { throwIfNoEntry: false }) : undefined;
    if (this.routeInline(req, st)) {
      const t0 = performance.now();
      try {
        return checkFile(req);
      } finally {
        this.inlineSpent += performance.now() - t0;
      }
    }
    this.pool ??= acquirePool(this.poolThreads);
    this.routed.pool++;
    // Recycled memory for the copy the look delivers travels with it (check.ts spareForPool).
    const size = st?.size ?? req.skipSize ?? sizeOf(req.path);
    const spare = size !== undefined && size > 0 ? spareForPool(size, req.anonymize) : undefined;
    return this.pool.run(spare ? { ...req, spare } : req);
  }

  async release(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.release();
  }

  /** `st`: run's stat of the file (auto route, first look; undefined otherwise or when missing). */
  private routeInline(req: CheckRequest, st: fs.Stats | undefined): boolean {
    if (this.work === 'inline') { this.routed.inline++; return true; }
    if (this.work === 'pool') return false;
    if (!this.poolUnavailable && req.skipSize === undefined) {
      // A big file (multi-frame, enhanced MR) would hold the event loop for milliseconds: pool.
      if (st && st.size > INLINE_MAX_BYTES) return false;
      // Nothing to read (no file yet, or one just created: a burst's first event per file): the
      // look is an open and an fstat (~10 us), a pool task costs this thread more than that
      // (~40-50 us of message passing and bookkeeping per task): inline, whatever the budget.
      if (!st || st.size === 0 || st.size < req.minFileSize) {
        this.routed.inline++;
        return true;
      }
    } else if (!this.poolUnavailable && (req.skipSize ?? 0) > INLINE_MAX_BYTES) {
      return false;
    }
    const now = performance.now();
    if (now - this.inlineWindowStart > INLINE_WINDOW_MS) {
      this.inlineWindowStart = now;
      this.inlineSpent = 0;
    }
    if (this.poolUnavailable || (this.inlineSpent < INLINE_BUDGET_MS && (this.pool === null || this.pool.queued() === 0))) {
      this.routed.inline++;
      return true;
    }
    return false;
  }
}

/** The file's size now, if a stat can tell (sizes the memory lent to a pool look). */
function sizeOf(p: string): number | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.size;
  } catch {
    return undefined;
  }
}
