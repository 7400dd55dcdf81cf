// The SDK's default Web Worker entry (no decoder for compressed pixel data; see exposeWorker).
// `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`.
import { exposeWorker } from './worker-expose.js';

exposeWorker();
