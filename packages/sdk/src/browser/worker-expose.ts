// Serves a WorkerApi to the page over comlink from inside a Web Worker.
import * as Comlink from 'comlink';
import { WorkerApi, type FrameResult } from './worker-api.js';
import type { PixelDecoder } from './frame.js';

/**
 * Call once in a worker script. `decoder` loads a decoder for compressed pixel data on first need
 * (e.g. @cornerstonejs/dicom-image-loader's codecs: see examples/browser-experiment/src/worker.ts).
 */
export function exposeWorker(decoder?: () => Promise<PixelDecoder>): void {
  const api = new WorkerApi(decoder);
  Comlink.expose(workerExpose(api));
}

function workerExpose(api: WorkerApi) {
  // Frames carry their picture as a transferable buffer (no copy back to the page).
  return {
    init: api.init.bind(api),
    linkStatus: api.linkStatus.bind(api),
    call: api.call.bind(api),
    cancel: api.cancel.bind(api),
    feedback: api.feedback.bind(api),
    // the page's stream arrives transferred (comlink's message carries it)
    putFileStream: api.putFileStream.bind(api),
    close: api.close.bind(api),
    async getImageBytes(...a: Parameters<WorkerApi['getImageBytes']>) {
      const b = await api.getImageBytes(...a);
      const copy = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
      return Comlink.transfer(copy, [copy.buffer]);
    },
    async getFileStream(...a: Parameters<WorkerApi['getFileStream']>) {
      const s = await api.getFileStream(...a);
      return Comlink.transfer(s, [s.readable as unknown as Transferable]);
    },
    async getVolumeFrame(...a: Parameters<WorkerApi['getVolumeFrame']>): Promise<FrameResult> {
      const f = await api.getVolumeFrame(...a);
      return Comlink.transfer(f, [f.rgba.buffer]);
    },
  };
}
export type WorkerExpose = ReturnType<typeof workerExpose>;
