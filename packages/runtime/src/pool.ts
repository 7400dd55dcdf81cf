import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { CheckRequest, CheckResult } from './check.js';

/**
 * The compiled worker. From dist/ it sits beside this file; when this module runs from src/ (tests
 * resolve packages by their `source` condition) it is the built ../dist/worker.js.
 */
export function workerPath(): string {
  const here = new URL('./worker.js', import.meta.url);
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(here))) return fileURLToPath(here);
  const built = fileURLToPath(new URL('../dist/worker.js', import.meta.url));
  if (!existsSync(built)) {
    throw new Error(`@rtfmri/runtime: ${built} is missing: build the package first (npx turbo run build)`);
  }
  return built;
}

function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--conditions' || args[i] === '-C') { i++; continue; }
    if (/^(--conditions|-C)=/.test(args[i])) continue;
    out.push(args[i]);
  }
  return out;
}

let shared: { pool: Piscina; refs: number; warm?: Promise<void> } | null = null;

/** One pool per process, shared by every DataInterface (threads are the scarce thing). */
export interface PoolHandle {
  /** `req.spare`, when given, is transferred to the worker (gone from this thread). */
  run(req: CheckRequest): Promise<CheckResult>;
  queued(): number;
  /** Resolves once every thread has loaded the worker (the first load costs ~100 ms: not on an image's path). */
  warm(): Promise<void>;
  release(): Promise<void>;
}

export function acquirePool(threads?: number): PoolHandle {
  if (!shared) {
    const n = threads ?? Math.max(1, Math.min(4, (os.availableParallelism?.() ?? os.cpus().length) - 1));
    shared = {
      pool: new Piscina({
        filename: workerPath(),
        minThreads: n,
        maxThreads: n,
        idleTimeout: 60_000,
        // No run/wait-time histograms (nobody reads them; two performance.now() and records per task).
        recordTiming: false,
        // Workers run compiled JS: drop `--conditions source` (set by vitest), which would make
        // them import the workspace packages' .ts sources.
        execArgv: workerExecArgv(),
      }),
      refs: 0,
    };
  }
  const s = shared;
  s.refs++;
  let released = false;
  return {
    run: (req) => (req.spare ? s.pool.run(req, { transferList: [req.spare] }) : s.pool.run(req)) as Promise<CheckResult>,
    queued: () => s.pool.queueSize,
    warm: () => (s.warm ??= Promise.all(
      Array.from({ length: s.pool.options.maxThreads }, () =>
        s.pool.run({ path: '/nonexistent/rtfmri-warm-up', minFileSize: 0, dicom: false, anonymize: false, policy: { dirs: [], types: [] } } satisfies CheckRequest)),
    ).then(() => undefined)),
    release: async () => {
      if (released) return;
      released = true;
      if (--s.refs === 0 && shared === s) {
        shared = null;
        await s.pool.destroy();
      }
    },
  };
}
