// The SDK's Web Worker entry: `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`.
import * as Comlink from 'comlink';
import { WorkerApi, type FrameResult } from './worker-api.js';
import { cornerstoneDecoder } from './decode.js';

const api = new WorkerApi(cornerstoneDecoder);

// Frames carry their picture as a transferable buffer (no copy back to the page).
const expose = {
  init: api.init.bind(api),
  linkStatus: api.linkStatus.bind(api),
  call: api.call.bind(api),
  close: api.close.bind(api),
  async getImageBytes(...a: Parameters<WorkerApi['getImageBytes']>) {
    const b = await api.getImageBytes(...a);
    const copy = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
    return Comlink.transfer(copy, [copy.buffer]);
  },
  async getVolumeFrame(...a: Parameters<WorkerApi['getVolumeFrame']>): Promise<FrameResult> {
    const f = await api.getVolumeFrame(...a);
    return Comlink.transfer(f, [f.rgba.buffer]);
  },
};
export type WorkerExpose = typeof expose;
Comlink.expose(expose);
