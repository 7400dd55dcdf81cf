// Test oracle: `anonymize` as it was before the rewrite moved into WebAssembly (src/core/anonymize.c),
// the TypeScript full path over the walk's row table. Same options, same output contract; tests
// compare both byte for byte over the corpora and fuzzed inputs.
import { deflateSync } from 'fflate';
import { compile, tagOfKey } from '../../src/anonymize/compile.js';
import { metaGroup } from '../../src/anonymize/meta.js';
import { DEFAULT_PROFILE } from '../../src/anonymize/profile.js';
import { dateShiftOf, defaultUidMap } from '../../src/anonymize/uid-map.js';
import type { AnonymizeOptions } from '../../src/anonymize/index.js';
import { parseDicom } from '../../src/dataset.js';
import { DicomParseError } from '../../src/errors.js';
import { DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, syntaxOf } from '../../src/transfer-syntax.js';
import { ROW_WORDS } from '../../src/wasm.js';
import type { Ctx, Enc } from './context.js';
import { Out } from './out.js';
import { rewriteRows } from './rewrite.js';
import { uidCacheOf } from './uid-elements.js';

export function referenceAnonymize(bytes: Uint8Array, options: AnonymizeOptions = {}): Uint8Array {
  const ds = parseDicom(bytes);
  try {
    const profile = options.profile ?? DEFAULT_PROFILE;
    const keep = new Set<number>((options.keep ?? []).map(tagOfKey));
    const uids = options.uidMap ?? defaultUidMap(options.uidRoot);
    const compiled = compile(profile);
    const ctx: Ctx = {
      bytes: ds.bytes,
      view: new DataView(ds.bytes.buffer, ds.bytes.byteOffset, ds.bytes.byteLength),
      uidCache: uidCacheOf(uids),
      profile,
      compiled,
      keep,
      uids,
      dateShiftDays: options.dateShiftDays ?? uids.dateShiftDays ?? dateShiftOf(uids.secret),
    };
    const src = ds.bytes;
    const start = ds.dataSetOffset;
    const rows = ds._s.rows;
    const enc: Enc = { explicit: ds.explicitVR, littleEndian: ds.littleEndian };
    const ts = outputSyntax(ds.transferSyntaxUID, ds.explicitVR, ds.littleEndian);
    const o = new Out();
    if (!rewriteRows(ctx, { rows }, 0, rows.length / ROW_WORDS, start, src.length, true, enc, o)) o.range(start, src.length);
    const dataLength = o.size(0);
    const keepKey = keep.size === 0 ? '' : [...keep].sort((a, b) => a - b).join(',');
    const metaBytes = metaGroup(src, rows, ts, { uids, profile, keep, compiled }, keepKey);
    let data: Uint8Array = new Uint8Array(dataLength);
    o.copy(src, data, 0);
    if (ts === DEFLATED_EXPLICIT_VR_LE) data = deflateSync(data, { level: 6 });
    const out = new Uint8Array(132 + metaBytes.length + data.length);
    out.set([0x44, 0x49, 0x43, 0x4d], 128);
    out.set(metaBytes, 132);
    out.set(data, 132 + metaBytes.length);
    parseDicom(out, ts === DEFLATED_EXPLICIT_VR_LE ? { maxInflatedBytes: dataLength + 1024 } : {});
    return out;
  } catch (e) {
    if (e instanceof DicomParseError) throw new DicomParseError('cannot anonymize', 0, e.message);
    throw new DicomParseError('cannot anonymize', 0, String((e as Error)?.message ?? e));
  }
}

function outputSyntax(ts: string, explicit: boolean, littleEndian: boolean): string {
  if (ts.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(ts)) {
    const s = syntaxOf(ts);
    if (s.explicit === explicit && s.bigEndian === !littleEndian) return ts;
    if (ts !== IMPLICIT_VR_LE && ts !== EXPLICIT_VR_LE && ts !== EXPLICIT_VR_BE && ts !== DEFLATED_EXPLICIT_VR_LE) return ts;
  }
  return !explicit ? IMPLICIT_VR_LE : littleEndian ? EXPLICIT_VR_LE : EXPLICIT_VR_BE;
}
