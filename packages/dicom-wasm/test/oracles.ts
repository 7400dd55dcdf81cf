// The other readers the tests hold our output against: dicom-parser (dev dependency) and, when
// installed, pydicom (Debian python3-pydicom).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dicomParser from 'dicom-parser';
import { inflateSync } from 'fflate';

/** dicom-parser, with fflate for deflated transfer syntaxes (it brings no inflater of its own). */
export function readDicomParser(bytes: Uint8Array): dicomParser.DataSet {
  return dicomParser.parseDicom(bytes, {
    inflater: (arr: Uint8Array, pos: number) => {
      const inflated = inflateSync(arr.subarray(pos));
      const out = new Uint8Array(pos + inflated.length);
      out.set(arr.subarray(0, pos));
      out.set(inflated, pos);
      return out;
    },
  } as dicomParser.ParseDicomOptions);
}

export const PY = '/usr/bin/python3';
export const havePydicom = spawnSync(PY, ['-c', 'import pydicom']).status === 0;

/**
 * Reads each file with pydicom, warnings as errors, touching every value, then runs `perFile`
 * (Python statements with `d` the data set and `f` the path). Returns what it prints:
 * `ok <number of files>` when every file passed.
 */
export function pydicomCheck(files: Uint8Array[], perFile: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'rtfmri-pydicom-'));
  try {
    const paths = files.map((b, i) => {
      const p = join(dir, `${i}.dcm`);
      writeFileSync(p, b);
      return p;
    });
    const script = [
      'import sys, warnings, pydicom',
      'warnings.simplefilter("error")',
      'for f in sys.argv[1:]:',
      '    d = pydicom.dcmread(f)',
      '    d.walk(lambda ds, el: el.value)',
      ...perFile.map((l) => `    ${l}`),
      'print("ok", len(sys.argv) - 1)',
    ].join('\n');
    return execFileSync(PY, ['-c', script, ...paths], { encoding: 'utf8' }).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
