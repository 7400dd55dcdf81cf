import type { Parsed } from './args.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** For progress bars: whether stderr is a terminal (redraw in place) or a log (print lines). */
  errIsTTY: boolean;
  errWrite(chunk: string): void;
  /** Aborted on SIGINT/SIGTERM so long-running commands shut down cleanly. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  /** Full `--help` text (usage line first). */
  help: string;
  run(argv: string[], io: Io): Promise<number>;
}

export type { Parsed };
