// What experiment code constructs: `new DataInterface({ dataRemote, ... })`. dataRemote false runs
// the control-room DataInterface in this process; true is a stub whose calls run on a runtime
// through a relay. Either way: the same method names, argument orders and typed errors.
// The SDK never imports @rtfmri/runtime statically: it is an optional peer, loaded on the first
// local call, so remote use and browser bundles never pull it in.
import type { DataInterface as LocalDataInterface } from '@rtfmri/runtime';
import type { Link } from '@rtfmri/transport';
import { StateError } from '@rtfmri/transport';
import { connectWs, type WsClientOptions } from '@rtfmri/transport/node';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { RemoteDataInterface } from './remote.js';

export interface DataInterfaceOptions {
  /** false (default): everything in this process. true: calls go to a runtime through a relay. */
  dataRemote?: boolean;
  // local
  allowedDirs?: string[];
  allowedFileTypes?: string[];
  /** Seconds the scanner's clock is ahead of the control-room computer's. */
  scannerClockSkew?: number;
  // remote
  /** ws(s)://host:port of the relay (or of a runtime started with --listen). */
  url?: string;
  /** An already-open link to a relay, e.g. `hostRelay(...).localLink()` (one hop, no socket). */
  link?: Link;
  token?: string;
  /** The runtime to reach (its --name). Default 'scanner1'. */
  name?: string;
  /** Who this experiment is (relay tokens file, logs). Default 'experiment'. */
  clientId?: string;
  /** Deadline of calls that do not wait for data, ms (default 60000). */
  callTimeoutMs?: number;
  /** TLS options for wss:// (e.g. the CA of a self-signed relay certificate). */
  ws?: WsClientOptions;
}

/** The DataInterface API (DESIGN.md), implemented locally or remotely. */
export interface DataInterfaceApi {
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize?: boolean, demoStep?: number): Promise<number>;
  getImageData(streamId: number, imageIndex?: number | null, timeout?: number): Promise<DicomDataset>;
  closeStream(streamId: number): Promise<void>;
  getFile(filename: string): Promise<Uint8Array>;
  getNewestFile(filepattern: string): Promise<Uint8Array>;
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep?: number): Promise<void>;
  watchFile(filename: string, timeout?: number): Promise<Uint8Array>;
  putFile(filename: string, data: string | Uint8Array, compress?: boolean): Promise<void>;
  listFiles(filepattern: string): Promise<string[]>;
  listDirs(dirpattern: string): Promise<string[]>;
  getAllowedFileTypes(): Promise<string[]>;
  getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number>;
  ping(): Promise<number>;
  close(): Promise<void>;
}

type LocalOptions = Pick<DataInterfaceOptions, 'allowedDirs' | 'allowedFileTypes' | 'scannerClockSkew'>;

/** The control-room DataInterface from @rtfmri/runtime, loaded when first needed. */
async function loadLocal(opts: LocalOptions): Promise<LocalDataInterface> {
  let mod: typeof import('@rtfmri/runtime');
  try {
    mod = await import('@rtfmri/runtime');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('@rtfmri/runtime')) {
      throw new StateError(
        "dataRemote: false runs the control-room runtime in this process and needs the package @rtfmri/runtime: 'npm install @rtfmri/runtime' (or use dataRemote: true with a url and token)",
      );
    }
    throw e;
  }
  return new mod.DataInterface(opts);
}

type Impl = LocalDataInterface | RemoteDataInterface;

export class DataInterface implements DataInterfaceApi {
  readonly dataRemote: boolean;
  private readonly remote: RemoteDataInterface | undefined;
  private local: Promise<LocalDataInterface> | undefined;
  private readonly localOptions: LocalOptions;

  constructor(opts: DataInterfaceOptions = {}) {
    this.dataRemote = opts.dataRemote === true;
    this.localOptions = { allowedDirs: opts.allowedDirs, allowedFileTypes: opts.allowedFileTypes, scannerClockSkew: opts.scannerClockSkew };
    if (this.dataRemote) {
      const ws = opts.ws;
      this.remote = new RemoteDataInterface({
        url: opts.url,
        link: opts.link,
        token: opts.token,
        name: opts.name,
        clientId: opts.clientId,
        callTimeoutMs: opts.callTimeoutMs,
        dial: (url) => connectWs(url, ws),
      });
    } else {
      // Started now so option errors (no allowed dirs, bad types) surface on the first call.
      this.local = loadLocal(this.localOptions);
      this.local.catch(() => undefined);
    }
  }

  /** The implementation: the runtime's DataInterface (local) or the remote stub. */
  impl(): Promise<Impl> {
    return this.remote ? Promise.resolve(this.remote) : this.local!;
  }

  /** Remote: wait until the named runtime is connected (no-op locally). */
  async waitForRuntime(timeoutSec = 10): Promise<void> {
    if (this.remote) await this.remote.waitForRuntime(timeoutSec);
  }

  async initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize = true, demoStep = 0): Promise<number> {
    return (await this.impl()).initScannerStream(imgDir, filePattern, minFileSize, anonymize, demoStep);
  }
  async getImageData(streamId: number, imageIndex?: number | null, timeout = 5): Promise<DicomDataset> {
    return (await this.impl()).getImageData(streamId, imageIndex, timeout);
  }
  async closeStream(streamId: number): Promise<void> {
    return (await this.impl()).closeStream(streamId);
  }
  async getFile(filename: string): Promise<Uint8Array> {
    return (await this.impl()).getFile(filename);
  }
  async getNewestFile(filepattern: string): Promise<Uint8Array> {
    return (await this.impl()).getNewestFile(filepattern);
  }
  async initWatch(dir: string, filePattern: string, minFileSize: number, demoStep = 0): Promise<void> {
    return (await this.impl()).initWatch(dir, filePattern, minFileSize, demoStep);
  }
  async watchFile(filename: string, timeout = 5): Promise<Uint8Array> {
    return (await this.impl()).watchFile(filename, timeout);
  }
  async putFile(filename: string, data: string | Uint8Array, compress = false): Promise<void> {
    return (await this.impl()).putFile(filename, data, compress);
  }
  async listFiles(filepattern: string): Promise<string[]> {
    return (await this.impl()).listFiles(filepattern);
  }
  async listDirs(dirpattern: string): Promise<string[]> {
    return (await this.impl()).listDirs(dirpattern);
  }
  async getAllowedFileTypes(): Promise<string[]> {
    return (await this.impl()).getAllowedFileTypes();
  }
  async getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number> {
    return (await this.impl()).getClockSkew(callerClockTime, roundTripTime);
  }
  async ping(): Promise<number> {
    return (await this.impl()).ping();
  }
  async close(): Promise<void> {
    if (this.remote) return this.remote.close();
    const local = await this.local!.catch(() => undefined);
    await local?.close();
  }
}
