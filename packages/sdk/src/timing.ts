// Clock skew and time-to-next-TR helpers (rt-cloud's clientInterface / imageHandling
// equivalents). Times are seconds since the epoch, as in the Python original. No Node imports.

/** What these helpers need from a DataInterface (local or remote). */
export interface ClockSource {
  getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number>;
  ping(): Promise<number>;
}

export const nowSeconds = (): number => (performance.timeOrigin + performance.now()) / 1000;

/**
 * Seconds the scanner's clock is ahead of this computer's clock, as rt-cloud measures it: a few
 * pings give the round-trip time, then getClockSkew(now, rtt) on the runtime (which adds its
 * configured scannerClockSkew). The sample with the shortest round trip wins (least queuing).
 */
export async function measureClockSkew(di: ClockSource, samples = 5): Promise<{ clockSkew: number; roundTripTime: number }> {
  let best = { clockSkew: 0, roundTripTime: Infinity };
  for (let i = 0; i < Math.max(1, samples); i++) {
    const t0 = nowSeconds();
    await di.ping();
    const rtt = nowSeconds() - t0;
    const t1 = nowSeconds();
    const skew = await di.getClockSkew(t1, rtt);
    const rtt2 = nowSeconds() - t1;
    if (rtt2 < best.roundTripTime) best = { clockSkew: skew, roundTripTime: rtt2 };
  }
  return best;
}

/** What the timing helpers read from a dataset. */
export interface HasGet {
  get(keywordOrTag: string): unknown;
}

function first(v: unknown): unknown {
  return Array.isArray(v) ? v[0] : v;
}

/** RepetitionTime in seconds (DICOM stores milliseconds), or undefined. */
export function getDicomRepetitionTime(ds: HasGet): number | undefined {
  const v = Number(first(ds.get('RepetitionTime')));
  return Number.isFinite(v) && v > 0 ? v / 1000 : undefined;
}

function parseTm(tm: string): number | undefined {
  const m = /^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?/.exec(tm.trim().replace(/:/g, ''));
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + (m[4] ? Number(`0.${m[4]}`) : 0);
}

/**
 * AcquisitionDate + AcquisitionTime as epoch seconds on the scanner's clock, in the local time
 * zone (or `utcOffsetMinutes`). Anonymization keeps the time and shifts the date by years (PS3.15
 * Modified Dates; the data set then says LongitudinalTemporalInformationModified MODIFIED) or
 * removes it: without a trustworthy date, the day is the one that puts the time nearest to `now`
 * (a run does not span days).
 */
export function getDicomAcquisitionTime(ds: HasGet, opts: { utcOffsetMinutes?: number; now?: number } = {}): number | undefined {
  const tm = first(ds.get('AcquisitionTime'));
  if (typeof tm !== 'string' || !tm) return undefined;
  const secs = parseTm(tm);
  if (secs === undefined) return undefined;
  const now = opts.now ?? nowSeconds();
  const da = first(ds.get('AcquisitionDate'));
  const offsetFor = (utcMs: number) => (opts.utcOffsetMinutes ?? -new Date(utcMs).getTimezoneOffset()) * 60;
  const at = (y: number, mo: number, d: number) => {
    const utc = Date.UTC(y, mo, d) / 1000 + secs;
    return utc - offsetFor(utc * 1000);
  };
  const temporal = first(ds.get('LongitudinalTemporalInformationModified'));
  const dateIsTrue = typeof temporal !== 'string' || !/^(MODIFIED|REMOVED)$/.test(temporal.trim());
  if (dateIsTrue && typeof da === 'string' && /^\d{8}$/.test(da.trim())) {
    const s = da.trim();
    return at(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8)));
  }
  const local = new Date((now + offsetFor(now * 1000)) * 1000);
  const candidates = [-1, 0, 1].map((dd) => at(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + dd));
  return candidates.reduce((a, b) => (Math.abs(b - now) < Math.abs(a - now) ? b : a));
}

/**
 * Seconds until the next TR starts, given the last volume's dataset (its AcquisitionTime and
 * RepetitionTime) and the clock skew (scanner minus local, from measureClockSkew). Negative
 * never: when TRs were missed it gives the time to the next one still ahead.
 */
export function timeToNextTR(ds: HasGet, clockSkew: number, opts: { now?: number; utcOffsetMinutes?: number; tr?: number } = {}): number | undefined {
  const now = opts.now ?? nowSeconds();
  const acq = getDicomAcquisitionTime(ds, { utcOffsetMinutes: opts.utcOffsetMinutes, now: now + clockSkew });
  const tr = opts.tr ?? getDicomRepetitionTime(ds);
  if (acq === undefined || tr === undefined) return undefined;
  const scannerNow = now + clockSkew;
  const elapsed = scannerNow - acq;
  const k = Math.max(1, Math.ceil(elapsed / tr));
  return acq + k * tr - scannerNow;
}
