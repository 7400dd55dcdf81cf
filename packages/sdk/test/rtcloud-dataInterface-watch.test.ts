// rt-cloud's tests/test_dataInterface.py (brainiak/rt-cloud a971eef), the cases rtcloud-dataInterface.test.ts
// does not port: getNewestFile and initWatch with full-path patterns, watchFile, putFile/listFiles/
// listDirs, the getImageData timeouts, the truncated-file stream, the clock skew, the file
// validation tests, and runRpcTimeoutTest (rt-cloud's rpc_timeout= is the per-call { timeout }).
// Each `it` names the rt-cloud function and step it comes from. Local and through a relay
// (rt-cloud's remote data service runs with scannerClockSkew 1.23: so does the runtime here).
// test_input is rt-cloud's sample run (../shared/data/rtcloud-sample, which holds test_input's two
// files) when present, else a synthetic run with the same names.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntimeServer, type RuntimeServer } from '@rtfmri/runtime';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { DataInterface, TimeoutError, ValidationError, calcAvgRoundTripTime, hostRelay, readDicomFromBuffer, type HostedRelay } from '../src/index.js';
import { CLIENT_TOKEN, TOKEN, failure, type Mode } from './harness.js';
import { SAMPLE_DIR, haveSample } from './nifti-oracles.js';
import { rmrf, tmpDir } from './util.js';

const synthInput = tmpDir('rtfmri-rtcloud-input-');
const tmp = tmpDir('rtfmri-rtcloud-tmp-'); // rt-cloud's tmpDir
const testPath = tmpDir('rtfmri-rtcloud-tests-'); // rt-cloud's tests/ folder (other_input lives there)
beforeAll(() => {
  fs.writeFileSync(path.join(synthInput, '001_000013_000005.dcm'), syntheticEpiVolume(5));
  fs.writeFileSync(path.join(synthInput, 'trunc_001_000013_000005.dcm'), syntheticEpiVolume(5).subarray(0, 307200));
});
afterAll(() => [synthInput, tmp, testPath].forEach(rmrf));

const test_inputDirPath = haveSample ? SAMPLE_DIR : synthInput;
const dicomTestFilename = path.join(test_inputDirPath, '001_000013_000005.dcm');
// rt-cloud: allowedFileTypes = ['.bin', 'txt', '.dcm'] (one without its dot on purpose)
const allowedFileTypes = ['.bin', 'txt', '.dcm'];
const expectedReponseFileTypes = ['.bin', '.txt', '.dcm'];

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

interface Env { di: DataInterface; relay?: HostedRelay; runtime?: RuntimeServer; close(): Promise<void> }

async function open(mode: Mode): Promise<Env> {
  const allowedDirs = [tmp, testPath, test_inputDirPath];
  if (mode === 'local') {
    const di = new DataInterface({ dataRemote: false, allowedDirs, allowedFileTypes });
    return { di, close: () => di.close() };
  }
  const relay = await hostRelay({ token: TOKEN });
  const runtime = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs, allowedFileTypes, scannerClockSkew: 1.23 });
  await runtime.service.whenConnected();
  const di = new DataInterface({ dataRemote: true, url: relay.url, token: CLIENT_TOKEN, name: 'scanner1' });
  await di.waitForRuntime(10);
  return { di, relay, runtime, async close() { await di.close(); await runtime.close(); await relay.close(); } };
}

if (!haveSample) console.warn(`rtcloud-dataInterface-watch: rt-cloud's sample run is absent (${SAMPLE_DIR}): test_input is synthetic`);

for (const mode of ['local', 'remote'] as Mode[]) {
  describe(`test_dataInterface.py runDataInterfaceMethodTests (${mode})`, () => {
    let env: Env;
    let data1: Uint8Array;
    beforeAll(async () => {
      env = await open(mode);
      data1 = new Uint8Array(fs.readFileSync(dicomTestFilename));
    }, 60_000);
    afterAll(async () => env.close());

    // Locally the bytes are the file's (rt-cloud: data1 == data2 == data3 == data4). Through a
    // relay the runtime's PHI policy anonymizes every DICOM that leaves: the methods then agree
    // with each other (same bytes: one UID map) and with rt-cloud on everything but the PHI.
    const expectFileBytes = async (got: Uint8Array) => {
      if (mode === 'local') expect(same(got, data1)).toBe(true);
      else {
        expect(same(got, await env.di.getFile(dicomTestFilename))).toBe(true);
        expect(readDicomFromBuffer(got).get('InstanceNumber')).toBe(readDicomFromBuffer(data1).get('InstanceNumber'));
      }
    };

    it("Test getNewestFile: getNewestFile(os.path.splitext(dicomTestFilename)[0] + '*') == data1", async () => {
      const filePattern = dicomTestFilename.slice(0, -path.extname(dicomTestFilename).length) + '*';
      await expectFileBytes(await env.di.getNewestFile(filePattern));
    });

    it("initWatch(other_input, '*.txt', 0) replaced by initWatch(test_input, <full-path pattern>, 0); Test watchFile: watchFile(dicomTestFilename, timeout=5) == data1", async () => {
      const otherDir = path.join(testPath, 'other_input');
      fs.mkdirSync(otherDir, { recursive: true });
      await env.di.initWatch(otherDir, '*.txt', 0);
      // rt-cloud passes the getNewestFile pattern: a full path whose folder is the watched one
      const filePattern = dicomTestFilename.slice(0, -path.extname(dicomTestFilename).length) + '*';
      await env.di.initWatch(test_inputDirPath, filePattern, 0);
      await expectFileBytes(await env.di.watchFile(dicomTestFilename, 5));
    });

    it('Test put text file, put binary file, list files (test1* == 2), list directories (testDir_1* == {11, 12, 13})', async () => {
      const text = 'hello world';
      const textFilename = path.join(tmp, 'test1.txt');
      await env.di.putFile(textFilename, text);
      expect(fs.readFileSync(textFilename, 'utf8')).toBe(text);
      const data = new Uint8Array([0xab, 0xcd, 0xfe, 0xed, 0x01, 0x23, 0x45, 0x67]);
      const binFilename = path.join(tmp, 'test1.bin');
      await env.di.putFile(binFilename, data);
      expect(same(new Uint8Array(fs.readFileSync(binFilename)), data)).toBe(true);
      expect(await env.di.listFiles(path.join(tmp, 'test1*'))).toHaveLength(2);
      const [dir1, dir2, dir3] = ['testDir_11', 'testDir_12', 'testDir_13'].map((n) => path.join(tmp, n));
      for (const d of [dir1, dir2, dir3, path.join(tmp, 'testDir_21')]) fs.mkdirSync(d, { recursive: true });
      expect(new Set(await env.di.listDirs(path.join(tmp, 'testDir_1*')))).toEqual(new Set([dir1, dir2, dir3]));
    });

    it('Test timeouts of getImageData: testTimeouts = [7, 3], round(endTime - startTime) == tmout (the two at once, on two streams)', async () => {
      // rt-cloud waits on one stream, one after the other (10 s); here each its own stream, concurrently.
      const waits = [7, 3].map(async (tmout) => {
        const streamId = await env.di.initScannerStream(tmp, '006_000020_{TR:06d}.dcm', 300 * 1024, true);
        const startTime = performance.now();
        const e = await failure(env.di.getImageData(streamId, 0, tmout));
        const endTime = performance.now();
        expect(e.message).toMatch(/not found or corrupted/);
        return [tmout, Math.round((endTime - startTime) / 1000)];
      });
      for (const [tmout, took] of await Promise.all(waits)) expect(took, `timeout ${tmout}`).toBe(tmout);
    }, 20_000);

    it("Test reading corrupted dicom and retrying: trunc_001_000013_{TR:06d}.dcm, minFileSize 200*1024, getImageData(imageIndex=5, timeout=1) raises", async () => {
      const streamId = await env.di.initScannerStream(test_inputDirPath, 'trunc_001_000013_{TR:06d}.dcm', 200 * 1024, false);
      const e = await failure(env.di.getImageData(streamId, 5, 1));
      // "The truncated file will be retried and eventually time out": and the message says why.
      expect(e.message).toMatch(/not found or corrupted: the file is there \(307200 bytes\) but not a whole DICOM file/);
    });

    it(`check clock skew: getClockSkew(time.time(), calcAvgRoundTripTime(ping)) isclose ${mode === 'remote' ? '1.23' : '0'}, abs_tol=0.05`, async () => {
      const rtt = await calcAvgRoundTripTime(() => env.di.ping());
      const skew = await env.di.getClockSkew(Date.now() / 1000, rtt);
      expect(Math.abs(skew - (mode === 'remote' ? 1.23 : 0))).toBeLessThanOrEqual(0.05);
    });
  });
}

describe('test_dataInterface.py runRemoteFileValidationTests (remote)', () => {
  it('getFile of a non-allowed type and from a non-allowed directory, initWatch of a non-allowed directory raise; getAllowedFileTypes() == expectedReponseFileTypes', async () => {
    const env = await open('remote');
    try {
      fs.writeFileSync(path.join(testPath, 'test_utils.py'), '# rt-cloud tests/test_utils.py');
      const type = await failure(env.di.getFile(path.join(testPath, 'test_utils.py')));
      expect(type).toBeInstanceOf(ValidationError);
      expect(type.message).toMatch(/File type .py not in list/);
      expect(await failure(env.di.getFile('/etc/environment.yml'))).toBeInstanceOf(ValidationError);
      expect(await failure(env.di.initWatch('/etc/certs', '*.dcm', 0))).toBeInstanceOf(ValidationError);
      expect(await env.di.getAllowedFileTypes()).toEqual(expectedReponseFileTypes);
    } finally {
      await env.close();
    }
  });
});

describe('test_dataInterface.py runLocalFileValidationTests (local)', () => {
  it('_checkAllowedDirs, _checkAllowedFileTypes, _filterFileList (the runtime PathPolicy)', async () => {
    const env = await open('local');
    try {
      const { policy } = (await env.di.impl()) as unknown as { policy: import('@rtfmri/runtime').PathPolicy };
      for (const d of [testPath, `${testPath}//t2/`, test_inputDirPath, `${test_inputDirPath}//t2`, tmp, path.join(tmp, 't1')]) expect(() => policy.checkDir(d), d).not.toThrow();
      expect(() => policy.checkDir('/data/')).toThrow(ValidationError);
      for (const f of ['test.dcm', 'test.bin', 'test.txt']) expect(() => policy.checkFileType(f), f).not.toThrow();
      expect(() => policy.checkFileType('test.nope')).toThrow(ValidationError);
      expect(['test.txt', 'test.nope', 'file.bin', 'data.db'].filter((f) => policy.isTypeAllowed(f))).toEqual(['test.txt', 'file.bin']);
    } finally {
      await env.close();
    }
  });
});

describe('test_dataInterface.py test_rpyclocalDataInterface runRpcTimeoutTest (remote)', () => {
  let env: Env;
  const mediumTestFile = path.join(testPath, 'mediumfile.bin');
  beforeAll(async () => {
    // rt-cloud's mediumTestFile fixture: 12 MiB of random bytes
    const fd = fs.openSync(mediumTestFile, 'w');
    for (let i = 0; i < 12; i++) fs.writeSync(fd, new Uint8Array(1024 * 1024).map(() => (Math.random() * 256) | 0));
    fs.closeSync(fd);
    env = await open('remote');
  }, 60_000);
  afterAll(async () => env.close());

  it('with pytest.raises(TimeoutError): runRpcTimeoutTest(mediumTestFile, timeout=0.1) -- here { timeout: 0.001 }', async () => {
    // rt-cloud's 0.1 s rpc_timeout is shorter than its 12 MiB getFile takes; rtfmri moves the
    // 12 MiB through the relay in 20-100 ms on this machine, so a deadline it cannot meet is 1 ms.
    const e = await failure(env.di.getFile(mediumTestFile, { timeout: 0.001 }));
    expect(e).toBeInstanceOf(TimeoutError);
  });

  it('runRpcTimeoutTest(mediumTestFile, timeout=60): getFile and putFile with rpc_timeout 60', async () => {
    const extraArgs = { timeout: 60 };
    const responseData = await env.di.getFile(mediumTestFile, extraArgs);
    expect(same(responseData, new Uint8Array(fs.readFileSync(mediumTestFile)))).toBe(true);
    const outfileName = path.join(tmp, 'mediumfile.bin');
    await env.di.putFile(outfileName, responseData, extraArgs);
    expect(same(new Uint8Array(fs.readFileSync(outfileName)), responseData)).toBe(true);
  });
});
