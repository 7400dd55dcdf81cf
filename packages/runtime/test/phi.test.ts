// Issue 10, "Raw PHI leaves the building": the runtime's PHI policy over the remote methods.
// Remote calls go through serveSession (what `rtfmri serve` runs for every relay or WebRTC session)
// over a local link pair, with the transport's RPC in between: the same path a relay session takes.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as dicom from '@rtfmri/dicom-wasm';
import { syntheticEpiVolume } from '@rtfmri/dicom-wasm/synthetic';
import { createLocalLinkPair, RpcPeer, type Link } from '@rtfmri/transport';
import { DATA_INTERFACE_METHODS, DataInterface, remoteFacade, serveSession, type DataInterfaceOptions } from '../src/index.js';
import { rmrf, sleep, tmpDir } from './util.js';

const SMALL = { tile: 16, slices: 4, seriesHeaderBytes: 2000, volumes: 20 };
const vol = (i: number) => syntheticEpiVolume(i, SMALL);

/** The identifying values the synthetic volume carries (PatientName, PatientID, InstitutionName, StationName, DeviceSerialNumber). */
function phiValues(bytes: Uint8Array): string[] {
  const ds = dicom.parseDicom(bytes);
  return ['PatientName', 'PatientID', 'InstitutionName', 'StationName', 'DeviceSerialNumber'].map((k) => String(ds.get(k)));
}
const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
function expectNoPhi(out: Uint8Array, original: Uint8Array): void {
  const text = latin1(out);
  const values = phiValues(original);
  expect(values.every((v) => v.length >= 5)).toBe(true);
  for (const v of values) {
    expect(latin1(original)).toContain(v);
    expect(text, `"${v}" must not leave the runtime`).not.toContain(v);
  }
  // Still a DICOM file: the experiment can use it.
  expect(Number(dicom.parseDicom(out).get('InstanceNumber'))).toBe(Number(dicom.parseDicom(original).get('InstanceNumber')));
}

interface Remote {
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  close(): void;
}

/** A client session on `di`, through serveSession and the RPC over a local link pair. */
function remoteOf(di: DataInterface): Remote {
  const [server, client] = createLocalLinkPair();
  serveSession(di, server);
  const peer = new RpcPeer(client);
  return {
    call: (method, ...args) => peer.call(method, args) as never,
    close: () => peer.close('test done'),
  };
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; details?: { reason?: string } }> {
  try {
    await p;
  } catch (e) {
    return e as never;
  }
  throw new Error('expected a rejection');
}

describe('PHI policy: what leaves through the remote methods', () => {
  let A: string;
  let di: DataInterface;
  let r: Remote;
  let log: string[];
  const original = vol(0);
  const make = (opts: Partial<DataInterfaceOptions> = {}) => {
    log = [];
    di = new DataInterface({ allowedDirs: [A], allowedFileTypes: ['.dcm', '.txt'], log: (l) => log.push(l), ...opts });
    r = remoteOf(di);
  };
  beforeEach(() => {
    A = tmpDir();
    fs.writeFileSync(path.join(A, 'vol_000.dcm'), original);
    fs.writeFileSync(path.join(A, 'renamed.txt'), original); // a .dcm renamed to .txt
    fs.writeFileSync(path.join(A, 'notes.txt'), 'plain notes, not DICOM, longer than a 132-byte preamble: '.repeat(4));
  });
  afterEach(async () => {
    r?.close();
    await di?.close();
    rmrf(A);
  });

  it('default (anonymize): getFile, getNewestFile, watchFile and streams never return the identifying values', async () => {
    make();
    expect(di.phi).toBe('anonymize');
    expectNoPhi(await r.call<Uint8Array>('getFile', path.join(A, 'vol_000.dcm')), original);
    expectNoPhi(await r.call<Uint8Array>('getNewestFile', path.join(A, '*.dcm')), original);
    await r.call('initWatch', A, '*', 0);
    expectNoPhi(await r.call<Uint8Array>('watchFile', path.join(A, 'vol_000.dcm'), 5), original);
    // the client asks for raw: ignored under 'anonymize' (never less anonymization than the operator set)
    const raw = await r.call<number>('initScannerStream', A, 'vol_{TR:03d}.dcm', 0, false);
    expectNoPhi(await r.call<Uint8Array>('getImageData', raw, 0, 5), original);
    const dflt = await r.call<number>('initScannerStream', A, 'vol_{TR:03d}.dcm', 0);
    expectNoPhi(await r.call<Uint8Array>('getImageData', dflt, 0, 5), original);
    expect(log.some((l) => /anonymize=false/.test(l) && /anonymi[sz]ed/.test(l))).toBe(true);
  });

  it('DICOM is recognised by content: a .dcm renamed to .txt, and a bare data set without preamble', async () => {
    make();
    expectNoPhi(await r.call<Uint8Array>('getFile', path.join(A, 'renamed.txt')), original);
    await r.call('initWatch', A, '*.txt', 0);
    expectNoPhi(await r.call<Uint8Array>('watchFile', 'renamed.txt', 5), original);
    const bare = original.subarray(dicom.parseDicom(original).dataSetOffset);
    fs.writeFileSync(path.join(A, 'bare.txt'), bare);
    expectNoPhi(await r.call<Uint8Array>('getFile', path.join(A, 'bare.txt')), original);
    expectNoPhi(await r.call<Uint8Array>('watchFile', 'bare.txt', 5), original);
    // newest .txt is the bare one
    fs.utimesSync(path.join(A, 'bare.txt'), new Date(), new Date(Date.now() + 5000));
    expectNoPhi(await r.call<Uint8Array>('getNewestFile', path.join(A, '*.txt')), original);
  });

  it('non-DICOM files leave byte-identical, through every route', async () => {
    make();
    const notes = fs.readFileSync(path.join(A, 'notes.txt'));
    const same = (b: Uint8Array) => expect(Buffer.compare(Buffer.from(b), notes)).toBe(0);
    same(await r.call<Uint8Array>('getFile', path.join(A, 'notes.txt')));
    fs.utimesSync(path.join(A, 'notes.txt'), new Date(), new Date(Date.now() + 5000));
    same(await r.call<Uint8Array>('getNewestFile', path.join(A, '*.txt')));
    await r.call('initWatch', A, '*.txt', 0);
    same(await r.call<Uint8Array>('watchFile', 'notes.txt', 5));
    expect(log).toEqual([]);
  });

  it('a DICOM file that cannot be anonymized (still being written, corrupt) is refused, not sent raw', async () => {
    make();
    fs.writeFileSync(path.join(A, 'half.dcm'), original.subarray(0, Math.floor(original.length / 2)));
    const e = await failure(r.call('getFile', path.join(A, 'half.dcm')));
    expect(e.name).toBe('ValidationError');
    expect(e.message).toMatch(/PHI/);
    expect(e.details?.reason).toBe('PHI');
  });

  it("allow-raw: the client's anonymize=false gets the original bytes, and each raw file is logged with method and path", async () => {
    make({ phi: 'allow-raw' });
    const file = path.join(A, 'vol_000.dcm');
    const same = (b: Uint8Array) => expect(Buffer.compare(Buffer.from(b), Buffer.from(original))).toBe(0);
    const id = await r.call<number>('initScannerStream', A, 'vol_{TR:03d}.dcm', 0, false);
    same(await r.call<Uint8Array>('getImageData', id, 0, 5));
    expect(log.filter((l) => l.includes('getImageData') && l.includes(file))).toHaveLength(1);
    // still anonymized when the client asks for it (the default)
    const anon = await r.call<number>('initScannerStream', A, 'vol_{TR:03d}.dcm', 0);
    expectNoPhi(await r.call<Uint8Array>('getImageData', anon, 0, 5), original);
    expect(log.filter((l) => l.includes('getImageData'))).toHaveLength(1);
    // getFile / getNewestFile / watchFile have no flag: raw under allow-raw, logged
    same(await r.call<Uint8Array>('getFile', file));
    same(await r.call<Uint8Array>('getNewestFile', path.join(A, '*.dcm')));
    await r.call('initWatch', A, '*.dcm', 0);
    same(await r.call<Uint8Array>('watchFile', file, 5));
    for (const m of ['getFile', 'getNewestFile', 'watchFile']) expect(log.filter((l) => l.includes(m) && l.includes(file)), m).toHaveLength(1);
    // non-DICOM: not logged
    await r.call('getFile', path.join(A, 'notes.txt'));
    expect(log.filter((l) => l.includes('notes.txt'))).toEqual([]);
  });

  it('the WebSocket route (reused reply buffers) applies the policy too', async () => {
    make();
    // remoteFacade lends reply buffers on ws links; the link is only asked for its state and backlog.
    const ws = { kind: 'ws', state: 'open', bufferedAmount: 0, drain: async () => {} } as unknown as Link;
    const facade = remoteFacade(di, ws);
    expectNoPhi((await facade.getFile!(path.join(A, 'vol_000.dcm'))) as Uint8Array, original);
    const notes = fs.readFileSync(path.join(A, 'notes.txt'));
    expect(Buffer.compare(Buffer.from((await facade.getFile!(path.join(A, 'notes.txt'))) as Uint8Array), notes)).toBe(0);
  });

  it('every remote method is either a PHI route or hands out no file bytes (a new method must pick one)', () => {
    const phiRoutes = ['getFile', 'getNewestFile', 'watchFile', 'initScannerStream', 'getImageData'];
    // series discovery hands out folder and file names only (as listDirs/listFiles do)
    const noFileBytes = ['closeStream', 'initWatch', 'putFile', 'listFiles', 'listDirs', 'getAllowedFileTypes', 'getClockSkew', 'ping', 'initSeriesWatch', 'nextSeries', 'closeSeriesWatch'];
    expect([...DATA_INTERFACE_METHODS].sort()).toEqual([...phiRoutes, ...noFileBytes].sort());
  });

  it('in-process calls (dataRemote: false, the operator\'s own machine) keep the API\'s local behaviour', async () => {
    make();
    expect(Buffer.compare(Buffer.from(await di.getFile(path.join(A, 'vol_000.dcm'))), Buffer.from(original))).toBe(0);
    const id = await di.initScannerStream(A, 'vol_{TR:03d}.dcm', 0, false);
    expect(Buffer.compare(Buffer.from((await di.getImageData(id, 0, 5)).toBytes()), Buffer.from(original))).toBe(0);
    // a raw stream opened in-process is still anonymized when a remote caller reads it
    expectNoPhi(await r.call<Uint8Array>('getImageData', id, 0, 5), original);
    expect(log).toEqual([]);
    await sleep(0);
  });
});
