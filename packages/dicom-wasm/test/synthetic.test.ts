import { describe, expect, it } from 'vitest';
import dcmjs from 'dcmjs';
import dicomParser from 'dicom-parser';
import { csaValues, parseCsaHeader } from '../src/csa.js';
import { mosaicToVolume } from '../src/mosaic.js';
import {
  blockDesign,
  roiMask,
  roiMean,
  sliceTimes,
  syntheticEpiSeries,
  syntheticEpiVolume,
  syntheticMosaicPixels,
  syntheticRoi,
  type SyntheticEpiOptions,
} from '../src/synthetic.js';

const SMALL: SyntheticEpiOptions = { tile: 16, slices: 9, volumes: 6, block: 2, seriesHeaderBytes: 2000, trMs: 2000 };

function parse(bytes: Uint8Array) {
  return dicomParser.parseDicom(bytes);
}

describe('synthetic EPI series', () => {
  it('is deterministic for the same options and differs with the seed', () => {
    const a = syntheticEpiVolume(3, SMALL);
    const b = syntheticEpiVolume(3, SMALL);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const c = syntheticEpiVolume(3, { ...SMALL, seed: 2 });
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('at full size is a ~457 KB 384x384 mosaic of 36 64x64 slices that dcmjs reads', () => {
    const bytes = syntheticEpiVolume(0);
    expect(bytes.length).toBeGreaterThan(440_000);
    expect(bytes.length).toBeLessThan(470_000);
    const ds = parse(bytes);
    expect(ds.uint16('x00280010')).toBe(384);
    expect(ds.uint16('x00280011')).toBe(384);
    expect(ds.string('x00080008')).toContain('MOSAIC');
    expect(ds.elements.x7fe00010.length).toBe(384 * 384 * 2);
    const el = ds.elements.x00291010;
    const csa = parseCsaHeader(bytes.subarray(el.dataOffset, el.dataOffset + el.length));
    expect(csaValues(csa, 'NumberOfImagesInMosaic')).toEqual([36]);
    expect(csaValues(csa, 'MosaicRefAcqTimes')).toEqual(sliceTimes());
    const { dict } = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    expect(dict['00100010'].Value[0].Alphabetic).toBe('Doe^Jane');
    expect(dict['00290010'].Value[0]).toBe('SIEMENS CSA HEADER');
  });

  it('numbers instances from 1 and advances AcquisitionTime by TR', () => {
    const series = syntheticEpiSeries({ ...SMALL, startTime: '235958.500000' });
    expect(series).toHaveLength(6);
    const parsed = series.map(parse);
    expect(parsed.map((d) => d.intString('x00200013'))).toEqual([1, 2, 3, 4, 5, 6]);
    // 2 s TR across midnight: the time wraps as a scanner clock does.
    expect(parsed.map((d) => d.string('x00080032'))).toEqual([
      '235958.500000', '000000.500000', '000002.500000', '000004.500000', '000006.500000', '000008.500000',
    ]);
    expect(parsed[0].floatString('x00180080')).toBe(2000);
    expect(new Set(parsed.map((d) => d.string('x00080018'))).size).toBe(6);
    expect(parsed[0].string('x00080018')).toContain('.45031.');
  });

  it('carries identifying attributes for the anonymizer to remove', () => {
    const ds = parse(syntheticEpiVolume(0, SMALL));
    for (const [tag, text] of [
      ['x00100010', 'Doe^Jane'], ['x00100020', 'RTFMRI0001'], ['x00100030', '19880514'], ['x00080080', 'Springfield General Hospital'],
      ['x00081010', 'AWP45031'], ['x00181000', '45031'], ['x00081070', 'Operator^Olivia'], ['x00080090', 'Referrer^Robert'],
      ['x00081050', 'Performer^Paul'], ['x00101000', 'MRN-99887766'], ['x00081030', 'Doe_Smith^1234_rtfmri'], ['x00331010', 'Doe^Jane scanned by Operator^Olivia'],
    ] as const) expect(ds.string(tag)).toBe(text);
  });

  it('puts a block-design signal of the requested size in the ROI and nowhere else', () => {
    const opts: SyntheticEpiOptions = { ...SMALL, tile: 32, slices: 12, noise: 2, signalChange: 0.05 };
    const mask = roiMask(opts);
    const roi = syntheticRoi(opts);
    const count = mask.reduce((a, b) => a + b, 0);
    expect(count).toBe((roi.slice1 - roi.slice0) * (roi.row1 - roi.row0) * (roi.col1 - roi.col0));
    const tile = 32;
    const grid = 4;
    const roiMean = (index: number) => {
      const px = syntheticMosaicPixels(index, opts);
      let sum = 0;
      for (let s = 0; s < 12; s++)
        for (let r = 0; r < tile; r++)
          for (let c = 0; c < tile; c++)
            if (mask[(s * tile + r) * tile + c]) sum += px[(Math.floor(s / grid) * tile + r) * grid * tile + (s % grid) * tile + c];
      return sum / count;
    };
    expect([0, 1, 2, 3, 4, 5].map((i) => blockDesign(i, opts))).toEqual([0, 0, 1, 1, 0, 0]);
    const off = (roiMean(0) + roiMean(1)) / 2;
    const on = (roiMean(2) + roiMean(3)) / 2;
    expect(on / off - 1).toBeGreaterThan(0.04);
    expect(on / off - 1).toBeLessThan(0.06);
    // A voxel outside the ROI, in the brain, does not follow the design.
    const outside = (i: number) => syntheticMosaicPixels(i, opts)[(tile / 2) * grid * tile + tile / 4];
    expect(Math.abs(outside(2) / outside(0) - 1)).toBeLessThan(0.02);
  });

  it('shows the design in the ROI mean of mosaicToVolume output (what the demo plots)', () => {
    const opts: SyntheticEpiOptions = { tile: 32, slices: 12, volumes: 8, block: 2, noise: 2, seriesHeaderBytes: 500 };
    const mask = roiMask(opts);
    const means = syntheticEpiSeries(opts).map((b) => roiMean(mosaicToVolume(b).data, mask));
    const on = means.filter((_, i) => blockDesign(i, opts) === 1);
    const off = means.filter((_, i) => blockDesign(i, opts) === 0);
    expect(Math.min(...on)).toBeGreaterThan(Math.max(...off));
    const avg = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
    expect(avg(on) / avg(off) - 1).toBeCloseTo(0.03, 2);
    expect(() => roiMean(new Uint16Array(3), new Uint8Array(4))).toThrow(RangeError);
  });

  it('gives interleaved slice times within one TR', () => {
    const t = sliceTimes({ slices: 5, trMs: 1000 });
    expect(t).toEqual([0, 600, 200, 800, 400]);
  });
});
