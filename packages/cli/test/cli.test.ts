import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import type { Io } from '@rtfmri/relay/cli';
import { findSeries, fillPattern, patternRegex, replayDir } from '@rtfmri/runtime';

function capture(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    errWrite: (c) => stderr.push(c),
    errIsTTY: false,
    signal: new AbortController().signal,
  };
}

let root: string;
let src: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rtfmri-cli-'));
  src = join(root, 'src');
  await mkdir(src);
  // Written out of order on purpose: replay order must come from the index in the name.
  for (const i of [3, 0, 2, 1, 10]) await writeFile(join(src, `scan_${String(i).padStart(3, '0')}.dcm`), Buffer.alloc(64 * 1024 + i, i));
  await writeFile(join(src, 'trunc_scan_002.dcm'), Buffer.alloc(10));
  await writeFile(join(src, 'notes.txt'), 'x');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('rtfmri CLI frame', () => {
  it('prints the command list with --help and exits 0', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    for (const c of ['relay', 'serve', 'replay', 'upload', 'download', 'demo']) expect(io.stdout.join('\n')).toMatch(new RegExp(`\\n  ${c} `));
  });
  it('without a command prints help to stderr and exits 2', async () => {
    const io = capture();
    expect(await main([], io)).toBe(2);
    expect(io.stderr.join('\n')).toContain('Usage: rtfmri COMMAND');
  });
  it('refuses an unknown command in one line', async () => {
    const io = capture();
    expect(await main(['frobnicate'], io)).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toContain("unknown command 'frobnicate'");
  });
  it.each([
    [['replay', '--bogus', 'a', 'b'], /Unknown option '--bogus'/],
    [['replay', '--tr', 'fast', 'a', 'b'], /--tr must be a number/],
    [['replay', '--tr=-1', 'a', 'b'], /--tr must be at least 0/],
    [['replay', 'only-one'], /expected 2 argument/],
    [['replay', '/definitely/not/here', '/tmp/x'], /source folder not found/],
    [['replay', '--count', '1.5', 'a', 'b'], /--count must be an integer/],
  ])('usage error %j -> exit 2, one line, no stack', async (argv, re) => {
    const io = capture();
    expect(await main(argv, io)).toBe(2);
    expect(io.stderr[0]).toMatch(re);
    expect(io.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });
  it('refuses a source that is a file', async () => {
    const io = capture();
    expect(await main(['replay', join(src, 'notes.txt'), join(root, 'o')], io)).toBe(2);
    expect(io.stderr[0]).toMatch(/not a folder/);
  });
  it('reports a pattern without {TR} as a usage error', async () => {
    const io = capture();
    expect(await main(['replay', '--pattern', 'scan.dcm', src, join(root, 'o2')], io)).toBe(2);
    expect(io.stderr[0]).toMatch(/\{TR\}/);
  });
  it('every command has --help', async () => {
    for (const c of ['relay', 'serve', 'replay', 'upload', 'download', 'demo']) {
      const io = capture();
      expect(await main([c, '--help'], io), c).toBe(0);
      expect(io.stdout.join('\n'), c).toMatch(/^Usage: rtfmri /);
    }
  });
});

describe('replay', () => {
  it('patterns: parse and fill like the runtime streams', () => {
    expect(fillPattern('a_{TR:06d}.dcm', 5)).toBe('a_000005.dcm');
    expect(fillPattern('a_{TR}.dcm', 12)).toBe('a_12.dcm');
    expect('a_000123.dcm'.match(patternRegex('a_{TR:06d}.dcm'))?.[1]).toBe('000123');
    expect(() => patternRegex('a_{XX}.dcm')).toThrow();
    expect(() => patternRegex('a_{TR}_{TR}.dcm')).toThrow();
  });

  it('finds the series and leaves out other groups', async () => {
    const s = await findSeries(src);
    expect(s.pattern).toBe('scan_{TR:03d}.dcm');
    expect(s.files.map((f) => f.index)).toEqual([0, 1, 2, 3, 10]);
  });

  it('writes files in TR order, in chunks, byte-exact, at TR pace', async () => {
    const dest = join(root, 'in-place');
    await mkdir(dest);
    const sizes = new Map<string, Set<number>>();
    // Real fs events: a scanner-like writer must expose partial files under the final name.
    const w = watch(dest, (_ev, name) => {
      if (!name) return;
      stat(join(dest, name)).then(
        (st) => sizes.set(name, (sizes.get(name) ?? new Set()).add(st.size)),
        () => {},
      );
    });
    const order: number[] = [];
    const t0 = performance.now();
    const res = await replayDir(src, dest, { tr: 0.2, chunks: 4, writeFraction: 0.75, onFile: (e) => order.push(e.index) });
    const took = performance.now() - t0;
    w.close();
    expect(order).toEqual([0, 1, 2, 3, 10]);
    expect(took).toBeGreaterThanOrEqual(4 * 200);
    for (const f of res.files) expect(Buffer.compare(await readFile(f.path), await readFile(join(src, f.name)))).toBe(0);
    const partial = [...sizes.entries()].filter(([n, s]) => [...s].some((x) => x < 64 * 1024));
    expect(partial.length, 'some file seen partially written').toBeGreaterThan(0);
  });

  it('syncWrites (blocking writes, for a replay sharing its process): same files, byte-exact, in place and renamed in', async () => {
    for (const rename of [false, true]) {
      const dest = join(root, `sync-${rename}`);
      const res = await replayDir(src, dest, { tr: 0.02, chunks: 3, rename, syncWrites: true });
      expect(res.files.map((f) => f.index)).toEqual([0, 1, 2, 3, 10]);
      for (const f of res.files) {
        expect(Buffer.compare(await readFile(f.path), await readFile(join(src, f.name)))).toBe(0);
        expect(f.lastWriteAt).toBeLessThanOrEqual(f.closedAt);
      }
    }
  });

  it('--rename never shows a partial file under its final name', async () => {
    const dest = join(root, 'renamed');
    await mkdir(dest);
    const seen: [string, number][] = [];
    const w = watch(dest, (_ev, name) => {
      if (!name || name.startsWith('.')) return;
      stat(join(dest, name)).then((st) => seen.push([name, st.size]), () => {});
    });
    const io = capture();
    expect(await main(['replay', src, dest, '--tr', '0.05', '--rename', '--chunks', '3', '--write-fraction', '0.8'], io)).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    w.close();
    expect(io.stdout.at(-1)).toMatch(/replayed 5 file\(s\) \(pattern scan_\{TR:03d\}.dcm\)/);
    expect((await readdir(dest)).sort()).toEqual(['scan_000.dcm', 'scan_001.dcm', 'scan_002.dcm', 'scan_003.dcm', 'scan_010.dcm']);
    expect(seen.length).toBeGreaterThan(0);
    for (const [name, size] of seen) expect(size, name).toBe(64 * 1024 + Number(name.slice(5, 8)));
  });

  it('--first/--count select a range', async () => {
    const dest = join(root, 'range');
    const io = capture();
    expect(await main(['replay', src, dest, '--tr', '0', '--first', '1', '--count', '2', '--quiet'], io)).toBe(0);
    expect((await readdir(dest)).sort()).toEqual(['scan_001.dcm', 'scan_002.dcm']);
    expect(io.stdout).toEqual([]);
  });
});
