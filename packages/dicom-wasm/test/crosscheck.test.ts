// Reading cross-checked with two independent readers run as subprocesses: pydicom (every element
// at every level: tag, VR, value, private elements decoded through the private dictionary) and
// dcmtk's dcmdump (structure: every element's nesting, tag and length, VRs of explicit files), on
// real files, pydicom's and nibabel's test files, files without meta or preamble, a meta without
// TransferSyntaxUID, and generated files in every transfer syntax. Skipped with a message when a
// tool is missing (Debian python3-pydicom, dcmtk).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parseDicom, type DicomDataset } from '../src/dataset.js';
import { DicomParseError } from '../src/errors.js';
import { sliceTimingOf } from '../src/mosaic.js';
import { syntheticEpiVolume } from '../src/synthetic.js';
import { DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE } from '../src/transfer-syntax.js';
import { writeDataSet, writeDicom } from '../src/writer.js';
import { PY, havePydicom } from './oracles.js';
import { everyVr } from './parse-fixtures.js';
import { findingsElements } from './phi-fixtures.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const PYDICOM_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files/';
const NIBABEL_FILES = '/usr/lib/python3/dist-packages/nibabel/nicom/tests/data/';
const haveDcmdump = spawnSync('dcmdump', ['--version']).status === 0;
if (!havePydicom) console.warn('crosscheck.test: python3-pydicom missing (apt-get install python3-pydicom): skipping the pydicom comparison');
if (!haveDcmdump) console.warn('crosscheck.test: dcmtk missing (apt-get install dcmtk): skipping the dcmdump comparison');

/** Files both readers should read alike: [name, bytes]. */
function corpus(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const ts of [EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE]) {
    out.push([`findings ${ts}`, writeDicom(findingsElements(3), { transferSyntaxUID: ts })]);
    out.push([`everyVr ${ts}`, writeDicom(everyVr({ undefinedSeq: true }), { transferSyntaxUID: ts })]);
  }
  out.push(['synthetic mosaic', syntheticEpiVolume(2, { tile: 16, slices: 9, seriesHeaderBytes: 1000 })]);
  // no preamble, no meta: bare data sets in the three native encodings
  for (const ts of [EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE]) out.push([`bare ${ts}`, writeDataSet(findingsElements(2), ts)]);
  const add = (dir: string, tag: string, re: RegExp) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).filter((n) => re.test(n)).sort()) {
      let b = readFileSync(join(dir, f));
      if (f.endsWith('.gz')) b = gunzipSync(b);
      out.push([`${tag} ${f}`, new Uint8Array(b)]);
    }
  };
  add(PYDICOM_FILES, 'pydicom', /\.dcm$/);
  add(NIBABEL_FILES, 'nibabel', /\.dcm(\.gz)?$/);
  add(SAMPLE, 'rtcloud', /^001_000013_00000[12]\.dcm$/);
  return out;
}

type Row = [number, number, string, string[]];

/** Values as comparable strings: numbers to 6 significant digits, text trimmed, binary by length. */
function norm(v: unknown, vr: string): string[] {
  if (v === undefined || v === null) return [];
  if (v instanceof Uint8Array) return v.length > 0 ? [`len:${v.length}`] : [];
  const list = Array.isArray(v) ? v : [v];
  if (list.length > 0 && list[0] instanceof Uint8Array) return []; // fragments
  return list.map((x) => (typeof x === 'number' || typeof x === 'bigint' ? String(Number(x)) : String(x).trim()));
}

function ours(ds: DicomDataset, depth: number, out: Row[]): Row[] {
  for (const e of ds.elements()) {
    if (e.items) {
      out.push([depth, e.tag, 'SQ', [`items:${e.items.length}`]]);
      for (const it of e.items) ours(it, depth + 1, out);
    } else if (e.fragments || e.tag === 0x7fe00010) out.push([depth, e.tag, e.vr, []]);
    else out.push([depth, e.tag, e.vr, norm(e.value, e.vr)]);
  }
  return out;
}

const PYDUMP = String.raw`
import sys, json, warnings
warnings.simplefilter('ignore')
import pydicom
from pydicom.multival import MultiValue
import re
from decimal import Decimal
def num(x):
    # the double as JavaScript's String(number) writes it (both give the shortest round trip)
    x = float(x)
    if x != x:
        return 'NaN'
    if x in (float('inf'), float('-inf')):
        return 'Infinity' if x > 0 else '-Infinity'
    if x == 0:
        return '0'
    r = repr(x)
    if 1e-6 <= abs(x) < 1e21:
        s = format(Decimal(r), 'f')
        if '.' in s:
            s = s.rstrip('0').rstrip('.')
        return s
    m, e = r.split('e')
    if m.endswith('.0'):
        m = m[:-2]
    return m + 'e' + ('-' if e.startswith('-') else '+') + str(abs(int(e)))
def norm(el):
    v = el.value
    if v is None:
        return []
    if isinstance(v, (bytes, bytearray)):
        return ['len:%d' % len(v)] if len(v) else []
    items = list(v) if isinstance(v, (MultiValue, list, tuple)) else [v]
    out = []
    for x in items:
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            out.append(num(x))
        elif el.VR in ('DS', 'IS'):
            try: out.append(num(x))
            except Exception: out.append(str(x).strip())
        else:
            out.append(str(x).strip())
    return out
def dump(ds, depth, out):
    for el in ds:
        if el.VR == 'SQ':
            out.append([depth, int(el.tag), 'SQ', ['items:%d' % len(el.value)]])
            for it in el.value:
                dump(it, depth + 1, out)
        elif int(el.tag) == 0x7fe00010:
            out.append([depth, int(el.tag), el.VR, []])
        else:
            out.append([depth, int(el.tag), el.VR, norm(el)])
    return out
res = {}
for f in sys.argv[1:]:
    try:
        d = pydicom.dcmread(f, force=True)
        out = dump(d.file_meta, 0, []) if getattr(d, 'file_meta', None) is not None else []
        res[f] = dump(d, 0, out)
    except Exception as e:
        res[f] = 'error: %s' % e
print(json.dumps(res))
`;

describe.skipIf(!havePydicom)('reading agrees with pydicom (skipped without python3-pydicom)', () => {
  it('every element at every level: tag, VR, value (private ones through the private dictionary)', () => {
    const files = corpus();
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-xc-'));
    try {
      const paths = files.map(([, b], i) => {
        const p = join(dir, `${i}.dcm`);
        writeFileSync(p, b);
        return p;
      });
      const r = spawnSync(PY, ['-c', PYDUMP, ...paths], { encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(r.status, r.stderr).toBe(0);
      const py = JSON.parse(r.stdout) as Record<string, Row[] | string>;
      let compared = 0;
      let elements = 0;
      const refused: string[] = [];
      const diffs: string[] = [];
      for (const [i, [name, bytes]] of files.entries()) {
        let ds: DicomDataset;
        try {
          ds = parseDicom(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DicomParseError);
          refused.push(name);
          continue;
        }
        const theirs = py[paths[i]];
        if (typeof theirs === 'string') {
          diffs.push(`${name}: pydicom ${theirs}`);
          continue;
        }
        const mine = ours(ds, 0, []);
        const n = Math.max(mine.length, theirs.length);
        for (let k = 0; k < n; k++) {
          const a = mine[k];
          const b = theirs[k];
          const where = `${name} #${k} ${(a ?? b)[1].toString(16).padStart(8, '0')}`;
          if (!a || !b || a[0] !== b[0] || a[1] !== b[1]) {
            diffs.push(`${where}: element ${JSON.stringify(a)} vs pydicom ${JSON.stringify(b)}`);
            break;
          }
          // pydicom reads a VR it does not know as UN, and a standard attribute stored as UN by its
          // dictionary VR (we keep the stream's VR and decode the value by the dictionary's)
          // PS3.5 A.1: pixel data in implicit VR is OW; pydicom calls it OB when BitsAllocated <= 8
          const sameVr = a[2] === b[2] || a[2] === 'UN' || (a[1] === 0x7fe00010 && !ds.explicitVR);
          if (!sameVr && !(b[2] === 'UN' || b[2].includes(' or '))) diffs.push(`${where}: VR ${a[2]} vs ${b[2]}`);
          else if (sameVr && JSON.stringify(a[3]) !== JSON.stringify(b[3])) diffs.push(`${where} ${a[2]}: ${JSON.stringify(a[3]).slice(0, 80)} vs ${JSON.stringify(b[3]).slice(0, 80)}`);
          elements++;
        }
        compared++;
      }
      console.log(`[dicom-wasm] pydicom cross-check: ${compared} files, ${elements} elements; refused ${JSON.stringify(refused)}; differences: ${diffs.length}`);
      // refused: truncated files, and pydicom's no_meta.dcm, whose first byte belongs to the meta it
      // was cut from (pydicom reads it only as one 38 KB element (0820,0500) running past the end)
      for (const name of refused) expect(['pydicom MR_truncated.dcm', 'pydicom rtplan_truncated.dcm', 'pydicom no_meta.dcm']).toContain(name);
      if (process.env.XC_DUMP) writeFileSync(process.env.XC_DUMP, diffs.join("\n"));
      expect(diffs).toEqual(KNOWN_DIFFERENCES.filter((d) => diffs.includes(d)));
      expect(compared).toBeGreaterThan(files.length - 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads files without meta or preamble, and a meta without TransferSyntaxUID, as pydicom does', () => {
    if (!existsSync(PYDICOM_FILES)) return;
    const m = parseDicom(new Uint8Array(readFileSync(PYDICOM_FILES + 'meta_missing_tsyntax.dcm')));
    expect(m.transferSyntaxUID).toBe(IMPLICIT_VR_LE);
    expect(m.has(0x7fe00010)).toBe(true);
    expect((m.get(0x00010001) as DicomDataset[])[0].get(0x00010002)).toBeInstanceOf(Uint8Array);
    for (const f of ['ExplVR_LitEndNoMeta.dcm', 'ExplVR_BigEndNoMeta.dcm', 'no_meta_group_length.dcm']) {
      const ds = parseDicom(new Uint8Array(readFileSync(PYDICOM_FILES + f)));
      expect(ds.size, f).toBeGreaterThan(5);
    }
    // truncated files stay refused
    for (const f of ['MR_truncated.dcm', 'rtplan_truncated.dcm']) expect(() => parseDicom(new Uint8Array(readFileSync(PYDICOM_FILES + f)))).toThrow(DicomParseError);
  });
});

/** Differences that are pydicom's (listed so a new one fails the test). */
const KNOWN_DIFFERENCES: string[] = [
  // IS '1A' is not a number: we return NaN (documented), pydicom the text
  'pydicom badVR.dcm #36 00280008 IS: ["NaN"] vs ["1A"]',
];

/** Differences that are dcmtk's. */
const DCMDUMP_KNOWN: string[] = [
  // the meta says JPEG Baseline over an implicit VR data set; dcmtk refuses it, pydicom and we read it
  'pydicom SC_rgb_jpeg.dcm: dcmdump failed: ',
  // ReferencedRTPlanSequence stored as UN of defined length: dcmtk shows its bytes, pydicom and we its items
  'pydicom rtdose_rle.dcm #52: [1,528720,"UI",30] vs dcmdump [0,2145386512,"OB",-1]',
  'pydicom rtdose_rle_1frame.dcm #51: [1,528720,"UI",30] vs dcmdump [0,2145386512,"OB",-1]',
];

const DCMDUMP_LINE = /^(\s*)\(([0-9a-f]{4}),([0-9a-f]{4})\) (\S\S) .*#\s*(u\/l|\d+),/s;

describe.skipIf(!haveDcmdump)('structure agrees with dcmtk dcmdump (skipped without dcmtk)', () => {
  it('every element: nesting, tag, length; VRs of explicit-VR files', () => {
    const files = corpus().filter(([name]) => !/MR_truncated|rtplan_truncated|no_meta\.dcm/.test(name));
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-dd-'));
    let compared = 0;
    const diffs: string[] = [];
    try {
      for (const [i, [name, bytes]] of files.entries()) {
        const ds = parseDicom(bytes);
        const p = join(dir, `${i}.dcm`);
        writeFileSync(p, bytes);
        const r = spawnSync('dcmdump', ['-q', '+L', '-M', ...(ds.dataSetOffset === 0 ? ['-f', '-t='] : []), p], { encoding: 'utf8', maxBuffer: 1 << 26 });
        if (r.status !== 0) {
          diffs.push(`${name}: dcmdump failed: ${r.stderr.split('\n')[0]}`);
          continue;
        }
        const theirs: [number, number, string, number][] = [];
        // a value with a line break continues on the next lines: join up to the '#' comment
        const lines: string[] = [];
        for (const line of r.stdout.split('\n')) {
          if (lines.length > 0 && /^\s*\(/.test(lines[lines.length - 1]) && !/#\s*(u\/l|\d+),/.test(lines[lines.length - 1])) lines[lines.length - 1] += ' ' + line;
          else lines.push(line);
        }
        for (const line of lines) {
          const m = DCMDUMP_LINE.exec(line);
          if (!m || m[2] === 'fffe') continue;
          // dcmdump indents an item by 2 and its elements by 4
          theirs.push([m[1].length / 4, parseInt(m[2] + m[3], 16), m[4], m[5] === 'u/l' ? -1 : Number(m[5])]);
        }
        const mine: [number, number, string, number][] = [];
        const walk = (d: DicomDataset, depth: number) => {
          for (const e of d.elements()) {
            mine.push([depth, e.tag, e.vr, e.length]);
            for (const it of e.items ?? []) walk(it, depth + 1);
          }
        };
        walk(ds, 0);
        for (let k = 0; k < Math.max(mine.length, theirs.length); k++) {
          const a = mine[k];
          const b = theirs[k];
          // dcmtk reports an odd length + 1 (it pads the value)
          if (!a || !b || a[0] !== b[0] || a[1] !== b[1] || (a[3] !== b[3] && !(a[3] & 1 && b[3] === a[3] + 1))) {
            diffs.push(`${name} #${k}: ${JSON.stringify(a)} vs dcmdump ${JSON.stringify(b)}`);
            break;
          }
          // dcmtk calls encapsulated pixel data OB, and an undefined-length UN holding items SQ
          if (ds.explicitVR && a[2] !== b[2] && b[2] !== '??' && a[1] !== 0x7fe00010 && !(a[2] === 'UN' && b[2] === 'SQ')) diffs.push(`${name} #${k}: VR ${a[2]} vs ${b[2]}`);
        }
        compared++;
      }
      console.log(`[dicom-wasm] dcmdump cross-check: ${compared} files; differences: ${diffs.length}`);
      if (process.env.XC_DUMP) writeFileSync(process.env.XC_DUMP + '.dcmdump', diffs.join('\n'));
      expect(diffs).toEqual(DCMDUMP_KNOWN.filter((d) => diffs.includes(d)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('private dictionary and slice timing', () => {
  it('decodes Siemens private elements by keyword when their creator matches, in implicit VR too', () => {
    const els = [
      { tag: 'SOPClassUID', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
      { tag: 0x00190010, vr: 'LO', value: 'SIEMENS MR HEADER' },
      { tag: 0x0019100a, vr: 'US', value: 3 },
      { tag: 0x0019100c, vr: 'IS', value: '1000' },
      { tag: 0x0019100e, vr: 'FD', value: [1, 0, 0] },
      { tag: 0x00191029, vr: 'FD', value: [0, 500, 1000] },
      // the same element numbers under another creator mean something else
      { tag: 0x00190011, vr: 'LO', value: 'SOMEONE ELSE' },
      { tag: 0x0019110a, vr: 'US', value: 99 },
    ];
    for (const ts of [IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE]) {
      const ds = parseDicom(writeDicom(els, { transferSyntaxUID: ts }));
      expect(ds.get('NumberOfImagesInMosaic'), ts).toBe(3);
      expect(ds.get('B_value'), ts).toBe(1000);
      expect(ds.get('DiffusionGradientDirection'), ts).toEqual([1, 0, 0]);
      expect(ds.get('MosaicRefAcqTimes'), ts).toEqual([0, 500, 1000]);
      expect(ds.element(0x00191029)!.keyword).toBe('MosaicRefAcqTimes');
      expect(ds.element(0x0019110a)!.keyword).toBeUndefined();
      expect(sliceTimingOf(ds)).toEqual([0, 500, 1000]);
    }
  });

  it.skipIf(!existsSync(NIBABEL_FILES))("gives the slice timing of nibabel's Siemens mosaics (implicit VR)", () => {
    const ds = parseDicom(new Uint8Array(readFileSync(NIBABEL_FILES + '0.dcm')));
    expect(ds.get('NumberOfImagesInMosaic')).toBe(48);
    const t = sliceTimingOf(ds)!;
    expect(t).toHaveLength(48);
    expect(t[0]).toBeCloseTo(6487.5, 3);
    const dwi = parseDicom(gunzipSync(readFileSync(NIBABEL_FILES + 'siemens_dwi_1000.dcm.gz')));
    expect(dwi.get('B_value')).toBe(1000);
    expect((dwi.get('DiffusionGradientDirection') as number[]).map((x) => Math.round(x * 1e4))).toEqual([10000, 51, -51]);
  });
});
