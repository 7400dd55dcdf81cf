// The scanner of the benchmarks: a writer thread that stamps the moment each file becomes whole
// (just before its single write(), so the write itself counts in the latency).
import { Worker } from 'node:worker_threads';
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const bytes = new Uint8Array(workerData.bytes);
parentPort.on('message', (m) => {
  const fd = fs.openSync(m.file, 'w');
  const t = performance.timeOrigin + performance.now();
  fs.writeSync(fd, bytes, 0, bytes.length, 0);
  fs.closeSync(fd);
  parentPort.postMessage({ id: m.id, t });
});`;

export function startWriter(bytes: Uint8Array) {
  const shared = new SharedArrayBuffer(bytes.length);
  new Uint8Array(shared).set(bytes);
  const w = new Worker(WRITER, { eval: true, workerData: { bytes: shared } });
  let next = 0;
  const waiting = new Map<number, (t: number) => void>();
  w.on('message', (m: { id: number; t: number }) => {
    waiting.get(m.id)?.(m.t);
    waiting.delete(m.id);
  });
  return {
    /** Resolves with the stamp (the file is whole from then on). */
    write(file: string): Promise<number> {
      const id = next++;
      return new Promise((r) => {
        waiting.set(id, r);
        w.postMessage({ id, file });
      });
    },
    stop: () => w.terminate(),
  };
}
