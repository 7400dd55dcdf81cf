import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { replayDir } from '@rtfmri/runtime';
import { bool, type Command, num, parse, str, UsageError } from '@rtfmri/relay/cli';

const help = `Usage: rtfmri replay SRC_DIR DEST_DIR [--tr SECONDS] [options]

Plays a series of files into DEST_DIR the way a scanner writes it: one file per TR, in TR order
(the index in the file name), each written in a few chunks spread over part of the TR.

Options:
  --tr SECONDS           time between files (default 1.5)
  --rename               write each file to a hidden temp name, then rename it in
  --pattern PATTERN      which files and where the index is, e.g. '001_000013_{TR:06d}.dcm'
                         (default: the largest group of names differing only in their last number)
  --first N              start at index N (default: the lowest index)
  --count N              write at most N files
  --chunks N             write() calls per file (default 4)
  --write-fraction F     part of the TR over which a file's chunks are spread (default 0.2)
  --quiet                print nothing per file
  -h, --help             this help`;

export const replayCommand: Command = {
  name: 'replay',
  summary: 'play a series into a folder at scanner pace (for demos and tests)',
  help,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        tr: { type: 'string' },
        rename: { type: 'boolean' },
        pattern: { type: 'string' },
        first: { type: 'string' },
        count: { type: 'string' },
        chunks: { type: 'string' },
        'write-fraction': { type: 'string' },
        quiet: { type: 'boolean' },
      },
      { min: 2, max: 2 },
    );
    if (p.values.help) return io.out(help), 0;
    const [srcArg, destArg] = p.positionals as [string, string];
    const tr = num(p, 'tr', { min: 0 }) ?? 1.5;
    const first = num(p, 'first', { int: true, min: 0 });
    const count = num(p, 'count', { int: true, min: 0 });
    const chunks = num(p, 'chunks', { int: true, min: 1, max: 1000 });
    const writeFraction = num(p, 'write-fraction', { min: 0, max: 1 });
    const src = resolve(srcArg);
    const dest = resolve(destArg);
    const st = await stat(src).catch(() => undefined);
    if (!st) throw new UsageError(`source folder not found: ${srcArg}`);
    if (!st.isDirectory()) throw new UsageError(`source is not a folder: ${srcArg}`);
    const dst = await stat(dest).catch(() => undefined);
    if (dst && !dst.isDirectory()) throw new UsageError(`destination exists and is not a folder: ${destArg}`);
    if (src === dest) throw new UsageError('source and destination are the same folder');
    let res;
    try {
      res = await replayDir(src, dest, {
        tr,
        rename: bool(p, 'rename'),
        pattern: str(p, 'pattern'),
        first,
        count,
        chunks,
        writeFraction,
        signal: io.signal,
        onFile: bool(p, 'quiet')
          ? undefined
          : (ev) => io.out(`${String(ev.index).padStart(4)}  ${ev.name}  ${(ev.bytes / 1024).toFixed(0)} KiB  ${(ev.closedAt - ev.startedAt).toFixed(0)} ms`),
      });
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    if (!res.files.length && !res.aborted) throw new UsageError(`no series found in ${srcArg}${str(p, 'pattern') ? ` matching '${str(p, 'pattern')}'` : ''}`);
    if (!bool(p, 'quiet')) io.out(`${res.aborted ? 'stopped after' : 'replayed'} ${res.files.length} file(s) (pattern ${res.pattern}) into ${dest}`);
    return res.aborted ? 130 : 0;
  },
};
