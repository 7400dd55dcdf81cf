// PHI check with an independent reader: every available test file (pydicom's and nibabel's test
// files that parse, the rt-cloud sample, generated files) is anonymized with the default profile,
// and pydicom reads both copies: no attribute whose Table E.1-1 action (as resolved under the
// default options) is other than K keeps its original non-empty value anywhere in the output, and
// no private element is left but the safe ones and their creators. Prints the counts per action.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { anonymize } from '../src/anonymize/index.js';
import { compile } from '../src/anonymize/compile.js';
import { DEFAULT_PROFILE } from '../src/anonymize/profile.js';
import { createUidMap } from '../src/anonymize/uid-map.js';
import { parseDicom } from '../src/dataset.js';
import { syntheticEpiVolume } from '../src/synthetic.js';
import { DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE } from '../src/transfer-syntax.js';
import { writeDicom } from '../src/writer.js';
import { PY, havePydicom } from './oracles.js';
import { findingsElements } from './phi-fixtures.js';

const SAMPLE = fileURLToPath(new URL('../../../../shared/data/rtcloud-sample/', import.meta.url));
const PYDICOM_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files/';
const NIBABEL_FILES = '/usr/lib/python3/dist-packages/nibabel/nicom/tests/data/';
if (!havePydicom) console.warn('phi.test: python3-pydicom missing (apt-get install python3-pydicom): skipping the PHI check');

/** Every available file that parses, by name. */
function corpus(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const ts of [EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE]) out.push([`findings ${ts}`, writeDicom(findingsElements(12), { transferSyntaxUID: ts })]);
  out.push(['synthetic mosaic', syntheticEpiVolume(3, { tile: 32, slices: 16, seriesHeaderBytes: 4000 })]);
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
  add(SAMPLE, 'rtcloud', /^001_.*\.dcm$/);
  return out.filter(([, b]) => {
    try {
      parseDicom(b);
      return true;
    } catch {
      return false; // truncated and malformed samples: refused, nothing leaves
    }
  });
}

const CHECK = String.raw`
import sys, json, warnings
warnings.simplefilter('ignore')
import pydicom
from pydicom.multival import MultiValue
rules = json.load(open(sys.argv[1]))
pairs = json.load(open(sys.argv[2]))
exact = {int(k, 16): v for k, v in rules['exact'].items()}
safe = set((g, c, e) for g, c, e in rules['safe'])
safe_creators = set(c for g, c, e in rules['safe'])
def action(tag):
    a = exact.get(tag)
    if a is None:
        for m, v, act in rules['masked']:
            if tag & m == v:
                return act
    return a
def norm(el):
    v = el.value
    if el.VR == 'SQ':
        return ('SQ', len(v)) if len(v) else None
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).rstrip(b'\0 ')
        return v or None
    s = '\\'.join(str(x) for x in v) if isinstance(v, MultiValue) else str(v)
    s = s.strip().rstrip('\0').strip()
    return s or None
def elements(ds):
    out = list(ds.iterall())
    fm = getattr(ds, 'file_meta', None)
    if fm is not None:
        out += list(fm.iterall())
    return out
before, present, survived, unread = {}, {}, {}, []
violations, private_left, files = [], [], 0
for orig, anon, name in pairs:
    try:
        o = pydicom.dcmread(orig, force=True)
        oe = elements(o)
    except Exception as e:
        unread.append(name)
        continue
    a = pydicom.dcmread(anon)
    ae = elements(a)
    files += 1
    values = set()
    tags = set()
    for el in ae:
        tags.add(int(el.tag))
        if el.VR == 'SQ':
            if len(el.value):
                values.add((int(el.tag), 'SQ'))
        else:
            values.add((int(el.tag), norm(el)))
        if el.tag.is_private and not el.tag.is_private_creator:
            creator = getattr(el, 'private_creator', None)
            if (el.tag.group, creator, el.tag.element & 0xff) not in safe:
                private_left.append([name, str(el.tag), creator])
        elif el.tag.is_private_creator and str(el.value).strip() not in safe_creators:
            private_left.append([name, str(el.tag), str(el.value)])
    for el in oe:
        tag = int(el.tag)
        if el.tag.is_private:
            continue
        act = action(tag)
        if act is None or act == 'K':
            continue
        v = norm(el)
        if v is None:
            continue
        before[act] = before.get(act, 0) + 1
        if tag in tags:
            present[act] = present.get(act, 0) + 1
        bad = (tag, 'SQ') in values if el.VR == 'SQ' else (tag, v) in values
        if bad:
            survived[act] = survived.get(act, 0) + 1
            if len(violations) < 20:
                violations.append([name, str(el.tag), el.keyword, act, str(v)[:40]])
print(json.dumps({'files': files, 'unread': unread, 'before': before, 'present': present, 'survived': survived,
                  'violations': violations, 'privateLeft': private_left[:20], 'privateLeftCount': len(private_left)}))
`;

describe.skipIf(!havePydicom)('PHI: no Basic Profile attribute keeps its value, checked by pydicom (skipped without python3-pydicom)', () => {
  it('over every available test file', () => {
    const files = corpus();
    const c = compile(DEFAULT_PROFILE);
    const rules = {
      exact: Object.fromEntries([...c.rules].map(([tag, r]) => [tag.toString(16).padStart(8, '0'), r.action])),
      masked: c.masked.map((m) => [m.mask, m.value, m.rule.action]),
      safe: DEFAULT_PROFILE.safePrivate.map((s) => [s.group, s.creator, s.element]),
    };
    const dir = mkdtempSync(join(tmpdir(), 'rtfmri-phi-'));
    try {
      const uidMap = createUidMap({ secret: 'phi-test' });
      const pairs = files.map(([name, bytes], i) => {
        const o = join(dir, `${i}.o.dcm`);
        const a = join(dir, `${i}.a.dcm`);
        writeFileSync(o, bytes);
        writeFileSync(a, anonymize(bytes, { uidMap }));
        return [o, a, name];
      });
      writeFileSync(join(dir, 'rules.json'), JSON.stringify(rules));
      writeFileSync(join(dir, 'pairs.json'), JSON.stringify(pairs));
      const r = spawnSync(PY, ['-c', CHECK, join(dir, 'rules.json'), join(dir, 'pairs.json')], { encoding: 'utf8', maxBuffer: 1 << 26 });
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout);
      console.log(`[dicom-wasm] PHI check over ${res.files} files (pydicom could not read ${JSON.stringify(res.unread)}): ` +
        `original non-empty values per action ${JSON.stringify(res.before)}; attribute still present (emptied, dummy, new UID, shifted) ${JSON.stringify(res.present)}; ` +
        `original value kept ${JSON.stringify(res.survived)}; private elements left outside the safe list: ${res.privateLeftCount}`);
      expect(res.violations).toEqual([]);
      expect(res.privateLeft).toEqual([]);
      expect(res.files).toBeGreaterThan(files.length - 3);
      expect(Object.keys(res.before).sort()).toEqual(['D', 'S', 'U', 'X', 'Z']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

