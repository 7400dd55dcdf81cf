import { describe, expect, it } from 'vitest';
import { anonymize, parseDicom } from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { getDicomAcquisitionTime, getDicomRepetitionTime, measureClockSkew, timeToNextTR } from '../src/timing.js';

const ds = (o: Record<string, unknown>) => ({ get: (k: string) => o[k] });

describe('timing helpers', () => {
  it('RepetitionTime in seconds', () => {
    expect(getDicomRepetitionTime(ds({ RepetitionTime: 1500 }))).toBe(1.5);
    expect(getDicomRepetitionTime(ds({ RepetitionTime: '2000' }))).toBe(2);
    expect(getDicomRepetitionTime(ds({}))).toBeUndefined();
  });

  it('AcquisitionDate + AcquisitionTime -> epoch seconds (given UTC offset)', () => {
    const t = getDicomAcquisitionTime(ds({ AcquisitionDate: '20190219', AcquisitionTime: '124750.327500' }), { utcOffsetMinutes: 60 });
    expect(t).toBeCloseTo(Date.UTC(2019, 1, 19, 11, 47, 50) / 1000 + 0.3275, 6);
  });

  it('without a date (anonymized), the day that puts the time nearest to now', () => {
    const now = Date.UTC(2026, 10, 28, 23, 59, 0) / 1000; // 23:59 UTC
    // 00:00:30 belongs to the next day (30 s after midnight), not 24 h earlier
    const t = getDicomAcquisitionTime(ds({ AcquisitionTime: '000030' }), { utcOffsetMinutes: 0, now });
    expect(t).toBe(Date.UTC(2026, 10, 29, 0, 0, 30) / 1000);
    const u = getDicomAcquisitionTime(ds({ AcquisitionTime: '235800.5' }), { utcOffsetMinutes: 0, now });
    expect(u).toBe(Date.UTC(2026, 10, 28, 23, 58, 0, 500) / 1000);
  });

  it('an anonymized volume (date shifted by years under Modified Dates) is placed on the day nearest to now', () => {
    // the scanner wrote it a second ago; the default profile shifts AcquisitionDate 10-20 years back
    const nowMs = Date.now();
    const d = new Date(nowMs - 1000);
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    const date = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
    const time = `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
    const file = syntheticEpiVolume(0, { tile: 16, slices: 4, date, startTime: time });
    const anon = parseDicom(anonymize(file));
    expect(anon.getString('AcquisitionDate')).not.toBe(date);
    expect(anon.getString('LongitudinalTemporalInformationModified')).toBe('MODIFIED');
    const t = getDicomAcquisitionTime(anon, { utcOffsetMinutes: 0, now: nowMs / 1000 })!;
    expect(Math.abs(t - (nowMs - 1000) / 1000)).toBeLessThan(0.01);
    // the original keeps its own date
    expect(Math.abs(getDicomAcquisitionTime(parseDicom(file), { utcOffsetMinutes: 0 })! - (nowMs - 1000) / 1000)).toBeLessThan(0.01);
  });

  it('time to the next TR accounts for the clock skew and missed TRs', () => {
    const acq = Date.UTC(2026, 10, 28, 12, 0, 0) / 1000;
    const d = ds({ AcquisitionDate: '20261128', AcquisitionTime: '120000', RepetitionTime: 2000 });
    // local clock 1 s behind the scanner; 0.5 s (scanner time) after the acquisition
    expect(timeToNextTR(d, 1, { now: acq + 0.5 - 1, utcOffsetMinutes: 0 })).toBeCloseTo(1.5, 6);
    // 5.2 s later: TRs at +2 and +4 were missed; the next starts at +6
    expect(timeToNextTR(d, 0, { now: acq + 5.2, utcOffsetMinutes: 0 })).toBeCloseTo(0.8, 6);
    expect(timeToNextTR(ds({ AcquisitionTime: '120000' }), 0)).toBeUndefined();
  });

  it('measureClockSkew keeps the sample with the shortest round trip', async () => {
    let calls = 0;
    const di = {
      ping: async () => Date.now() / 1000,
      getClockSkew: async (t: number, rtt: number) => {
        calls++;
        // the 2nd sample is slow: its answer must not win
        if (calls === 2) await new Promise((r) => setTimeout(r, 30));
        return 0.25 + (calls === 2 ? 10 : 0) + 0 * t * rtt;
      },
    };
    const m = await measureClockSkew(di, 3);
    expect(m.clockSkew).toBe(0.25);
    expect(m.roundTripTime).toBeLessThan(0.03);
  });
});
