// What experiment code constructs: `new DataInterface({ dataRemote, ... })`. dataRemote false runs
// the control-room DataInterface in this process; true is a stub whose calls run on a runtime
// through a relay. Either way: the same method names, argument orders and typed errors.
import { DataInterface as LocalDataInterface } from '@rtfmri/runtime';
import type { Link } from '@rtfmri/transport';
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

export class DataInterface implements DataInterfaceApi {
  readonly dataRemote: boolean;
  /** The implementation (a runtime DataInterface, or the remote stub). */
  readonly impl: LocalDataInterface | RemoteDataInterface;

  constructor(opts: DataInterfaceOptions = {}) {
    this.dataRemote = opts.dataRemote === true;
    if (this.dataRemote) {
      const ws = opts.ws;
      this.impl = new RemoteDataInterface({
        url: opts.url,
        link: opts.link,
        token: opts.token,
        name: opts.name,
        clientId: opts.clientId,
        callTimeoutMs: opts.callTimeoutMs,
        dial: (url) => connectWs(url, ws),
      });
    } else {
      this.impl = new LocalDataInterface({
        allowedDirs: opts.allowedDirs,
        allowedFileTypes: opts.allowedFileTypes,
        scannerClockSkew: opts.scannerClockSkew,
      });
    }
  }

  /** Remote: wait until the named runtime is connected (no-op locally). */
  async waitForRuntime(timeoutSec = 10): Promise<void> {
    if (this.impl instanceof RemoteDataInterface) await this.impl.waitForRuntime(timeoutSec);
  }

  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize = true, demoStep = 0): Promise<number> {
    return this.impl.initScannerStream(imgDir, filePattern, minFileSize, anonymize, demoStep);
  }
  getImageData(streamId: number, imageIndex?: number | null, timeout = 5): Promise<DicomDataset> {
    return this.impl.getImageData(streamId, imageIndex, timeout);
  }
  closeStream(streamId: number): Promise<void> {
    return this.impl.closeStream(streamId);
  }
  getFile(filename: string): Promise<Uint8Array> {
    return this.impl.getFile(filename);
  }
  getNewestFile(filepattern: string): Promise<Uint8Array> {
    return this.impl.getNewestFile(filepattern);
  }
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep = 0): Promise<void> {
    return this.impl.initWatch(dir, filePattern, minFileSize, demoStep);
  }
  watchFile(filename: string, timeout = 5): Promise<Uint8Array> {
    return this.impl.watchFile(filename, timeout);
  }
  putFile(filename: string, data: string | Uint8Array, compress = false): Promise<void> {
    return this.impl.putFile(filename, data, compress);
  }
  listFiles(filepattern: string): Promise<string[]> {
    return this.impl.listFiles(filepattern);
  }
  listDirs(dirpattern: string): Promise<string[]> {
    return this.impl.listDirs(dirpattern);
  }
  getAllowedFileTypes(): Promise<string[]> {
    return this.impl.getAllowedFileTypes();
  }
  getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number> {
    return this.impl.getClockSkew(callerClockTime, roundTripTime);
  }
  ping(): Promise<number> {
    return this.impl.ping();
  }
  close(): Promise<void> {
    return this.impl.close();
  }
}
