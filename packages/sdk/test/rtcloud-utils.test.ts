// rt-cloud's tests/test_utils.py ported for the functions the SDK carries (findNewestFile,
// getTimeToNextTR), test names saying which case each comes from; then the pattern helpers rt-cloud
// scripts use (stringPartialFormat, getDicomFileName, Python's str.format) and isRunningRemote.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DataInterface, ValidationError, StateError, calcAvgRoundTripTime, dtime, dtimeToSeconds, findNewestFile, getDicomFileName,
  getTimeToNextTR, isRunningRemote, pyFormat, stringPartialFormat,
} from '../src/index.js';
import { rmrf, tmpDir } from './util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('test_utils.py TestFindNewestFile', () => {
  // rt-cloud: /tmp/testdir/file1_20170101T01010{0..4}, one second apart. Here a fresh folder and
  // 30 ms apart (ctime has sub-millisecond resolution on the file systems Node supports).
  const NUM_TEST_FILES = 5;
  let root: string;
  let testDir: string;
  let base: string;
  beforeAll(async () => {
    root = tmpDir('rtfmri-rtcloud-utils-');
    testDir = path.join(root, 'testdir');
    fs.mkdirSync(testDir);
    base = path.join(testDir, 'file1_20170101T01010');
    for (let i = 0; i < NUM_TEST_FILES; i++) {
      fs.writeFileSync(base + String(i), 'test file');
      await sleep(30);
    }
  });
  afterAll(() => rmrf(root));
  const expectNewest = (filename: string | null) => expect(filename).toBe(base + String(NUM_TEST_FILES - 1));

  it('test_normalCase', () => {
    expectNewest(findNewestFile(testDir, 'file1_20170101*'));
  });
  it('test_emptyPath', () => {
    expectNewest(findNewestFile('', path.join(testDir, 'file1_20170101*')));
  });
  it('test_pathInPattern', () => {
    expectNewest(findNewestFile(testDir, path.join(testDir, 'file1_20170101*')));
  });
  it('test_pathPartiallyInPattern', () => {
    expectNewest(findNewestFile(root, 'testdir/file1_20170101*'));
  });
  it('test_noMatchingFiles', () => {
    expect(findNewestFile(testDir + '/', 'no_such_file')).toBeNull();
  });
  it('(added) the newest is by status-change time, not by name', async () => {
    fs.writeFileSync(base + '0', 'touched again');
    await sleep(5);
    expect(findNewestFile(testDir, 'file1_*')).toBe(base + '0');
  });
});

describe('test_utils.py', () => {
  it('test_timeToTr', () => {
    let lastTrTime = dtime(5, 10, 1, 120000);
    let nowTime = dtime(5, 10, 2, 300000);
    let timeDiff = dtimeToSeconds(nowTime) - dtimeToSeconds(lastTrTime);
    let trRep = 2.0;
    let clockSkew = 0.0;
    const secToNextTr = getTimeToNextTR(lastTrTime, trRep, nowTime, clockSkew);
    expect(secToNextTr).toBeCloseTo(trRep - timeDiff, 9);

    lastTrTime = dtime(5, 10, 1, 120000);
    nowTime = dtime(5, 20, 2, 300000);
    clockSkew = 0.12;
    timeDiff = dtimeToSeconds(nowTime) + clockSkew - dtimeToSeconds(lastTrTime);
    trRep = 2.0;
    timeDiff = timeDiff % trRep;
    const msToNextTr = getTimeToNextTR(lastTrTime, trRep, nowTime, clockSkew);
    expect(msToNextTr).toBeCloseTo(trRep - timeDiff, 9);
  });

  it('(added) getTimeToNextTR raises as rt-cloud: no last TR (StateError), last TR in the future (ValidationError)', () => {
    expect(() => getTimeToNextTR(null, 2, dtime(1), 0)).toThrow(StateError);
    expect(() => getTimeToNextTR(dtime(2), 2, dtime(1), 0)).toThrow(ValidationError);
  });

  it('(added) calcAvgRoundTripTime: the mean of 10 calls, in seconds', async () => {
    let calls = 0;
    const rtt = await calcAvgRoundTripTime(async () => {
      calls++;
      await sleep(2);
    });
    expect(calls).toBe(10);
    expect(rtt).toBeGreaterThan(0.0015);
    expect(rtt).toBeLessThan(0.5);
  });
});

describe('file name patterns (sample.py, getDicomFileName)', () => {
  it("stringPartialFormat fills only the tag's fields", () => {
    expect(stringPartialFormat('001_{SCAN:06d}_{TR:06d}.dcm', 'SCAN', 13)).toBe('001_000013_{TR:06d}.dcm');
    expect(stringPartialFormat('001_000013_{TR:06d}.dcm', 'TR', 5)).toBe('001_000013_000005.dcm');
    expect(stringPartialFormat('{SCAN}_{SCAN:03d}_{TR}', 'SCAN', 7)).toBe('7_007_{TR}');
    expect(stringPartialFormat('no fields', 'TR', 1)).toBe('no fields');
  });

  it('getDicomFileName: by name when the pattern has {TR, else positional with 2- and 3-digit padding', () => {
    const cfg = { dicomDir: '/data/scans/today', dicomNamePattern: '001_{SCAN:06d}_{TR:06d}.dcm' };
    expect(getDicomFileName(cfg, 13, 5)).toBe('/data/scans/today/001_000013_000005.dcm');
    expect(getDicomFileName({ ...cfg, dicomNamePattern: '{TR}.dcm' }, 1, 42)).toBe('/data/scans/today/42.dcm');
    expect(getDicomFileName({ ...cfg, dicomNamePattern: '001_0000{}_000{}.dcm' }, 13, 5)).toBe('/data/scans/today/001_000013_000005.dcm');
    expect(getDicomFileName({ ...cfg, dicomDir: '/d/' }, 1, 2)).toBe('/d/001_000001_000002.dcm');
    expect(() => getDicomFileName(cfg, -1, 5)).toThrow(/ScanNumber not supplied or invalid -1/);
    expect(() => getDicomFileName({ dicomDir: '/d', dicomNamePattern: null }, 1, 5)).toThrow(/Missing config settings dicomNamePattern/);
    expect(() => getDicomFileName({ ...cfg, dicomNamePattern: '{SUBJ}_{TR}.dcm' }, 1, 5)).toThrow(/KeyError: 'SUBJ'/);
  });

  it("pyFormat follows Python's str.format for the specs patterns use", () => {
    expect(pyFormat('{TR:03d}', [], { TR: 7 })).toBe('007');
    expect(pyFormat('{:>6}|{:<4}|{:^7}|', ['ab', 'c', 'mid'])).toBe('    ab|c   |  mid  |');
    expect(pyFormat('{0}{1}{0}', ['a', 'b'])).toBe('aba');
    expect(pyFormat('{{x}} {:+d} {:x} {:#06x} {:,}', [5, 255, 255, 1234567])).toBe('{x} +5 ff 0x00ff 1,234,567');
    expect(pyFormat('{:.2f} {:06.1f} {:e} {:g} {}', [3.14159, -2.5, 12345.678, 0.0001, 1.5])).toBe('3.14 -002.5 1.234568e+04 0.0001 1.5');
    expect(pyFormat('{:03d}', [-7])).toBe('-07');
    expect(pyFormat('{:*^9}', ['x'])).toBe('****x****');
    expect(() => pyFormat('{:d}', ['x'])).toThrow(/Unknown format code 'd'/);
    expect(() => pyFormat('{', [])).toThrow(ValidationError);
    expect(() => pyFormat('{0}', [])).toThrow(/out of range/);
  });
});

describe('isRunningRemote (dataInterface.isRunningRemote(), clientInterface.isDataRemote())', () => {
  it('false for dataRemote: false, true for dataRemote: true (and for objects with their own isRunningRemote)', async () => {
    const local = new DataInterface({ dataRemote: false, allowedDirs: ['/tmp'], allowedFileTypes: ['.dcm'] });
    expect(isRunningRemote(local)).toBe(false);
    await local.close();
    const remote = new DataInterface({ dataRemote: true, url: 'ws://127.0.0.1:9', token: 'unused' });
    expect(isRunningRemote(remote)).toBe(true);
    await remote.close();
    expect(isRunningRemote({ dataRemote: true })).toBe(true);
    expect(isRunningRemote({ isRunningRemote: () => false, dataRemote: true })).toBe(false);
    expect(() => isRunningRemote(undefined as never)).toThrow(ValidationError);
  });
});
