// @rtfmri/sdk, browser entry. `new DataInterface({ dataRemote: true, url, token, name, transport })`
// has the Node SDK's methods; its link (WebSocket to the relay, or a direct WebRTC data channel
// to the runtime) and the DICOM work run in a Web Worker behind comlink, and only pictures and
// results come back to the page. The RTCPeerConnection stays on the page (Chromium has none in
// workers); its data channel is transferred to the worker, so volume bytes never cross the page.
import * as Comlink from 'comlink';
import { parseDicom, ready as dicomReady, type DicomDataset } from '@rtfmri/dicom-wasm';
import * as E from '@rtfmri/transport';
import { WebRtcOfferer } from '@rtfmri/transport/browser';
import type { LinkStatus, TransportChoice } from './remote-browser.js';
import { WorkerApi, type BrowserApiMethod, type FrameResult, type WorkerInitOptions } from './worker-api.js';
import type { WorkerExpose } from './worker-expose.js';
import type { FrameView } from './frame.js';
import type { FeedbackMethod } from '@rtfmri/relay/protocol';

export type { LinkStatus, TransportChoice } from './remote-browser.js';
export type { FrameResult } from './worker-api.js';
export type { FrameView, VolumeFrame } from './frame.js';
export { createBrowserRemote, type BrowserRemoteOptions } from './remote-browser.js';
export { measureClockSkew, getDicomAcquisitionTime, getDicomRepetitionTime, timeToNextTR, nowSeconds, type ClockSource } from '../timing.js';
export { SubjectInterface, WebDisplayInterface, type FeedbackCarrier, type FeedbackMessage, type SubjectResponse, type DisplayEvent } from '../feedback.js';
export { percentSignalChange, polyFit, detrend, RoiTimeCourse, type TimeCourseOptions, type TimeCoursePoint } from '../signal.js';
export { openDataChannel, type Negotiator } from './webrtc-upgrade.js';
export { exposeWorker } from './worker-expose.js';
export type { PixelDecoder } from './frame.js';
export { WebRtcOfferer, DataChannelLink } from '@rtfmri/transport/browser';
export { DicomDataset, parseDicom, ready as dicomReady } from '@rtfmri/dicom-wasm';
export { ValidationError, NotFoundError, TimeoutError, StateError, DisconnectedError, ProtocolError, AuthError, RtfmriError } from '@rtfmri/transport';

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
};

/** comlink rethrows a plain Error carrying the name: give the caller the typed class back. */
function retype(e: unknown): never {
  if (e instanceof E.RtfmriError || !(e instanceof Error)) throw e;
  const Cls = ERRORS[e.name];
  throw Cls ? Object.assign(new Cls(e.message), { stack: e.stack }) : e;
}

type Api = Pick<WorkerExpose, 'init' | 'linkStatus' | 'call' | 'close' | 'getImageBytes' | 'getVolumeFrame' | 'feedback'>;

export class DataInterface {
  readonly dataRemote = true;
  private readonly api: Comlink.Remote<Api> | Api;
  private readonly worker: Worker | undefined;
  private readonly offerer: WebRtcOfferer | undefined;
  private readonly started: Promise<void>;
  private statusHandlers: Array<(s: LinkStatus) => void> = [];
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
      const local = new WorkerApi();
      this.api = local as unknown as Api;
      local.init(init, this.offerer, report);
      this.started = Promise.resolve();
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

  private async call<T>(method: BrowserApiMethod, args: unknown[]): Promise<T> {
    await this.started;
    return (this.api.call(method, args) as Promise<T>).catch(retype);
  }

  waitForRuntime(timeoutSec = 10): Promise<void> {
    return this.call('waitForRuntime', [timeoutSec]);
  }
  initScannerStream(imgDir: string, filePattern: string, minFileSize: number, anonymize = true, demoStep = 0): Promise<number> {
    return this.call('initScannerStream', [imgDir, filePattern, minFileSize, anonymize, demoStep]);
  }
  async getImageData(streamId: number, imageIndex?: number | null, timeout = 5): Promise<DicomDataset> {
    await this.started;
    const bytes = await this.api.getImageBytes(streamId, imageIndex, timeout).catch(retype);
    await dicomReady();
    return parseDicom(bytes);
  }
  /** Like getImageData, but the worker also cuts the mosaic, windows it to RGBA and takes the ROI mean. */
  async getVolumeFrame(streamId: number, imageIndex?: number | null, timeout = 5, view: FrameView = {}): Promise<FrameResult> {
    await this.started;
    return this.api.getVolumeFrame(streamId, imageIndex, timeout, view).catch(retype);
  }
  closeStream(streamId: number): Promise<void> {
    return this.call('closeStream', [streamId]);
  }
  getFile(filename: string): Promise<Uint8Array> {
    return this.call('getFile', [filename]);
  }
  getNewestFile(filepattern: string): Promise<Uint8Array> {
    return this.call('getNewestFile', [filepattern]);
  }
  initWatch(dir: string, filePattern: string, minFileSize: number, demoStep = 0): Promise<void> {
    return this.call('initWatch', [dir, filePattern, minFileSize, demoStep]);
  }
  watchFile(filename: string, timeout = 5): Promise<Uint8Array> {
    return this.call('watchFile', [filename, timeout]);
  }
  putFile(filename: string, data: string | Uint8Array, compress = false): Promise<void> {
    return this.call('putFile', [filename, data, compress]);
  }
  listFiles(filepattern: string): Promise<string[]> {
    return this.call('listFiles', [filepattern]);
  }
  listDirs(dirpattern: string): Promise<string[]> {
    return this.call('listDirs', [dirpattern]);
  }
  getAllowedFileTypes(): Promise<string[]> {
    return this.call('getAllowedFileTypes', []);
  }
  getClockSkew(callerClockTime: number, roundTripTime: number): Promise<number> {
    return this.call('getClockSkew', [callerClockTime, roundTripTime]);
  }
  ping(): Promise<number> {
    return this.call('ping', []);
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
// rt-cloud's helpers that need no file system (readRetryDicomFromDataInterface, anonymizeDicom,
// parseDicomVolume, getDicomFileName, ...) and NIfTI-1 encode/decode and DICOM -> NIfTI.
export * from '../rtcloud/index.js';
