// What experiment code constructs: `new DataInterface({ dataRemote, ... })`. dataRemote false runs
// the control-room DataInterface in this process; true is a stub whose calls run on a runtime
// through a relay. Either way: the same method names, argument orders and typed errors.
// The SDK never imports @rtfmri/runtime statically: it is an optional peer, loaded on the first
// local call, so remote use and browser bundles never pull it in.
import type { DataInterface as LocalDataInterface } from '@rtfmri/runtime';
import type { Link } from '@rtfmri/transport';
import { StateError, ValidationError } from '@rtfmri/transport';
import { describeValue, type DataCallOptions, type DataInterfaceMethod } from '@rtfmri/relay/protocol';
import { connectWs, type WsClientOptions } from '@rtfmri/transport/node';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { RemoteDataInterface, type SeriesInfo, type SeriesWatchOptions } from './remote.js';
import { makeFileStream, type FileStream, type PutFileSource } from './file-transfer.js';
import { readLocalFile } from './local-files.js';

/** putFile's data in Node: what the remote one takes, or `{ path }`: a local file, read from disk in chunks as it is sent. */
export type PutFileData = PutFileSource | { path: string };

/** `{ path: '/local/file' }` (only that key) as putFile's data: the file's chunks. */
function localSource(data: unknown): unknown {
  if (typeof data === 'object' && data !== null && Object.getPrototypeOf(data) === Object.prototype) {
    const keys = Object.keys(data);
    const p = (data as { path?: unknown }).path;
    if (keys.length === 1 && typeof p === 'string') return readLocalFile(p);
  }
  return data;
}
export type { SeriesInfo, SeriesWatchOptions } from './remote.js';

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
  /**
   * Bytes of a file stream (getFile of a large file, getFileStream) this side lets arrive ahead of
   * its reader, 64 KiB to 1 GiB (default 4 MiB): over a WAN one stream moves at most this per round
   * trip (4 MiB at 50 ms: ~80 MB/s).
   */
  streamWindow?: number;
}

/** The per-call options every method takes as its last argument: `{ timeout?: seconds, signal?: AbortSignal }`. */
export type CallOptions = DataCallOptions;

/**
 * The DataInterface API (DESIGN.md), implemented locally or remotely. Every method keeps DESIGN's
 * positional arguments and takes the per-call options (`{ timeout, signal }`, rt-cloud's
 * `rpc_timeout=`) last; trailing optional arguments may be left out before them.
 */
export interface DataInterfaceApi {
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize?: boolean | null, demoStep?: number | null, options?: CallOptions): Promise<number>;
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, options: CallOptions): Promise<number>;
  getImageData(streamId: number, imageIndex?: number | null, timeout?: number | null, options?: CallOptions): Promise<DicomDataset>;
  getImageData(streamId: number, options: CallOptions): Promise<DicomDataset>;
  closeStream(streamId: number, options?: CallOptions): Promise<void>;
  getFile(filename: string, options?: CallOptions): Promise<Uint8Array>;
  /** A file as a stream of chunks (large files: read from disk as they are consumed). */
  getFileStream(filename: string, options?: CallOptions): Promise<FileStream>;
  getNewestFile(filepattern: string, options?: CallOptions): Promise<Uint8Array>;
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep?: number | null, options?: CallOptions): Promise<void>;
  initWatch(dir: string, filePattern: string, minFileSize: number, options: CallOptions): Promise<void>;
  watchFile(filename: string, timeout?: number | null, options?: CallOptions): Promise<Uint8Array>;
  watchFile(filename: string, options: CallOptions): Promise<Uint8Array>;
  putFile(filename: string, data: PutFileData, compress?: boolean | null, options?: CallOptions): Promise<void>;
  putFile(filename: string, data: PutFileData, options: CallOptions): Promise<void>;
  listFiles(filepattern: string, options?: CallOptions): Promise<string[]>;
  listDirs(dirpattern: string, options?: CallOptions): Promise<string[]>;
  getAllowedFileTypes(options?: CallOptions): Promise<string[]>;
  getClockSkew(callerClockTime: number, roundTripTime: number, options?: CallOptions): Promise<number>;
  ping(options?: CallOptions): Promise<number>;
  /** Series discovery: watch a session folder tree for new series folders (resolves with those already there). */
  initSeriesWatch(sessionDir: string, options?: SeriesWatchOptions & CallOptions): Promise<string[]>;
  /** The next new series folder once its first file is there. */
  nextSeries(timeout?: number | null, options?: CallOptions): Promise<SeriesInfo>;
  nextSeries(options: CallOptions): Promise<SeriesInfo>;
  closeSeriesWatch(options?: CallOptions): Promise<void>;
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

/** Options only a remote DataInterface has: given without `dataRemote: true`, the caller meant one. */
const REMOTE_ONLY = ['url', 'link', 'token', 'name', 'clientId', 'callTimeoutMs', 'ws', 'streamWindow'] as const;

export class DataInterface implements DataInterfaceApi {
  readonly dataRemote: boolean;
  private readonly remote: RemoteDataInterface | undefined;
  private local: Promise<LocalDataInterface> | undefined;
  private readonly localOptions: LocalOptions;

  constructor(opts: DataInterfaceOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw new ValidationError(`new DataInterface(options): options must be an object; got ${describeValue(opts)}`);
    if (opts.dataRemote !== undefined && typeof opts.dataRemote !== 'boolean') {
      throw new ValidationError(`new DataInterface: dataRemote must be true or false; got ${describeValue(opts.dataRemote)}`);
    }
    this.dataRemote = opts.dataRemote === true;
    if (!this.dataRemote) {
      // `url`/`token` without dataRemote: true used to make a local instance silently (which then
      // said "no allowed directories are set"): the caller meant a remote one.
      const given = REMOTE_ONLY.filter((k) => opts[k] !== undefined);
      if (given.length > 0) {
        throw new ValidationError(
          `new DataInterface: ${given.join(', ')} ${given.length > 1 ? 'are options' : 'is an option'} of a remote DataInterface, but dataRemote is ${opts.dataRemote === false ? 'false' : 'not set (default false: files on this computer)'}; ` +
          "add dataRemote: true to reach a runtime through a relay: new DataInterface({ dataRemote: true, url, token, name })",
          { details: { reason: 'REMOTE_OPTIONS', options: given } },
        );
      }
    }
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
        streamWindow: opts.streamWindow,
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

  /** Hands a call to the implementation with its arguments as given (each side applies its defaults and splits off the options). */
  private async fwd(method: DataInterfaceMethod, args: unknown[]): Promise<unknown> {
    const impl = (await this.impl()) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    return impl[method](...args);
  }

  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize?: boolean | null, demoStep?: number | null, options?: CallOptions): Promise<number>;
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, options: CallOptions): Promise<number>;
  initScannerStream(...args: unknown[]): Promise<number> {
    return this.fwd('initScannerStream', args) as Promise<number>;
  }
  getImageData(streamId: number, imageIndex?: number | null, timeout?: number | null, options?: CallOptions): Promise<DicomDataset>;
  getImageData(streamId: number, options: CallOptions): Promise<DicomDataset>;
  getImageData(...args: unknown[]): Promise<DicomDataset> {
    return this.fwd('getImageData', args) as Promise<DicomDataset>;
  }
  closeStream(streamId: number, options?: CallOptions): Promise<void>;
  closeStream(...args: unknown[]): Promise<void> {
    return this.fwd('closeStream', args) as Promise<void>;
  }
  getFile(filename: string, options?: CallOptions): Promise<Uint8Array>;
  getFile(...args: unknown[]): Promise<Uint8Array> {
    return this.fwd('getFile', args) as Promise<Uint8Array>;
  }
  getNewestFile(filepattern: string, options?: CallOptions): Promise<Uint8Array>;
  getNewestFile(...args: unknown[]): Promise<Uint8Array> {
    return this.fwd('getNewestFile', args) as Promise<Uint8Array>;
  }
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep?: number | null, options?: CallOptions): Promise<void>;
  initWatch(dir: string, filePattern: string, minFileSize: number, options: CallOptions): Promise<void>;
  initWatch(...args: unknown[]): Promise<void> {
    return this.fwd('initWatch', args) as Promise<void>;
  }
  watchFile(filename: string, timeout?: number | null, options?: CallOptions): Promise<Uint8Array>;
  watchFile(filename: string, options: CallOptions): Promise<Uint8Array>;
  watchFile(...args: unknown[]): Promise<Uint8Array> {
    return this.fwd('watchFile', args) as Promise<Uint8Array>;
  }
  /**
   * `data`: a string (UTF-8), bytes, a stream of bytes (a Node Readable, any async iterable of
   * Uint8Array, a ReadableStream) or `{ path }` (a file on this machine). More than 1 MiB travels
   * as a flow-controlled stream, written by the runtime as it arrives (temp file + rename).
   */
  putFile(filename: string, data: PutFileData, compress?: boolean | null, options?: CallOptions): Promise<void>;
  putFile(filename: string, data: PutFileData, options: CallOptions): Promise<void>;
  putFile(...args: unknown[]): Promise<void> {
    if (args.length > 1) args[1] = localSource(args[1]);
    return this.fwd('putFile', args) as Promise<void>;
  }

  /**
   * A file as a stream of chunks (FileStream: `for await`, `.size`, `.cancel()`, `.readable()`),
   * read from disk as it is consumed; memory stays at the transfer's window whatever the size.
   * Remote: the runtime's PHI policy applies as for getFile (DICOM is anonymized in memory and
   * arrives as one chunk).
   */
  async getFileStream(filename: string, options?: CallOptions): Promise<FileStream> {
    const impl = await this.impl();
    if (impl instanceof RemoteDataInterface) return options ? impl.getFileStream(filename, options) : impl.getFileStream(filename);
    const local = await impl.getFileStream(filename);
    return makeFileStream(local.size, (async function* () { yield* local; })(), () => local.close());
  }
  listFiles(filepattern: string, options?: CallOptions): Promise<string[]>;
  listFiles(...args: unknown[]): Promise<string[]> {
    return this.fwd('listFiles', args) as Promise<string[]>;
  }
  listDirs(dirpattern: string, options?: CallOptions): Promise<string[]>;
  listDirs(...args: unknown[]): Promise<string[]> {
    return this.fwd('listDirs', args) as Promise<string[]>;
  }
  getAllowedFileTypes(options?: CallOptions): Promise<string[]>;
  getAllowedFileTypes(...args: unknown[]): Promise<string[]> {
    return this.fwd('getAllowedFileTypes', args) as Promise<string[]>;
  }
  getClockSkew(callerClockTime: number, roundTripTime: number, options?: CallOptions): Promise<number>;
  getClockSkew(...args: unknown[]): Promise<number> {
    return this.fwd('getClockSkew', args) as Promise<number>;
  }
  ping(options?: CallOptions): Promise<number>;
  ping(...args: unknown[]): Promise<number> {
    return this.fwd('ping', args) as Promise<number>;
  }
  initSeriesWatch(sessionDir: string, options?: SeriesWatchOptions & CallOptions): Promise<string[]>;
  initSeriesWatch(...args: unknown[]): Promise<string[]> {
    return this.fwd('initSeriesWatch', args) as Promise<string[]>;
  }
  nextSeries(timeout?: number | null, options?: CallOptions): Promise<SeriesInfo>;
  nextSeries(options: CallOptions): Promise<SeriesInfo>;
  nextSeries(...args: unknown[]): Promise<SeriesInfo> {
    return this.fwd('nextSeries', args) as Promise<SeriesInfo>;
  }
  closeSeriesWatch(options?: CallOptions): Promise<void>;
  closeSeriesWatch(...args: unknown[]): Promise<void> {
    return this.fwd('closeSeriesWatch', args) as Promise<void>;
  }
  async close(): Promise<void> {
    if (this.remote) return this.remote.close();
    const local = await this.local!.catch(() => undefined);
    await local?.close();
  }
}
