import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDicom } from '../src/dataset.js';
import { MosaicError, mosaicInfo, mosaicToVolume } from '../src/mosaic.js';
import { sliceTimes, syntheticEpiElements, syntheticEpiVolume, type SyntheticEpiOptions } from '../src/synthetic.js';
import { EXPLICIT_VR_BE as TS_EXPLICIT_BE, EXPLICIT_VR_LE as TS_EXPLICIT_LE, IMPLICIT_VR_LE as TS_IMPLICIT_LE } from '../src/transfer-syntax.js';
import { writeDicom, type WriteElement } from '../src/writer.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const haveSample = existsSync(SAMPLE + '001_000013_000001.dcm');
if (!haveSample) console.warn(`mosaic.test: ${SAMPLE} absent, skipping the real-file checks`);

/** A mosaic whose every pixel encodes (slice, row, column), so a wrong cut shows. */
function patterned(opts: SyntheticEpiOptions, transform?: (els: WriteElement[]) => WriteElement[], ts = TS_EXPLICIT_LE) {
  const tile = opts.tile!;
  const slices = opts.slices!;
  const grid = Math.ceil(Math.sqrt(slices));
  const size = grid * tile;
  const px = new Uint16Array(size * size).fill(65535);
  for (let s = 0; s < slices; s++)
    for (let r = 0; r < tile; r++)
      for (let c = 0; c < tile; c++) px[(Math.floor(s / grid) * tile + r) * size + (s % grid) * tile + c] = s * 256 + r * 16 + c;
  let els = syntheticEpiElements(0, opts).map((e) => (e.tag === 'PixelData' ? { ...e, value: px } : e));
  if (transform) els = transform(els);
  return writeDicom(els, { transferSyntaxUID: ts });
}

function expectPattern(vol: ReturnType<typeof mosaicToVolume>, slices: number, tile: number) {
  expect([vol.slices, vol.rows, vol.cols]).toEqual([slices, tile, tile]);
  expect(vol.data.length).toBe(slices * tile * tile);
  for (let s = 0; s < slices; s++)
    for (let r = 0; r < tile; r++)
      for (let c = 0; c < tile; c++) if (vol.data[(s * tile + r) * tile + c] !== s * 256 + r * 16 + c) throw new Error(`wrong voxel ${s},${r},${c}`);
}

describe('mosaicToVolume', () => {
  for (const [slices, ts] of [[9, TS_EXPLICIT_LE], [7, TS_EXPLICIT_LE], [27, TS_EXPLICIT_LE], [7, TS_IMPLICIT_LE], [7, TS_EXPLICIT_BE]] as const) {
    it(`cuts a ${slices}-slice mosaic into slices that hold what was written (${ts})`, () => {
      const opts = { tile: 16, slices, seriesHeaderBytes: 500 };
      const vol = mosaicToVolume(patterned(opts, undefined, ts));
      expect(vol.grid).toBe(Math.ceil(Math.sqrt(slices)));
      expectPattern(vol, slices, 16);
      expect(vol.data).toBeInstanceOf(Uint16Array);
      expect(vol.sliceTimes).toEqual(sliceTimes(opts));
    });
  }

  it('takes the slice count from the SIEMENS MR HEADER when the CSA header is gone', () => {
    const opts = { tile: 16, slices: 7, seriesHeaderBytes: 500 };
    const bytes = patterned(opts, (els) => els.filter((e) => typeof e.tag !== 'number' || (e.tag >>> 16) !== 0x0029));
    const ds = parseDicom(bytes);
    expect(mosaicInfo(ds)?.source).toBe('SIEMENS MR HEADER');
    expectPattern(mosaicToVolume(ds), 7, 16);
  });

  it('keeps signed pixels signed', () => {
    const opts = { tile: 8, slices: 4, seriesHeaderBytes: 500 };
    const bytes = writeDicom(
      syntheticEpiElements(0, opts).map((e) =>
        e.tag === 'PixelRepresentation' ? { ...e, value: 1 } : e.tag === 'PixelData' ? { ...e, value: new Int16Array(16 * 16).fill(-5) } : e,
      ),
      { transferSyntaxUID: TS_EXPLICIT_LE },
    );
    const vol = mosaicToVolume(bytes);
    expect(vol.data).toBeInstanceOf(Int16Array);
    expect(vol.data[0]).toBe(-5);
  });

  it('refuses a file without a mosaic slice count with a MosaicError', () => {
    const bytes = patterned({ tile: 16, slices: 9, seriesHeaderBytes: 500 }, (els) =>
      els.filter((e) => typeof e.tag !== 'number' || ((e.tag >>> 16) !== 0x0029 && (e.tag >>> 16) !== 0x0019)),
    );
    expect(() => mosaicToVolume(bytes)).toThrow(MosaicError);
    expect(() => mosaicToVolume(bytes)).toThrow(/NumberOfImagesInMosaic/);
  });

  it('refuses a grid that does not divide the image', () => {
    const bytes = patterned({ tile: 16, slices: 9, seriesHeaderBytes: 500 }, (els) =>
      els.map((e) => (e.tag === 'Rows' ? { ...e, value: 47 } : e)),
    );
    expect(() => mosaicToVolume(bytes)).toThrow(/grid does not divide/);
  });

  it('handles a full-size synthetic volume (36 slices of 64x64)', () => {
    const vol = mosaicToVolume(syntheticEpiVolume(0));
    expect([vol.slices, vol.rows, vol.cols, vol.grid]).toEqual([36, 64, 64, 6]);
  });

  it.skipIf(!haveSample)('reads the real Skyra run: 27 slices of 64x64 with their acquisition times', () => {
    for (const n of ['01', '05', '10']) {
      const bytes = new Uint8Array(readFileSync(`${SAMPLE}001_000013_0000${n}.dcm`));
      const ds = parseDicom(bytes);
      const vol = mosaicToVolume(ds);
      expect([vol.slices, vol.rows, vol.cols, vol.grid]).toEqual([27, 64, 64, 6]);
      expect(vol.sliceTimes).toHaveLength(27);
      expect(vol.sliceTimes![1]).toBeCloseTo(765, 3);
      // slice 0 is the mosaic's top-left tile
      const px = ds.pixelData() as Uint16Array;
      expect(Array.from(vol.data.subarray(64, 128))).toEqual(Array.from(px.subarray(384, 384 + 64)));
      // slice 7 is the second tile of the second tile row
      expect(Array.from(vol.data.subarray(7 * 4096 + 3 * 64, 7 * 4096 + 4 * 64))).toEqual(
        Array.from(px.subarray((64 + 3) * 384 + 64, (64 + 3) * 384 + 128)),
      );
    }
  });
});

// nibabel's Siemens reader (Debian python3-nibabel) as an independent oracle for the CSA format and the cut.
const PY = '/usr/bin/python3';
const haveNibabel = spawnSync(PY, ['-c', 'import nibabel.nicom.dicomwrappers, pydicom']).status === 0;
describe.skipIf(!haveNibabel)('mosaicToVolume agrees with nibabel (skipped without python3-nibabel)', () => {
  it('on synthetic volumes, their anonymized copies and the real run', async () => {
    const { anonymize } = await import('../src/anonymize/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-nib-'));
    try {
      const files: [string, Uint8Array][] = [
        ['syn36', syntheticEpiVolume(3)],
        ['syn7', syntheticEpiVolume(0, { tile: 16, slices: 7, seriesHeaderBytes: 500 })],
      ];
      files.push(['syn36-anon', anonymize(files[0][1])]);
      if (haveSample) {
        const real = new Uint8Array(readFileSync(`${SAMPLE}001_000013_000004.dcm`));
        files.push(['real', real], ['real-anon', anonymize(real)]);
      }
      for (const [name, bytes] of files) writeFileSync(join(dir, name + '.dcm'), bytes);
      const script = [
        'import sys, json, warnings',
        'warnings.simplefilter("ignore")',
        'import pydicom, nibabel.nicom.dicomwrappers as dw, nibabel.nicom.csareader as csar',
        'out = {}',
        'for f in sys.argv[1:]:',
        '    d = pydicom.dcmread(f)',
        '    w = dw.wrapper_from_data(d)',
        '    a = w.get_data()',
        '    h = csar.get_csa_header(d)',
        '    out[f] = {"kind": type(w).__name__, "n": int(csar.get_n_mosaic(h)), "shape": list(a.shape),',
        '              "sums": [int(a[:, :, k].sum()) for k in range(a.shape[2])],',
        '              "times": [float(x) for x in h["tags"]["MosaicRefAcqTimes"]["items"]]}',
        'print(json.dumps(out))',
      ].join('\n');
      const paths = files.map(([n]) => join(dir, n + '.dcm'));
      const result = JSON.parse(execFileSync(PY, ['-c', script, ...paths], { encoding: 'utf8' }));
      for (const [i, [, bytes]] of files.entries()) {
        const nib = result[paths[i]];
        const vol = mosaicToVolume(bytes);
        expect(nib.kind).toBe('MosaicWrapper');
        expect(nib.n).toBe(vol.slices);
        expect(nib.shape).toEqual([vol.rows, vol.cols, vol.slices]);
        const sums = Array.from({ length: vol.slices }, (_, s) => {
          let t = 0;
          for (let k = s * vol.rows * vol.cols; k < (s + 1) * vol.rows * vol.cols; k++) t += vol.data[k];
          return t;
        });
        expect(sums).toEqual(nib.sums);
        expect(vol.sliceTimes!.map((t) => Math.round(t * 1e6))).toEqual(nib.times.map((t: number) => Math.round(t * 1e6)));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
