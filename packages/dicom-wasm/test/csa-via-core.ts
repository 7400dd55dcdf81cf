// The CSA image header filtered by the WebAssembly core (src/core/anonymize.c's csa_filter), seen
// through anonymize: the header goes into a minimal file as (0029,1010) of 'SIEMENS CSA HEADER'
// and comes out filtered, or not at all (removed: it did not parse or nothing was kept).
import { anonymize } from '../src/anonymize/index.js';
import { DEFAULT_PROFILE, type AnonymizationProfile } from '../src/anonymize/profile.js';
import { parseDicom } from '../src/dataset.js';
import { EXPLICIT_VR_LE } from '../src/transfer-syntax.js';
import { writeDicom } from '../src/writer.js';

const profiles = new Map<string, AnonymizationProfile>();

export function csaViaCore(csa: Uint8Array, keep: ReadonlySet<string>): Uint8Array | null {
  const key = [...keep].join('\u0000');
  let profile = profiles.get(key);
  if (!profile) profiles.set(key, (profile = { ...DEFAULT_PROFILE, csaKeep: [...keep] }));
  const file = writeDicom(
    [
      { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.4' },
      { tag: 0x00290010, vr: 'LO', value: 'SIEMENS CSA HEADER' },
      { tag: 0x00291010, vr: 'OB', value: csa },
    ],
    { transferSyntaxUID: EXPLICIT_VR_LE },
  );
  const out = parseDicom(anonymize(file, { profile }));
  const el = out.element(0x00291010);
  if (!el) return null;
  // the writer pads an odd length with one zero byte
  return out.bytes.slice(el.valueOffset, el.valueOffset + el.length);
}
