// rt-cloud's rtCommon/utils.py and imageHandling.py timing helpers that experiment scripts call
// (sample.py: calcAvgRoundTripTime, dicomTimeToNextTr), with Python's datetime.time as a plain
// { hour, minute, second, microsecond }. Times in seconds. No Node or DOM imports.

import { StateError, ValidationError } from '@rtfmri/transport';

/** Python's datetime.time. */
export interface DTime {
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

/** datetime.time(hour, minute, second, microsecond). */
export function dtime(hour: number, minute = 0, second = 0, microsecond = 0): DTime {
  return { hour, minute, second, microsecond };
}

/** rt-cloud's utils.dtimeToSeconds: seconds since the day began. */
export function dtimeToSeconds(valTime: DTime): number {
  return valTime.hour * 3600 + valTime.minute * 60 + valTime.second + valTime.microsecond / 1e6;
}

/** This computer's local time of day (datetime.now().time()). */
export function nowTime(): DTime {
  const d = new Date();
  return dtime(d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds() * 1000);
}

/**
 * rt-cloud's utils.getTimeToNextTR(lastTrTime, trRepSec, nowTime, clockSkew): seconds to the next TR
 * start, given the start of the last TR (scanner clock), the TR in seconds, now (this computer's
 * clock) and how many seconds the scanner's clock is ahead. A lastTrTime later than now is a
 * ValidationError, a missing one a StateError, as in rt-cloud.
 */
export function getTimeToNextTR(lastTrTime: DTime | null | undefined, trRepSec: number, nowTimeValue: DTime, clockSkew: number): number {
  if (!lastTrTime || typeof lastTrTime !== 'object') throw new StateError('getTimeToNextTR: lastTrTime is None');
  const nowTsec = dtimeToSeconds(nowTimeValue);
  const lastTrTsec = dtimeToSeconds(lastTrTime);
  let secSinceTr = nowTsec + clockSkew - lastTrTsec;
  if (secSinceTr < 0) throw new ValidationError(`lastTrTime later than current time: ${secSinceTr}`);
  secSinceTr %= trRepSec;
  return trRepSec - secSinceTr;
}

/** A DICOM TM ('124756.327500') as a DTime (rt-cloud's getDicomAcquisitionTime returns this). */
export function parseDicomTime(tm: string): DTime | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?$/.exec(tm.trim().replace(/:/g, ''));
  if (!m) return undefined;
  return dtime(Number(m[1]), Number(m[2]), Number(m[3]), m[4] ? Number(m[4].padEnd(6, '0')) : 0);
}

interface HasGet {
  get(key: string): unknown;
}

/**
 * rt-cloud's imageHandling.dicomTimeToNextTr(dicomImg, clockSkew, now=None): seconds to the next TR
 * from the image's AcquisitionTime and RepetitionTime, with times of day as rt-cloud computes them.
 * (The SDK's timeToNextTR(ds, clockSkew) does the same on epoch seconds and copes with midnight.)
 */
export function dicomTimeToNextTr(dicomImg: HasGet, clockSkew: number, now?: DTime): number {
  const acq = dicomImg.get('AcquisitionTime');
  const acqTm = typeof acq === 'string' ? parseDicomTime(acq) : undefined;
  const rep = Number(dicomImg.get('RepetitionTime'));
  if (!Number.isFinite(rep)) throw new StateError('dicomTimeToNextTr: no RepetitionTime');
  return getTimeToNextTR(acqTm, rep / 1000, now ?? nowTime(), clockSkew);
}

/** rt-cloud's utils.calcAvgRoundTripTime(pingFunc): the mean of 10 calls' round trips, seconds. */
export async function calcAvgRoundTripTime(pingFunc: () => unknown): Promise<number> {
  const numCalls = 10;
  let acc = 0;
  for (let i = 0; i < numCalls; i++) {
    const t1 = performance.now();
    await pingFunc();
    acc += (performance.now() - t1) / 1000;
  }
  return acc / numCalls;
}
