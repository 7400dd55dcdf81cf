// What the SDK's Web Worker serves to the page (through comlink, inside one browser tab only:
// comlink's generic messages never cross the network). The link to the relay, the WebRTC data
// channel, parsing and the per-volume DICOM work all run here, so the page stays smooth.
// The DICOM work (dicom-wasm and ./frame.js) is imported on the first volume: a worker that only
// carries files or feedback never loads it (a separate chunk when bundled with splitting).
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { ValidationError } from '@rtfmri/transport';
import type { RemoteDataInterface } from '../remote.js';
import { getDicomAcquisitionTime, getDicomRepetitionTime, measureClockSkew } from '../timing.js';
import type { FeedbackMethod } from '@rtfmri/relay/protocol';
import { createBrowserRemote, type BrowserRemoteOptions, type LinkStatus } from './remote-browser.js';
import type { Negotiator } from './webrtc-upgrade.js';
import type { FrameView, PixelDecoder, VolumeFrame } from './frame.js';

/** The API methods the page may call through the worker (nothing else is reachable). */
export const BROWSER_API_METHODS = [
  'initScannerStream', 'closeStream', 'getFile', 'getNewestFile', 'initWatch', 'watchFile', 'putFile',
  'listFiles', 'listDirs', 'getAllowedFileTypes', 'getClockSkew', 'ping', 'waitForRuntime',
  'initSeriesWatch', 'nextSeries', 'closeSeriesWatch',
] as const;
export type BrowserApiMethod = (typeof BROWSER_API_METHODS)[number];

export type WorkerInitOptions = Omit<BrowserRemoteOptions, 'negotiator' | 'onStatus' | 'link'>;

/**
 * The per-call options as they cross from the page to the worker: an AbortSignal cannot be
 * posted, so the page sends a number it may later cancel (WorkerApi.cancel) instead.
 */
export interface WorkerCallOptions {
  /** Seconds (the per-call `timeout`). */
  timeout?: number;
  /** Set when the page's call has a signal: `cancel(cancelId)` aborts the call here. */
  cancelId?: number;
}

export interface FrameResult extends VolumeFrame {
  streamId: number;
  /** The stream index of this volume. */
  index: number;
  instanceNumber: number | undefined;
  /** The link it came over ('webrtc' or 'relay/ws'). */
  link: string | undefined;
  /** Epoch ms (performance.timeOrigin + now) when the bytes were in hand, and when the picture was ready. */
  receivedAt: number;
  readyAt: number;
  bytes: number;
  /** The TR index of this volume in its run (the stream index: volume k of the run is TR k). */
  trIndex: number;
  /** AcquisitionTime (+ date) of the volume, epoch seconds on the scanner's clock; undefined when absent. */
  acquisitionTime: number | undefined;
  /** RepetitionTime in seconds; undefined when absent. */
  repetitionTime: number | undefined;
  /** Scanner clock minus this page's clock, seconds (measureClockSkew, once per runtime instance). */
  clockSkew: number | undefined;
  /** receivedAt minus the acquisition time on this page's clock, ms; undefined without an acquisition time. */
  ageMs: number | undefined;
  /**
   * True when the volume arrived later than view.lateAfterMs (default two TRs, or 4 s) after its
   * acquisition began: e.g. after a reconnect, a volume a newer one has already replaced at the scanner.
   */
  late: boolean;
}

const now = () => performance.timeOrigin + performance.now();

export class WorkerApi {
  private remote: RemoteDataInterface | undefined;
  private status: LinkStatus = { connected: false };
  private next = new Map<number, number>();
  private windows = new Map<number, [number, number]>();
  private skew: { instance: string | undefined; value: Promise<number | undefined> } | undefined;
  /** The calls the page may still cancel (their per-call signal lives here). */
  private cancels = new Map<number, AbortController>();
  /** The DICOM reader and frame code, loading since the first scanner stream opened. */
  private dicomCode: Promise<void> | undefined;

  constructor(private readonly decoder?: () => Promise<PixelDecoder>) {}

  init(opts: WorkerInitOptions, negotiator?: Negotiator, onStatus?: (s: LinkStatus) => void): void {
    if (this.remote) throw new ValidationError('already initialised');
    this.remote = createBrowserRemote({
      ...opts,
      negotiator,
      onStatus: (s) => {
        this.status = s;
        onStatus?.(s);
      },
    });
  }

  linkStatus(): LinkStatus {
    return { ...this.status, connected: !!this.remote?.connected };
  }

  private get di(): RemoteDataInterface {
    if (!this.remote) throw new ValidationError('not initialised');
    return this.remote;
  }

  /** The per-call options for the remote stub: the page's timeout, and a signal the page can abort through cancel(). */
  private optionsOf(o: WorkerCallOptions | undefined): { options: { timeout?: number; signal?: AbortSignal } | undefined; done: () => void } {
    if (!o || (o.timeout === undefined && o.cancelId === undefined)) return { options: undefined, done: () => undefined };
    let signal: AbortSignal | undefined;
    const id = o.cancelId;
    if (id !== undefined) {
      const c = new AbortController();
      this.cancels.set(id, c);
      signal = c.signal;
    }
    return {
      options: { ...(o.timeout !== undefined ? { timeout: o.timeout } : {}), ...(signal ? { signal } : {}) },
      done: () => {
        if (id !== undefined) this.cancels.delete(id);
      },
    };
  }

  /** The page aborted a call's signal: abort it here (the RPC is cancelled, the runtime's wait ends). */
  cancel(cancelId: number): void {
    this.cancels.get(cancelId)?.abort();
    this.cancels.delete(cancelId);
  }

  async call(method: BrowserApiMethod, args: unknown[], callOptions?: WorkerCallOptions): Promise<unknown> {
    if (!(BROWSER_API_METHODS as readonly string[]).includes(method)) throw new ValidationError(`unknown method '${String(method)}'`);
    const f = (this.di as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
    const { options, done } = this.optionsOf(callOptions);
    let r: unknown;
    try {
      if (!options) r = await f.apply(this.di, args);
      else if (method === 'initSeriesWatch') r = await f.apply(this.di, [args[0], { ...((args[1] as object | undefined) ?? {}), ...options }]);
      else if (method === 'waitForRuntime') r = await f.apply(this.di, args);
      else r = await f.apply(this.di, [...args, options]);
    } finally {
      done();
    }
    if (method === 'initScannerStream') {
      this.next.set(r as number, 0);
      this.loadDicomCode();
    }
    if (method === 'closeStream') this.next.delete(args[0] as number);
    return r;
  }

  /**
   * getFileStream in the worker: the file's size and its chunks as a ReadableStream (transferable:
   * the page reads it without the bytes being copied through comlink's messages one by one).
   */
  async getFileStream(filename: string, callOptions?: WorkerCallOptions): Promise<{ size: number; readable: ReadableStream<Uint8Array> }> {
    const { options, done } = this.optionsOf(callOptions);
    try {
      const s = await (options ? this.di.getFileStream(filename, options) : this.di.getFileStream(filename));
      return { size: s.size, readable: s.readable() };
    } finally {
      done();
    }
  }

  /** putFile of a stream (the page's Blob or ReadableStream, transferred): written as it is read. */
  async putFileStream(filename: string, readable: ReadableStream<Uint8Array>, compress: boolean, callOptions?: WorkerCallOptions): Promise<void> {
    const { options, done } = this.optionsOf(callOptions);
    try {
      await (options ? this.di.putFile(filename, readable, compress, options) : this.di.putFile(filename, readable, compress));
    } finally {
      done();
    }
  }

  /**
   * Fetches and instantiates the DICOM reader (dicom-wasm's chunk, its WebAssembly module) and the
   * frame code while the stream waits for its first volume, so that volume does not wait for them.
   * Failures are left to the call that needs the code.
   */
  private loadDicomCode(): void {
    this.dicomCode ??= Promise.all([import('@rtfmri/dicom-wasm/parse').then((m) => m.ready()), import('./frame.js')]).then(
      () => undefined,
      () => undefined,
    );
  }

  /** A call of the result/feedback channel (only FEEDBACK_METHODS; remote.ts checks). */
  async feedback(method: FeedbackMethod, args: unknown[], waitSec?: number): Promise<unknown> {
    return this.di.callFeedback(method, args, waitSec);
  }

  /** Acquisition time, TR index and lateness of a volume (the skew is measured once per runtime instance). */
  private async frameTiming(ds: DicomDataset, index: number, receivedAt: number, view: FrameView) {
    const di = this.di;
    if (!this.skew || this.skew.instance !== di.runtimeInstance) {
      this.skew = { instance: di.runtimeInstance, value: measureClockSkew(di, 3).then((s) => s.clockSkew, () => undefined) };
    }
    const clockSkew = await this.skew.value;
    const repetitionTime = getDicomRepetitionTime(ds);
    const acquisitionTime = getDicomAcquisitionTime(ds, { now: receivedAt / 1000 + (clockSkew ?? 0) });
    const ageMs = acquisitionTime === undefined || clockSkew === undefined ? undefined : receivedAt - (acquisitionTime - clockSkew) * 1000;
    const lateAfterMs = view.lateAfterMs ?? (repetitionTime ? 2000 * repetitionTime : 4000);
    return { trIndex: index, acquisitionTime, repetitionTime, clockSkew, ageMs, late: ageMs !== undefined && ageMs > lateAfterMs };
  }

  private async fetch(streamId: number, imageIndex?: number | null, timeout?: number | null, callOptions?: WorkerCallOptions): Promise<{ ds: DicomDataset; index: number }> {
    const index = imageIndex ?? this.next.get(streamId) ?? 0;
    const { options, done } = this.optionsOf(callOptions);
    let ds: DicomDataset;
    try {
      ds = options ? await this.di.getImageData(streamId, index, timeout, options) : await this.di.getImageData(streamId, index, timeout);
    } finally {
      done();
    }
    this.next.set(streamId, index + 1);
    return { ds, index };
  }

  /** getImageData's bytes (the page parses them again, cheaply: the parse is lazy). */
  async getImageBytes(streamId: number, imageIndex?: number | null, timeout?: number | null, callOptions?: WorkerCallOptions): Promise<Uint8Array> {
    const { ds } = await this.fetch(streamId, imageIndex, timeout, callOptions);
    return ds.bytes;
  }

  /** The next (or given) volume of a stream, ready to draw, with its ROI mean. */
  async getVolumeFrame(streamId: number, imageIndex?: number | null, timeout?: number | null, view: FrameView = {}, callOptions?: WorkerCallOptions): Promise<FrameResult> {
    const { ds, index } = await this.fetch(streamId, imageIndex, timeout, callOptions);
    const receivedAt = now();
    const [timing, { autoWindow, renderFrame, roiMean, toVolume }] = await Promise.all([this.frameTiming(ds, index, receivedAt, view), import('./frame.js')]);
    const needsDecoder = Array.isArray(ds.pixelData());
    const { vol, decoded } = await toVolume(ds, needsDecoder && this.decoder ? await this.decoder() : undefined);
    let window = view.window ?? this.windows.get(streamId);
    if (!window) {
      window = autoWindow(vol.image.data);
      this.windows.set(streamId, window);
    }
    const pic = renderFrame(vol, view, window);
    return {
      ...pic,
      roi: roiMean(vol, view.roi),
      slices: vol.slices,
      window,
      transferSyntaxUID: ds.transferSyntaxUID,
      decoded,
      streamId,
      index,
      instanceNumber: ds.getNumber('InstanceNumber'),
      link: this.status.link,
      receivedAt,
      readyAt: now(),
      bytes: ds.bytes.byteLength,
      ...timing,
    };
  }

  async close(): Promise<void> {
    await this.remote?.close();
  }
}
