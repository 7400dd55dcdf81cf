// Frames from the browser SDK's worker carry acquisition time, TR index and lateness (issue 14).
// The worker's API runs here in Node against a stub of the remote DataInterface.
import { describe, expect, it } from 'vitest';
import { parseDicom, ready } from '@rtfmri/dicom-wasm';
import { syntheticEpiSeries } from '@rtfmri/dicom-wasm/synthetic';
import { WorkerApi } from '../src/browser/worker-api.js';
import { getDicomAcquisitionTime } from '../src/timing.js';
import * as browser from '../src/browser/index.js';

const SMALL = { tile: 16, slices: 4, volumes: 3 };

function stubWorker(skew: number) {
  const series = syntheticEpiSeries(SMALL);
  let pings = 0;
  const remote = {
    runtimeInstance: 'r1',
    connected: true,
    async getImageData(_id: number, index: number) {
      return parseDicom(series[index]);
    },
    async ping() {
      pings++;
      return Date.now() / 1000;
    },
    async getClockSkew() {
      return skew;
    },
  };
  const api = new WorkerApi();
  (api as unknown as { remote: unknown }).remote = remote;
  return { api, series, pings: () => pings };
}

describe('browser frames: timing', () => {
  it('carry trIndex, acquisitionTime, repetitionTime, the measured skew, age and a late mark', async () => {
    await ready();
    const { api, series, pings } = stubWorker(2.5);
    const f0 = await api.getVolumeFrame(1, 0, 5, {});
    const f1 = await api.getVolumeFrame(1, 1, 5, { lateAfterMs: Number.MAX_VALUE });
    expect(f0.trIndex).toBe(0);
    expect(f1.trIndex).toBe(1);
    expect(f0.clockSkew).toBe(2.5);
    const ds0 = parseDicom(series[0]);
    expect(f0.acquisitionTime).toBeCloseTo(getDicomAcquisitionTime(ds0)!, 6);
    expect(f0.repetitionTime).toBeGreaterThan(0);
    // Volume 1 was acquired one TR after volume 0.
    expect(f1.acquisitionTime! - f0.acquisitionTime!).toBeCloseTo(f0.repetitionTime!, 3);
    expect(f0.ageMs).toBeCloseTo(f0.receivedAt - (f0.acquisitionTime! - 2.5) * 1000, 3);
    // The synthetic run was acquired in 2019: far later than two TRs, so late, unless the threshold says otherwise.
    expect(f0.late).toBe(true);
    expect(f1.late).toBe(false);
    // The skew is measured once per runtime instance (3 samples), not per frame.
    expect(pings()).toBe(3);
  });

  it('the browser entry exports the timing helpers and the feedback classes', () => {
    for (const name of ['measureClockSkew', 'timeToNextTR', 'getDicomAcquisitionTime', 'getDicomRepetitionTime', 'nowSeconds', 'SubjectInterface', 'WebDisplayInterface']) {
      expect(typeof (browser as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
