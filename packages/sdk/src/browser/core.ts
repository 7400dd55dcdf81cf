// @rtfmri/sdk/browser without the DICOM reader, rt-cloud's helpers and NIfTI (helpers.ts; index.ts
// is both): what a page needs to run an experiment. `new DataInterface({ dataRemote: true, url, token, name, transport })`
// has the Node SDK's methods; its link (WebSocket to the relay, or a direct WebRTC data channel
// to the runtime) and the DICOM work run in a Web Worker behind comlink, and only pictures and
// results come back to the page. The RTCPeerConnection stays on the page (Chromium has none in
// workers); its data channel is transferred to the worker, so volume bytes never cross the page.
//
// Bundle size: the page thread holds no DICOM code. dicom-wasm (walker, dictionaries) loads in the
// worker, on its first volume; on the page only getImageData (which returns a parsed dataset) and
// `worker: false` load it, by dynamic import (a separate chunk, fetched on first use).
import * as Comlink from 'comlink';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import * as E from '@rtfmri/transport';
import { WebRtcOfferer } from '@rtfmri/transport/browser';
import type { LinkStatus, TransportChoice } from './remote-browser.js';
import type { BrowserApiMethod, FrameResult, WorkerApi, WorkerCallOptions, WorkerInitOptions } from './worker-api.js';
import { checkArgs, splitCallOptions, type DataCallOptions, type DataInterfaceMethod } from '@rtfmri/relay/protocol';
import type { SeriesInfo, SeriesWatchOptions } from '../remote.js';
import type { WorkerExpose } from './worker-expose.js';
import type { FrameView } from './frame.js';
import { makeFileStream, type FileStream } from '../file-transfer.js';
import type { FeedbackMethod } from '@rtfmri/relay/protocol';

export type { LinkStatus, TransportChoice } from './remote-browser.js';
export type { FrameResult } from './worker-api.js';
export type { FrameView, VolumeFrame } from './frame.js';
export type { FileStream } from '../file-transfer.js';
export { createBrowserRemote, type BrowserRemoteOptions } from './remote-browser.js';
export { measureClockSkew, getDicomAcquisitionTime, getDicomRepetitionTime, timeToNextTR, nowSeconds, type ClockSource } from '../timing.js';
export { SubjectInterface, WebDisplayInterface, type FeedbackCarrier, type FeedbackMessage, type SubjectResponse, type DisplayEvent } from '../feedback.js';
export { percentSignalChange, polyFit, detrend, RoiTimeCourse, type TimeCourseOptions, type TimeCoursePoint } from '../signal.js';
export { openDataChannel, type Negotiator } from './webrtc-upgrade.js';
export { exposeWorker } from './worker-expose.js';
export type { PixelDecoder } from './frame.js';
export { WebRtcOfferer, DataChannelLink } from '@rtfmri/transport/browser';
export { ValidationError, NotFoundError, TimeoutError, StateError, DisconnectedError, ProtocolError, AuthError, CancelledError, RtfmriError } from '@rtfmri/transport';
export type { SeriesInfo, SeriesWatchOptions } from '../remote.js';
export type { DataCallOptions as CallOptions } from '@rtfmri/relay/protocol';

export interface BrowserDataInterfaceOptions extends WorkerInitOptions {
  dataRemote: true;
  url: string;
  token: string;
  name?: string;
  transport?: TransportChoice;
  /**
   * The SDK worker: a Worker, or its script URL (default: worker.js beside this module).
   * `false` runs the link on the page itself (no worker).
   */
  worker?: Worker | string | URL | false;
  /** Told whenever the link changes (connected over webrtc / relay, or down). */
  onStatus?: (status: LinkStatus) => void;
}

const ERRORS: Record<string, new (m: string) => Error> = {
  ValidationError: E.ValidationError,
  NotFoundError: E.NotFoundError,
  TimeoutError: E.TimeoutError,
  StateError: E.StateError,
  DisconnectedError: E.DisconnectedError,
  ProtocolError: E.ProtocolError,
  AuthError: E.AuthError,
  CancelledError: E.CancelledError,
};

/** The error of a call its AbortSignal cancelled: the signal's reason when it is an Error, else a CancelledError. */
function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error && r.name !== 'AbortError' ? r : new E.CancelledError('cancelled by the caller (AbortSignal)');
}

/** comlink rethrows a plain Error carrying the name: give the caller the typed class back. */
function retype(e: unknown): never {
  if (e instanceof E.RtfmriError || !(e instanceof Error)) throw e;
  const Cls = ERRORS[e.name];
  throw Cls ? Object.assign(new Cls(e.message), { stack: e.stack }) : e;
}

type Api = Pick<WorkerExpose, 'init' | 'linkStatus' | 'call' | 'close' | 'getImageBytes' | 'getVolumeFrame' | 'feedback' | 'cancel' | 'getFileStream' | 'putFileStream'>;

export class DataInterface {
  readonly dataRemote = true;
  // set in the constructor (worker) or once the in-page WorkerApi has loaded (worker: false); used after `started`
  private api!: Comlink.Remote<Api> | Api;
  private readonly worker: Worker | undefined;
  private readonly offerer: WebRtcOfferer | undefined;
  private readonly started: Promise<void>;
  private statusHandlers: Array<(s: LinkStatus) => void> = [];
  private cancelSeq = 0;
  /** The latest link status (see onStatus). */
  status: LinkStatus = { connected: false };

  constructor(opts: BrowserDataInterfaceOptions) {
    if (opts.dataRemote !== true) throw new E.ValidationError('the browser SDK is remote only: pass dataRemote: true');
    const { worker: w, onStatus, dataRemote: _d, ...init } = opts;
    if (onStatus) this.statusHandlers.push(onStatus);
    const report = (s: LinkStatus) => {
      this.status = s;
      for (const h of this.statusHandlers) h(s);
    };
    this.offerer = WebRtcOfferer.available() ? new WebRtcOfferer() : undefined;
    if (w === false) {
      // The link on the page: the worker's code (link, DICOM) loads as a chunk here.
      const offerer = this.offerer;
      this.started = import('./worker-api.js').then(({ WorkerApi: Local }) => {
        const local: WorkerApi = new Local();
        local.init(init, offerer, report);
        this.api = local as unknown as Api;
      });
      return;
    }
    this.worker =
      typeof w === 'object' && w && 'postMessage' in w
        ? w
        : new Worker(w ?? new URL('./worker.js', import.meta.url), { type: 'module', name: 'rtfmri-sdk' });
    const api = Comlink.wrap<Api>(this.worker);
    this.api = api;
    const off = this.offerer;
    const negotiator = off && {
      // The channel must be transferred in the task that created it.
      create: (s: string) => {
        const dc = off.create(s);
        return Comlink.transfer(dc, [dc as unknown as Transferable]);
      },
      offer: (s: string) => off.offer(s),
      answer: (s: string, sdp: string) => off.answer(s, sdp),
      close: (s: string) => off.close(s),
    };
    this.started = api.init(init, negotiator ? Comlink.proxy(negotiator) : undefined, Comlink.proxy(report));
  }

  /** Called with every link change: { connected, link: 'webrtc' | 'relay/ws', reason }. */
  onStatus(handler: (s: LinkStatus) => void): () => void {
    this.statusHandlers.push(handler);
    return () => void (this.statusHandlers = this.statusHandlers.filter((h) => h !== handler));
  }

  async linkStatus(): Promise<LinkStatus> {
    await this.started;
    return this.api.linkStatus();
  }

  private async call<T>(method: BrowserApiMethod, args: unknown[], callOptions?: WorkerCallOptions): Promise<T> {
    await this.started;
    return (this.api.call(method, args, callOptions) as Promise<T>).catch(retype);
  }

  /**
   * A method with DESIGN's positional arguments and the per-call options last: the options are
   * split off and checked here; the timeout goes to the worker, the AbortSignal stays on the page
   * (it cannot be posted) and cancels the worker's call by number.
   */
  private async withOptions<T>(method: DataInterfaceMethod, raw: unknown[], run: (args: unknown[], o: WorkerCallOptions | undefined) => Promise<T>): Promise<T> {
    const { args, options } = splitCallOptions(method, raw);
    checkArgs(method, args);
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal);
    const o: WorkerCallOptions | undefined = options && (options.timeout !== undefined || signal)
      ? { ...(options.timeout !== undefined ? { timeout: options.timeout } : {}), ...(signal ? { cancelId: ++this.cancelSeq } : {}) }
      : undefined;
    const p = run(args, o);
    if (!signal) return p;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        reject(abortError(signal));
        void this.started.then(() => this.api.cancel(o!.cancelId!)).catch(() => undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  waitForRuntime(timeoutSec = 10): Promise<void> {
    return this.call('waitForRuntime', [timeoutSec]);
  }
  // DESIGN's positional arguments, and the per-call options `{ timeout, signal }` last (as the Node SDK).
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize?: boolean | null, demoStep?: number | null, options?: DataCallOptions): Promise<number>;
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, options: DataCallOptions): Promise<number>;
  initScannerStream(...raw: unknown[]): Promise<number> {
    return this.withOptions('initScannerStream', raw, (a, o) => this.call('initScannerStream', [a[0], a[1], a[2], a[3] ?? true, a[4] ?? 0], o));
  }
  getImageData(streamId: number, imageIndex?: number | null, timeout?: number | null, options?: DataCallOptions): Promise<DicomDataset>;
  getImageData(streamId: number, options: DataCallOptions): Promise<DicomDataset>;
  getImageData(...raw: unknown[]): Promise<DicomDataset> {
    return this.withOptions('getImageData', raw, async (a, o) => {
      await this.started;
      const [bytes, dicom] = await Promise.all([
        this.api.getImageBytes(a[0] as number, a[1] as number | null | undefined, a[2] as number | null | undefined, o).catch(retype),
        import('@rtfmri/dicom-wasm/parse'),
      ]);
      await dicom.ready();
      return dicom.parseDicom(bytes);
    });
  }
  /** Like getImageData, but the worker also cuts the mosaic, windows it to RGBA and takes the ROI mean. */
  async getVolumeFrame(streamId: number, imageIndex?: number | null, timeout?: number | null, view: FrameView = {}, options?: DataCallOptions): Promise<FrameResult> {
    return this.withOptions('getImageData', [streamId, imageIndex, timeout, ...(options ? [options] : [])], async (a, o) => {
      await this.started;
      return this.api.getVolumeFrame(a[0] as number, a[1] as number | null | undefined, a[2] as number | null | undefined, view, o).catch(retype);
    });
  }
  closeStream(streamId: number, options?: DataCallOptions): Promise<void> {
    return this.withOptions('closeStream', [streamId, options], (a, o) => this.call('closeStream', a, o));
  }
  getFile(filename: string, options?: DataCallOptions): Promise<Uint8Array> {
    return this.withOptions('getFile', [filename, options], (a, o) => this.call('getFile', a, o));
  }
  /**
   * A file as a stream of chunks (FileStream: `for await`, `.size`, `.cancel()`, `.readable()`), as
   * in the Node SDK: the worker holds the link and hands the chunks over as a transferred
   * ReadableStream; memory stays at the transfer's window whatever the size.
   */
  getFileStream(filename: string, options?: DataCallOptions): Promise<FileStream> {
    return this.withOptions('getFile', [filename, options], async (a, o) => {
      await this.started;
      const { size, readable } = await this.api.getFileStream(a[0] as string, o).catch(retype);
      const reader = readable.getReader();
      const chunks = (async function* () {
        try {
          for (;;) {
            const r = await reader.read();
            if (r.done) return;
            yield r.value;
          }
        } catch (e) {
          retype(e);
        } finally {
          reader.releaseLock();
        }
      })();
      return makeFileStream(size, chunks, () => void readable.cancel().catch(() => undefined));
    });
  }
  getNewestFile(filepattern: string, options?: DataCallOptions): Promise<Uint8Array> {
    return this.withOptions('getNewestFile', [filepattern, options], (a, o) => this.call('getNewestFile', a, o));
  }
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep?: number | null, options?: DataCallOptions): Promise<void>;
  initWatch(dir: string, filePattern: string, minFileSize: number, options: DataCallOptions): Promise<void>;
  initWatch(...raw: unknown[]): Promise<void> {
    return this.withOptions('initWatch', raw, (a, o) => this.call('initWatch', [a[0], a[1], a[2], a[3] ?? 0], o));
  }
  watchFile(filename: string, timeout?: number | null, options?: DataCallOptions): Promise<Uint8Array>;
  watchFile(filename: string, options: DataCallOptions): Promise<Uint8Array>;
  watchFile(...raw: unknown[]): Promise<Uint8Array> {
    return this.withOptions('watchFile', raw, (a, o) => this.call('watchFile', a, o));
  }
  /**
   * Writes a file on the runtime (temp file + rename there). A Blob (a File from an input) or a
   * ReadableStream is streamed: its chunks go to the worker as a transferred stream and on to the
   * runtime as they are read, so a large file is never whole in the page's or the worker's memory.
   */
  putFile(filename: string, data: string | Uint8Array | Blob | ReadableStream<Uint8Array>, compress?: boolean | null, options?: DataCallOptions): Promise<void>;
  putFile(filename: string, data: string | Uint8Array | Blob | ReadableStream<Uint8Array>, options: DataCallOptions): Promise<void>;
  putFile(...raw: unknown[]): Promise<void> {
    if (typeof Blob !== 'undefined' && raw[1] instanceof Blob) raw = [raw[0], raw[1].stream(), ...raw.slice(2)];
    return this.withOptions('putFile', raw, async (a, o) => {
      const data = a[1];
      if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) {
        await this.started;
        const stream = data as ReadableStream<Uint8Array>;
        return this.api.putFileStream(a[0] as string, Comlink.transfer(stream, [stream as unknown as Transferable]), (a[2] ?? false) as boolean, o).catch(retype);
      }
      return this.call('putFile', [a[0], data, a[2] ?? false], o);
    });
  }
  listFiles(filepattern: string, options?: DataCallOptions): Promise<string[]> {
    return this.withOptions('listFiles', [filepattern, options], (a, o) => this.call('listFiles', a, o));
  }
  listDirs(dirpattern: string, options?: DataCallOptions): Promise<string[]> {
    return this.withOptions('listDirs', [dirpattern, options], (a, o) => this.call('listDirs', a, o));
  }
  getAllowedFileTypes(options?: DataCallOptions): Promise<string[]> {
    return this.withOptions('getAllowedFileTypes', [options], (_a, o) => this.call('getAllowedFileTypes', [], o));
  }
  getClockSkew(callerClockTime: number, roundTripTime: number, options?: DataCallOptions): Promise<number> {
    return this.withOptions('getClockSkew', [callerClockTime, roundTripTime, options], (a, o) => this.call('getClockSkew', a, o));
  }
  ping(options?: DataCallOptions): Promise<number> {
    return this.withOptions('ping', [options], (_a, o) => this.call('ping', [], o));
  }
  /** Series discovery (needs a 'read' token: folder names leave). See the Node SDK. */
  initSeriesWatch(sessionDir: string, options?: SeriesWatchOptions & DataCallOptions): Promise<string[]> {
    return this.withOptions('initSeriesWatch', [sessionDir, options], (a, o) => this.call('initSeriesWatch', a, o));
  }
  nextSeries(timeout?: number | null, options?: DataCallOptions): Promise<SeriesInfo>;
  nextSeries(options: DataCallOptions): Promise<SeriesInfo>;
  nextSeries(...raw: unknown[]): Promise<SeriesInfo> {
    return this.withOptions('nextSeries', raw, (a, o) => this.call('nextSeries', a, o));
  }
  closeSeriesWatch(options?: DataCallOptions): Promise<void> {
    return this.withOptions('closeSeriesWatch', [options], (_a, o) => this.call('closeSeriesWatch', [], o));
  }
  /** The result/feedback channel's carrier: use `new SubjectInterface(di)` / `new WebDisplayInterface(di)`. */
  async callFeedback(method: FeedbackMethod, args: unknown[], waitSec?: number): Promise<unknown> {
    await this.started;
    return (this.api.feedback(method, args, waitSec) as Promise<unknown>).catch(retype);
  }
  /** Closes streams and links; the runtime releases everything of this page. */
  async close(): Promise<void> {
    try {
      await this.started;
      await this.api.close();
    } finally {
      this.offerer?.closeAll();
      this.worker?.terminate();
    }
  }
}